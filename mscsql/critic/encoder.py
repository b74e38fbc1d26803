"""A listwise cross-encoder critic on a pretrained sentence encoder (by default the offline all-MiniLM-L6-v2).

Each candidate group of a question becomes one text pair: the question with its evidence, and a compact
description of the group (how many samples proposed it, the status of its execution, the representative SQL,
the columns, the true row count with the truncation flag, and the first few rows, cut). The encoder reads the
pair jointly (a cross-encoder: ``tokenizer(text_a, text_b)``), its token states are mean-pooled, and a small
head (one linear layer over the pooled state and, optionally, the log of the group's share of the samples)
gives one logit per group; the head can also read the group's share of the samples, whether it holds the
first generator's answer, the shape of its result and the answer checks of :mod:`mscsql.critic.checks` (the
query came back empty or with only zeros, orders against the superlative asked for, leaves out or adds
values) and its graded agreement with the other groups of :mod:`mscsql.critic.agreement`. A softmax over the
logits of the question's groups gives the probabilities
(listwise), so the critic is trained with a listwise cross-entropy on the logits of :meth:`forward_logits`.

A fresh head starts from the agreement: the weight of the log-share feature is 1 and the others are small
(seeded), so an untrained critic gives each group about its share of the samples, like a majority vote.

The schema is not shown to the encoder (a small encoder reads 512 tokens at most). Everything in a
description that comes from a model or from the database is quoted as :mod:`mscsql.critic.metadata` quotes it
(one-line JSON strings, backticks and special-token shapes escaped), and the tokenizer is told to read any
special token written in the text (``[SEP]``, ``[CLS]``, ``</s>``) as plain characters, so data can neither
end a segment nor pass for a control token.

The same skip rules as the LLM critic apply (:func:`mscsql.critic.base.judgement_without_model`): no model is run when
at most one group ran successfully. Groups whose queries failed are not scored unless ``include_failed``.

A checkpoint folder holds ``critic.json`` (format name and version, the head's shape, the settings), the
head's weights in ``head.safetensors`` and the encoder with its tokenizer in ``encoder/`` (``save_pretrained``,
safetensors; a head that reads no text keeps only the name of its pretrained encoder); nothing is pickled.
torch and transformers are imported only when a critic is built.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mscsql.config import DEFAULT_ENCODER
from mscsql.critic.base import (
    Critic,
    CriticJudgement,
    CriticRound,
    judgement_without_model,
    most_probable_group,
    normalise,
    shown_groups,
)
from mscsql.critic.encoder_loading import (
    CONFIG_FILE,
    hidden_size_of,
    load_encoder,
    load_pretrained,
    require_backend,
    resolve_device,
)
from mscsql.critic.encoder_pairs import FEATURE_BLOCKS, GroupPair, compact_metadata, group_pairs
from mscsql.critic.grouping import ResultGroup
from mscsql.critic.metadata import MetadataOptions
from mscsql.errors import ConfigError
from mscsql.generation.hub import one_line

if TYPE_CHECKING:
    import torch

    from mscsql.config import SelectionConfig

log = logging.getLogger(__name__)

#: what ``critic.json`` names as its format, and the version this code reads and writes
CHECKPOINT_FORMAT = "mscsql-encoder-critic"
CHECKPOINT_VERSION = 1
HEAD_FILE = "head.safetensors"
ENCODER_DIR = "encoder"
#: the smallest share of the samples the log-share feature sees (a group proposed by no source)
MIN_SHARE = 1e-3
#: the initial weight of the log-share feature: softmax(log share) is the share, so a fresh head votes
AGREEMENT_INIT = 1.0
#: the initial weight of the priority flag: enough to break ties, far from outweighing one more vote
PRIORITY_INIT = 0.1
#: the standard deviation of the fresh head's other weights
HEAD_INIT_STD = 0.02


@dataclass(frozen=True)
class EncoderCriticConfig:
    """What the critic shows the encoder and how its head is built (saved with a checkpoint)."""

    #: the most tokens of one pair (question and group together); also capped by the encoder's own limit
    max_length: int = 320
    #: give the head the encoder's pooled state of each pair; without it the head reads only the features
    #: below and the encoder is not run (a small ranker over the groups' metadata)
    text_feature: bool = True
    #: give the head the log of the group's share of the samples as an extra input
    agreement_feature: bool = True
    #: give the head a flag: the group holds the answer of the first generator (sources in priority order)
    priority_feature: bool = False
    #: give the head the shape of the group's result (:data:`RESULT_FEATURES`: empty, one row, only NULLs, size)
    result_features: bool = False
    #: give the head the answer checks of :mod:`mscsql.critic.checks` (:data:`~mscsql.critic.checks.CHECKS`)
    answer_checks: bool = False
    #: give the head each group's graded agreement with the others (:mod:`mscsql.critic.agreement`,
    #: :data:`~mscsql.critic.agreement.AGREEMENT_FEATURES`: the log of its graded support, its nearest other group)
    graded_agreement: bool = False
    #: give the head whether each group's query does what the question asks (:mod:`mscsql.critic.intent`,
    #: :data:`~mscsql.critic.intent.INTENT_FEATURES`: its shape, what the question asks that it leaves undone,
    #: how much of the question it covers, the size of its result)
    intent_features: bool = False
    #: score the groups whose queries failed too (else they get probability 0)
    include_failed: bool = False
    #: how much of each group's result the description shows
    metadata: MetadataOptions = field(default_factory=compact_metadata)
    #: seeds a fresh head's weights
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.max_length, int) or self.max_length < 16:
            raise ConfigError(f"max_length must be an integer of at least 16, not {self.max_length!r}")
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, not {self.seed!r}")
        if not (self.text_feature or self.agreement_feature or self.priority_feature or self.result_features
                or self.answer_checks or self.graded_agreement or self.intent_features):
            raise ConfigError("the encoder critic's head would read nothing",
                              hint="enable text_feature or at least one of the features")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderCriticConfig:
        try:
            metadata = MetadataOptions(**data.get("metadata", {}))
            names = ("max_length", "text_feature", "agreement_feature", "priority_feature", "result_features",
                     "answer_checks", "graded_agreement", "intent_features", "include_failed", "seed")
            values = {k: data[k] for k in names if k in data}
            return cls(metadata=metadata, **values)
        except TypeError as err:
            raise ConfigError(f"invalid encoder critic settings: {err}") from None


def head_inputs(hidden_size: int, config: EncoderCriticConfig) -> int:
    """The head's inputs (those enabled): the pooled state, the log share, the priority flag and the blocks of
    :data:`FEATURE_BLOCKS` (the result shape, the answer checks, the graded agreement, the intent features)."""
    return (text_inputs(hidden_size, config) + int(config.agreement_feature) + int(config.priority_feature)
            + sum(len(names) for setting, _field, names, _what in FEATURE_BLOCKS if getattr(config, setting)))


def text_inputs(hidden_size: int, config: EncoderCriticConfig) -> int:
    """How many of the head's inputs are the pooled state: ``hidden_size``, or 0 without the text feature."""
    return hidden_size if config.text_feature else 0


def fresh_head(hidden_size: int, config: EncoderCriticConfig) -> torch.nn.Linear:
    """A new head, the same for the same arguments: weights drawn from a generator seeded with
    ``config.seed`` (standard deviation :data:`HEAD_INIT_STD`), the log-share weight :data:`AGREEMENT_INIT`,
    the priority weight a small positive tie-breaker (the first generator wins ties, as in the vote), bias 0."""
    import torch

    inputs = head_inputs(hidden_size, config)
    text = text_inputs(hidden_size, config)
    head = torch.nn.Linear(inputs, 1)
    generator = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        head.weight.copy_(torch.randn((1, inputs), generator=generator) * HEAD_INIT_STD)
        if config.agreement_feature:
            head.weight[0, text] = AGREEMENT_INIT
        if config.priority_feature:
            head.weight[0, text + int(config.agreement_feature)] = PRIORITY_INIT
        head.bias.zero_()
    return head


class EncoderCritic(Critic):
    """The listwise cross-encoder critic (see the module's docstring).

    Build one with :meth:`from_pretrained` (a pretrained encoder and a fresh head) or :meth:`load` (a saved
    critic). ``model`` is a ``torch.nn.ModuleDict`` with the ``encoder`` and the ``head``: its parameters are
    what a trainer optimises, through the logits of :meth:`forward_logits`. ``batch_size``: the most pairs in one
    forward pass at inference (all groups of a question, and of several questions in :meth:`judge_many`,
    go together up to it).
    """

    def __init__(self, encoder: Any, tokenizer: Any, head: Any | None = None, *,
                 config: EncoderCriticConfig | None = None, device: str = "cpu", batch_size: int = 64,
                 name: str = "encoder-critic", source: str | None = None) -> None:
        require_backend()
        import torch

        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {batch_size}")
        self.config = config or EncoderCriticConfig()
        self.name = name
        self.batch_size = int(batch_size)
        self.source = source
        self.device = resolve_device(device)
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None:
            fallback = tokenizer.sep_token or tokenizer.eos_token or tokenizer.unk_token
            if fallback is None:
                raise ConfigError(f"the tokenizer of {source or 'the encoder'!r} has no padding token to batch with")
            tokenizer.pad_token = fallback
        self.hidden_size = hidden_size_of(encoder)
        if head is None:
            head = fresh_head(self.hidden_size, self.config)
        expected = (1, head_inputs(self.hidden_size, self.config))
        if tuple(head.weight.shape) != expected:
            raise ConfigError(f"the critic's head has weights of shape {tuple(head.weight.shape)}, but the encoder "
                              f"and the settings need {expected}")
        self.model = torch.nn.ModuleDict({"encoder": encoder, "head": head}).to(self.device)
        self.model.eval()
        limits = [self.config.max_length, getattr(encoder.config, "max_position_embeddings", None),
                  getattr(tokenizer, "model_max_length", None)]
        self.max_length = min(int(v) for v in limits if isinstance(v, int) and v > 0)

    def __repr__(self) -> str:
        return (f"EncoderCritic({self.source or '?'!r}, hidden_size={self.hidden_size}, max_length={self.max_length}, "
                f"agreement_feature={self.config.agreement_feature}, name={self.name!r})")

    # -- building, saving, loading ---------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, encoder: str | Path = DEFAULT_ENCODER, *, config: EncoderCriticConfig | None = None,
                        device: str = "cpu", batch_size: int = 64, name: str = "encoder-critic",
                        for_training: bool = False) -> EncoderCritic:
        """A critic on the pretrained encoder ``encoder`` (a local folder or a model id; the default is the
        bundled all-MiniLM-L6-v2) with a fresh head seeded by ``config.seed`` (a warning says it is untrained,
        unless it is built ``for_training``)."""
        require_backend()
        config = config or EncoderCriticConfig()
        source = str(encoder)
        tokenizer, model = load_pretrained(source, weights=config.text_feature)
        report = log.info if for_training else log.warning
        report("%s: a fresh head (seed %d) on %s: an untrained head is no better than agreement (it starts from "
               "the majority vote); train it before relying on its choices", name, config.seed, source)
        return cls(model, tokenizer, config=config, device=device, batch_size=batch_size, name=name, source=source)

    @classmethod
    def from_config(cls, selection: SelectionConfig) -> EncoderCritic:
        """The ``encoder`` selector of a pipeline config: the checkpoint ``selection.encoder`` names, else the
        packaged checks critic (:mod:`mscsql.critic.checks_critic`)."""
        from mscsql.critic.checks_critic import load_checks_critic

        critic = cls.load(selection.encoder) if selection.encoder else load_checks_critic()
        if not selection.show_rows:  # statuses, row counts and column names only: no cell reaches the encoder
            from dataclasses import replace

            critic.config = replace(critic.config, metadata=replace(critic.config.metadata, max_rows=0))
        return critic

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu", batch_size: int = 64,
             name: str = "encoder-critic") -> EncoderCritic:
        """The critic saved in the folder ``path`` by :meth:`save`."""
        require_backend()
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"encoder critic checkpoint folder {str(path)!r} does not exist",
                              hint="give a folder written by EncoderCritic.save")
        manifest = folder / CONFIG_FILE
        if not manifest.is_file():
            raise ConfigError(f"{str(path)!r} is not an encoder critic checkpoint (it has no {CONFIG_FILE})",
                              hint="give a folder written by EncoderCritic.save; to start from a pretrained "
                                   "encoder, use EncoderCritic.from_pretrained")
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read {str(manifest)!r}: {one_line(err)}") from None
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"{str(manifest)!r} is of format {found!r}, not {CHECKPOINT_FORMAT!r}",
                              hint="give a folder written by EncoderCritic.save")
        if data.get("version") != CHECKPOINT_VERSION:
            raise ConfigError(f"{str(manifest)!r} is version {data.get('version')!r} of {CHECKPOINT_FORMAT}; this "
                              f"mscsql reads version {CHECKPOINT_VERSION}",
                              hint="save the critic again with this version of mscsql")
        config = EncoderCriticConfig.from_dict(data.get("config", {}))
        head_file = folder / HEAD_FILE
        if not head_file.is_file():
            raise ConfigError(f"the encoder critic checkpoint {str(path)!r} has no {HEAD_FILE}")
        try:
            weights = load_file(head_file)
        except (OSError, SafetensorError) as err:
            raise ConfigError(f"cannot read the critic's head {str(head_file)!r}: {one_line(err)}") from None
        if set(weights) != {"weight", "bias"}:
            raise ConfigError(f"{str(head_file)!r} holds {sorted(weights)}, not a head's weight and bias")
        if (folder / ENCODER_DIR).is_dir():
            tokenizer, encoder = load_encoder(str(folder / ENCODER_DIR), local_only=True, what="the critic's encoder")
        elif not config.text_feature:  # a head that reads no text: the pretrained encoder's tokenizer and config
            tokenizer, encoder = load_pretrained(str(data.get("source") or DEFAULT_ENCODER), weights=False)
        else:
            raise ConfigError(f"the encoder critic checkpoint {str(path)!r} has no {ENCODER_DIR}/ folder")
        import torch

        weight, bias = weights["weight"], weights["bias"]
        if weight.ndim != 2 or weight.shape[0] != 1 or tuple(bias.shape) != (1,):
            raise ConfigError(f"{str(head_file)!r} holds a head of shape {tuple(weight.shape)}, not (1, inputs)")
        head = torch.nn.Linear(int(weight.shape[1]), 1)
        with torch.no_grad():
            head.weight.copy_(weight.to(torch.float32))
            head.bias.copy_(bias.to(torch.float32))
        critic = cls(encoder, tokenizer, head, config=config, device=device, batch_size=batch_size, name=name,
                     source=data.get("source") or str(path))
        if data.get("hidden_size") not in (None, critic.hidden_size):
            raise ConfigError(f"{str(manifest)!r} says hidden size {data.get('hidden_size')}, but its encoder has "
                              f"{critic.hidden_size}")
        log.info("loaded the encoder critic %s from %s", name, path)
        return critic

    def save(self, path: str | Path) -> Path:
        """Write the critic to the folder ``path`` (created; files of an earlier save are replaced):
        ``encoder/`` (model and tokenizer, save_pretrained; left out when the head reads no text, and the
        pretrained encoder it was built on, ``source``, is loaded instead), ``head.safetensors``, and
        ``critic.json`` last, so a folder without it is not a checkpoint."""
        from safetensors.torch import save_file

        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / CONFIG_FILE
        manifest.unlink(missing_ok=True)
        if self.config.text_feature:
            self.model["encoder"].save_pretrained(folder / ENCODER_DIR)
            self.tokenizer.save_pretrained(folder / ENCODER_DIR)
        else:  # the head reads no text: the checkpoint names its pretrained encoder (``source``) instead
            shutil.rmtree(folder / ENCODER_DIR, ignore_errors=True)
        head = self.model["head"]
        save_file({"weight": head.weight.detach().cpu().contiguous(), "bias": head.bias.detach().cpu().contiguous()},
                  folder / HEAD_FILE, metadata={"format": CHECKPOINT_FORMAT, "version": str(CHECKPOINT_VERSION)})
        data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "hidden_size": self.hidden_size,
                "head_inputs": int(head.weight.shape[1]), "source": self._pretrained_source(),
                "config": self.config.to_dict()}
        partial = folder / (CONFIG_FILE + ".partial")
        partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        partial.replace(manifest)
        log.info("saved the encoder critic %s to %s", self.name, folder)
        return folder

    def _pretrained_source(self) -> str | None:
        """What a checkpoint records as its pretrained encoder: without the text feature it is loaded from there,
        so a local folder is made absolute and a saved critic (which is not an encoder) falls back to the bundled
        one."""
        if self.config.text_feature:
            return self.source
        if not self.source:
            return DEFAULT_ENCODER
        local = Path(self.source).expanduser()
        if (local / CONFIG_FILE).is_file():
            return DEFAULT_ENCODER
        return str(local.resolve()) if local.exists() else self.source

    # -- pairs and logits ------------------------------------------------------------------------------

    def pairs(self, question: str, evidence: str | None, groups: Sequence[ResultGroup],
              shown: Sequence[int] | None = None, sources: Sequence[str] = ()) -> list[GroupPair]:
        """The pairs of ``groups`` (of those at the indexes ``shown``, in that order, when given);
        ``sources``: the generators in priority order (for the priority flag)."""
        return group_pairs(question, evidence, groups, shown, sources, self.config.metadata,
                           checks=self.config.answer_checks, graded=self.config.graded_agreement,
                           intent=self.config.intent_features)

    def shown(self, groups: Sequence[ResultGroup]) -> list[int]:
        """The indexes of the groups the critic scores (successful ones, or all with ``include_failed``)."""
        return shown_groups(groups, self.config.include_failed)

    def encode_pairs(self, pairs: Sequence[GroupPair | tuple[str, str]]) -> Any:
        """The tokenizer's batch for ``pairs`` (padded, truncated to ``max_length``, tensors on the critic's
        device). Special tokens written in the texts are read as plain characters."""
        batch = self.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt", split_special_tokens=True)
        return batch.to(self.device)

    def forward_logits(self, pairs: Sequence[GroupPair | tuple[str, str]]) -> torch.Tensor:
        """One logit per pair (a float tensor of shape ``(len(pairs),)``), in one forward pass, with gradients
        when torch records them. A listwise loss takes the softmax over each question's slice. Pairs given as
        plain ``(question, group)`` tuples are accepted only when the head has no agreement feature."""
        import torch

        if not pairs:
            return torch.zeros(0, device=self.device)
        return self.head_logits(self.pooled(pairs), pairs)

    def pooled(self, pairs: Sequence[GroupPair | tuple[str, str]]) -> torch.Tensor:
        """The encoder's mean-pooled token states of each pair, shape ``(len(pairs), hidden_size)``; without the
        text feature, an empty ``(len(pairs), 0)`` tensor (the encoder is not run)."""
        if not self.config.text_feature:
            import torch

            return torch.zeros((len(pairs), 0), device=self.device)
        batch = self.encode_pairs(pairs)
        states = self.model["encoder"](**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def head_logits(self, pooled: torch.Tensor, pairs: Sequence[GroupPair | tuple[str, str]]) -> torch.Tensor:
        """The head's logits from pooled states and the pairs' features (a trainer with the encoder frozen
        computes the pooled states once and calls this alone)."""
        return self.model["head"](self.head_input(pooled, pairs)).squeeze(-1)

    def head_input(self, pooled: torch.Tensor, pairs: Sequence[GroupPair | tuple[str, str]]) -> torch.Tensor:
        """What the head reads of each pair, shape ``(len(pairs), inputs)``: the pooled state, then the enabled
        features (the log share, the priority flag, the blocks of ``FEATURE_BLOCKS``)."""
        import torch

        features = []
        if self.config.agreement_feature:
            if any(len(p) < 3 for p in pairs):
                raise ConfigError("this critic's head reads each group's agreement share: give GroupPair "
                                  "(question, group, share) items, not (question, group) pairs")
            features.append([math.log(max(float(p[2]), MIN_SHARE)) for p in pairs])  # type: ignore[misc]
        if self.config.priority_feature:
            features.append([float(p[3]) if len(p) > 3 else 0.0 for p in pairs])  # type: ignore[misc]
        for setting, slot, names, what in FEATURE_BLOCKS:
            if not getattr(self.config, setting):
                continue
            index = GroupPair._fields.index(slot)
            if any(len(p) <= index or len(p[index]) != len(names) for p in pairs):  # type: ignore[arg-type]
                raise ConfigError(f"this critic's head reads each group's {what}: give GroupPair items with it "
                                  "(see mscsql.critic.encoder_pairs.group_pairs)")
            features += [list(column) for column in zip(*(p[index] for p in pairs), strict=True)]  # type: ignore[misc]
        if features:
            extra = torch.tensor(features, dtype=pooled.dtype, device=pooled.device).T
            pooled = torch.cat([pooled, extra], dim=-1)
        return pooled

    def score_pairs(self, pairs: Sequence[GroupPair | tuple[str, str]]) -> list[float]:
        """The logits of ``pairs`` at inference (no gradients, dropout off), ``batch_size`` pairs per pass."""
        import torch

        was_training = self.model.training
        self.model.eval()
        logits: list[float] = []
        try:
            with torch.no_grad():
                for start in range(0, len(pairs), self.batch_size):
                    chunk = pairs[start: start + self.batch_size]
                    logits.extend(float(v) for v in self.forward_logits(chunk).float().cpu().tolist())
        finally:
            self.model.train(was_training)
        return logits

    # -- judging ---------------------------------------------------------------------------------------

    def judge(self, question: str, evidence: str | None, schema_text: str,
              groups: Sequence[ResultGroup], sources: Sequence[str] = (), *, conversation: str = ""
              ) -> CriticJudgement:
        """The groups' probabilities: a softmax over their logits (``schema_text`` and ``conversation`` are not
        shown to the encoder, which was trained on questions asked on their own; they are accepted for the
        :class:`Critic` interface)."""
        return self.judge_many([(question, evidence, schema_text, groups, sources)])[0]

    def judge_many(self, items: Sequence[tuple[Any, ...]]) -> list[CriticJudgement]:
        """Judgements of several questions, each ``(question, evidence, schema_text, groups[, sources])``: the
        pairs of all of them go through the encoder together (``batch_size`` per forward pass)."""
        results: list[CriticJudgement | None] = []
        jobs: list[tuple[int, list[int], int, int]] = []  # (item, shown, start, end) in the pair list
        pairs: list[GroupPair] = []
        for index, (question, evidence, _schema, groups, *rest) in enumerate(items):
            skipped = judgement_without_model(groups, self.name)
            if skipped is not None:
                log.debug("%s: no model needed (%s)", self.name, skipped.reason)
                results.append(skipped)
                continue
            shown = self.shown(groups)
            start = len(pairs)
            pairs.extend(self.pairs(question, evidence, groups, shown, rest[0] if rest else ()))
            jobs.append((index, shown, start, len(pairs)))
            results.append(None)
        logits = self.score_pairs(pairs) if pairs else []
        for index, shown, start, end in jobs:
            groups = items[index][3]
            scores = normalise(logits[start:end])
            probabilities = [0.0] * len(groups)
            for group, p in zip(shown, scores, strict=True):
                probabilities[group] = p
            winner = most_probable_group(probabilities, groups)
            block_winner = shown[max(range(len(shown)), key=lambda j, s=scores: (s[j], -j))]
            round_ = CriticRound((tuple(shown),), (tuple(scores),), (block_winner,))
            log.debug("%s: %d groups, %d scored; winner %d (p=%.3f)", self.name, len(groups), len(shown), winner,
                      probabilities[winner])
            results[index] = CriticJudgement(tuple(probabilities), winner, False, "scored", self.name,
                                             end - start, (round_,))
        return [r for r in results if r is not None]
