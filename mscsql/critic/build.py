"""The model-based selector a pipeline config names, built once for a pipeline or a benchmark run."""

from __future__ import annotations

from typing import Any

from mscsql.config import SelectionConfig
from mscsql.errors import ConfigError


def build_critic(selection: SelectionConfig) -> Any:
    """The ``encoder`` critic (from its checkpoint, or fresh) or the LLM ``critic`` (one model, or an ensemble
    of several); their models load now."""
    if selection.selector == "encoder":
        from mscsql.critic.encoder import EncoderCritic

        return EncoderCritic.load(selection.encoder) if selection.encoder else EncoderCritic.from_pretrained()
    from mscsql.critic.llm import EnsembleCritic, LLMCritic
    from mscsql.critic.metadata import MetadataOptions
    from mscsql.generation.registry import build_generator

    settings = selection.critic
    if settings is None:
        raise ConfigError("this pipeline has no critic configured",
                          hint="add selection: {selector: critic, critic: {models: [...]}}")
    metadata = MetadataOptions(max_rows=settings.max_rows, max_columns=settings.max_columns,
                               max_cell_chars=settings.max_cell_chars)
    critics = [LLMCritic(build_generator(m), orderings=settings.orderings, max_options=settings.max_options,
                         metadata=metadata, seed=settings.seed, name=m.name) for m in settings.models]
    return critics[0] if len(critics) == 1 else EnsembleCritic(critics)
