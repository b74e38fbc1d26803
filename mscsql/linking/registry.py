"""Schema linkers by name ("module:Class" strings, imported only when used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mscsql.config import LinkingConfig
from mscsql.errors import ConfigError
from mscsql.linking.base import SchemaLinker
from mscsql.registry import load_entry

LINKERS = {
    "keep-all": "mscsql.linking.base:KeepAllLinker",
    "embedding": "mscsql.linking.embedding:EmbeddingLinker",
    "llm-tables": "mscsql.linking.llm_tables:LLMTableLinker",
}


def _load(name: str) -> Any:
    return load_entry(LINKERS, name, "schema linker")


def build_linker(names: Sequence[str], *, generator: Any = None, samples: int = 3,
                 temperature: float = 0.7, embedding: dict[str, Any] | None = None, max_tokens: int = 128,
                 schema_budget_tokens: int | None = None, top_p: float = 0.95) -> SchemaLinker:
    """One linker, or the union of several. ``llm-tables`` needs a ``generator``
    (see :mod:`mscsql.generation`); ``embedding`` holds settings of the embedding linker
    (:class:`~mscsql.linking.embedding.EmbeddingLinkerSettings`)."""
    if not names:
        raise ConfigError("no schema linker named", hint=f"choose from: {', '.join(LINKERS)}")
    linkers: list[SchemaLinker] = []
    for name in dict.fromkeys(names):
        cls = _load(name)
        if name == "llm-tables":
            if generator is None:
                raise ConfigError("the llm-tables linker needs a generator model",
                                  hint="pass --generator-model PATH_OR_HUB_ID (a causal LM with a chat template)")
            linkers.append(cls(generator, samples=samples, temperature=temperature, top_p=top_p,
                               max_tokens=max_tokens, schema_budget_tokens=schema_budget_tokens))
        elif name == "embedding":
            from mscsql.config import parse_config
            from mscsql.linking.embedding import EmbeddingLinkerSettings

            linkers.append(cls(parse_config(EmbeddingLinkerSettings, embedding or {}, "embedding linker settings")))
        else:
            linkers.append(cls())
    if len(linkers) == 1:
        return linkers[0]
    from mscsql.linking.union import UnionLinker

    return UnionLinker(linkers)


def linker_from_config(linking: LinkingConfig) -> SchemaLinker:
    """The linker a pipeline or generation config's ``linking:`` section names (the llm-tables linker's model
    loads now)."""
    embedding = {k: v for k, v in (("table_miss", linking.table_miss), ("column_miss", linking.column_miss))
                 if v is not None}
    generator = None
    settings = linking.llm_tables
    if "llm-tables" in linking.linkers and settings is not None:
        from mscsql.generation.registry import build_generator

        generator = build_generator(settings.model)
    return build_linker(linking.linkers, generator=generator, samples=settings.samples if settings else 3,
                        temperature=settings.temperature if settings else 0.7,
                        top_p=settings.top_p if settings else 0.95,
                        max_tokens=settings.max_tokens if settings else 128, embedding=embedding,
                        schema_budget_tokens=linking.schema_budget_tokens)
