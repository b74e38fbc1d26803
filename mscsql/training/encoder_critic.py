"""Training the encoder critic (``method: encoder``): a listwise cross-entropy over each question's options.

The data are the critic rows of ``mscsql train data critic``: each question's option descriptions, their
agreement shares and labels, rendered by :func:`mscsql.critic.encoder.describe_group` with the settings the
card records (the trained critic is saved with the same settings, so it reads at inference what it read in
training). The encoder reads options independently, so the order they are shown in does not matter: one
ordering per question is used.

One step takes ``encoder.questions_per_step`` questions (all their options in one forward pass); the loss of
a question is ``-log`` of the probability the softmax over its options gives to its right options; gradients
accumulate over ``training.gradient_accumulation_steps`` steps. The encoder learns at
``training.learning_rate`` (or not at all with ``encoder.freeze_encoder``), the head at
``encoder.head_learning_rate``, both with linear warm-up and decay. Evaluation reports the loss and how often
the critic's choice is right, beside how often the most agreed option is (the vote). Checkpoints
(``OUTPUT/checkpoint-STEP``: the critic, the optimiser and scheduler state, the step) are written every
``training.save_steps`` steps and a run resumes from the last one; the trained critic goes to
``OUTPUT/critic`` (load it with ``EncoderCritic.load`` or ``mscsql select --selector encoder --encoder``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mscsql.critic.encoder import EncoderCritic, EncoderCriticConfig
from mscsql.critic.encoder_pairs import FEATURE_BLOCKS, GroupPair, most_agreed
from mscsql.critic.metadata import MetadataOptions
from mscsql.errors import ConfigError, DatasetError
from mscsql.fileio import output_folder, write_json_atomic
from mscsql.training.config import TrainConfig
from mscsql.training.critic_data import FEATURE_COLUMNS
from mscsql.training.dataset_io import read_dataset
from mscsql.training.provenance import versions

log = logging.getLogger(__name__)

CRITIC_DIR = "critic"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"


@dataclass(frozen=True)
class Question:
    """One question's options, as the encoder critic reads them."""

    question: str
    groups: tuple[str, ...]
    shares: tuple[float, ...]
    labels: tuple[int, ...]
    #: 1.0 for the options holding the first generator's answer
    firsts: tuple[float, ...] = ()
    #: each option's result shape (:func:`mscsql.critic.encoder.result_shape`)
    shapes: tuple[tuple[float, ...], ...] = ()
    #: each option's answer checks (:func:`mscsql.critic.checks.answer_checks`)
    checks: tuple[tuple[float, ...], ...] = ()
    #: each option's graded agreement (:func:`mscsql.critic.agreement.agreement_features`)
    graded: tuple[tuple[float, ...], ...] = ()
    #: each option's intent features (:func:`mscsql.critic.intent.intent_features`)
    intents: tuple[tuple[float, ...], ...] = ()

    def pairs(self) -> list[GroupPair]:
        empty = ((),) * len(self.groups)
        firsts = self.firsts or (0.0,) * len(self.groups)
        columns = (self.groups, self.shares, firsts, self.shapes or empty, self.checks or empty,
                   self.graded or empty, self.intents or empty)
        return [GroupPair(self.question, *option) for option in zip(*columns, strict=True)]


@dataclass
class EncoderTrainResult:
    output_dir: str
    critic_dir: str
    steps: int
    train_loss: float | None
    eval_loss: float | None
    eval_accuracy: float | None
    eval_vote_accuracy: float | None
    #: "gradient" (``steps`` optimizer steps) or "exact" (``steps``: the evaluations of the L-BFGS fit)
    head_fit: str = "gradient"

    def summary(self) -> str:
        def fmt(value: float | None, pct: bool = False) -> str:
            if value is None:
                return "-"
            return f"{100 * value:.1f}%" if pct else f"{value:.4f}"

        how = f"head fitted exactly ({self.steps} evaluations)" if self.head_fit == "exact" else f"{self.steps} steps"
        return (f"encoder critic: {how}, train loss {fmt(self.train_loss)}, eval loss "
                f"{fmt(self.eval_loss)}, eval choice right {fmt(self.eval_accuracy, True)} (vote "
                f"{fmt(self.eval_vote_accuracy, True)}); saved to {self.critic_dir}")


def questions_of(split: Any) -> list[Question]:
    """The questions of a dataset split (its first ordering of each question and pool)."""
    needed = {"question", "group_texts", "shares", "labels", "ordering"}
    if not needed <= set(split.column_names):
        raise DatasetError(f"the critic dataset lacks the columns {sorted(needed - set(split.column_names))}",
                           hint="build it again with: mscsql train data critic ...")
    out = []
    for row in split:
        if row["ordering"] != 0 or not any(row["labels"]):
            continue
        out.append(Question(row["question"], tuple(row["group_texts"]), tuple(float(s) for s in row["shares"]),
                            tuple(int(v) for v in row["labels"]), tuple(float(f) for f in row.get("firsts") or ()),
                            **{column: _vectors(row.get(column)) for column in FEATURE_COLUMNS.values()}))
    return out


def _vectors(column: Any) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in values) for values in column or ())


def _critic_settings(card: dict[str, Any], config: TrainConfig) -> EncoderCriticConfig:
    """The critic's settings: how the data were rendered (the card) and the head from the training config."""
    stored = card.get("encoder_critic") or {}
    metadata = MetadataOptions(**stored.get("metadata", {}))
    settings = config.encoder
    return EncoderCriticConfig(max_length=settings.max_length, text_feature=settings.text_feature,
                               agreement_feature=settings.agreement_feature,
                               priority_feature=settings.priority_feature,
                               result_features=settings.result_features, answer_checks=settings.answer_checks,
                               graded_agreement=settings.graded_agreement, intent_features=settings.intent_features,
                               include_failed=bool(stored.get("include_failed", False)), metadata=metadata,
                               seed=config.training.seed)


def listwise_loss(logits: Any, questions: list[Question]) -> Any:
    """The mean over questions of ``-log`` (probability of the right options) under each question's softmax
    (``logits``: every question's options, one question after another; :func:`~mscsql.training.head_fit.listwise_nll`
    over them padded)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    from mscsql.training.head_fit import listwise_nll

    sizes = [len(q.groups) for q in questions]
    padded = pad_sequence(list(torch.split(logits, sizes)), batch_first=True)
    mask = pad_sequence([torch.ones(n, dtype=torch.bool, device=logits.device) for n in sizes], batch_first=True)
    labels = pad_sequence([torch.tensor([float(bool(v)) for v in q.labels], device=logits.device) for q in questions],
                          batch_first=True)
    return listwise_nll(padded, mask, labels)


def vote_right(q: Question) -> bool:
    """Whether the vote picks a right option: the most agreed one, ties to the first generator's."""
    return bool(q.labels[most_agreed(q.shares, q.firsts)])


class Logits:
    """The critic's logits of a batch of questions. With the encoder frozen, each pair's pooled state is
    computed once (no dropout, no gradient) and kept, and only the head runs at each step: training the head
    alone takes seconds instead of minutes."""

    def __init__(self, critic: EncoderCritic, frozen: bool, batch_pairs: int = 64) -> None:
        self.critic = critic
        self.frozen = frozen
        self.batch_pairs = batch_pairs
        self._pooled: dict[Question, Any] = {}

    def __call__(self, questions: list[Question]) -> Any:
        pairs = [p for q in questions for p in q.pairs()]
        if not self.frozen:
            return self.critic.forward_logits(pairs)
        import torch

        self.precompute(questions)
        pooled = torch.cat([self._pooled[q] for q in questions])
        return self.critic.head_logits(pooled, pairs)

    def pooled_states(self) -> dict[Question, Any]:
        """The pooled states computed so far, by question."""
        return dict(self._pooled)

    def precompute(self, questions: list[Question]) -> None:
        import torch

        todo = list(dict.fromkeys(q for q in questions if q not in self._pooled))
        if not todo:
            return
        encoder = self.critic.model["encoder"]
        was_training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                start = 0
                while start < len(todo):
                    chunk, size = [], 0
                    while start < len(todo) and (not chunk or size + len(todo[start].groups) <= self.batch_pairs):
                        chunk.append(todo[start])
                        size += len(todo[start].groups)
                        start += 1
                    states = self.critic.pooled([p for q in chunk for p in q.pairs()])
                    offset = 0
                    for q in chunk:
                        self._pooled[q] = states[offset: offset + len(q.groups)]
                        offset += len(q.groups)
        finally:
            encoder.train(was_training)


def evaluate(critic: EncoderCritic, questions: list[Question], batch_questions: int = 16,
             logits_of: Logits | None = None) -> dict[str, float]:
    """The critic's mean loss, how often its choice is right and how often the vote's is, on ``questions``."""
    import torch

    if not questions:
        return {}
    logits_of = logits_of or Logits(critic, frozen=False)
    was_training = critic.model.training
    critic.model.eval()
    total_loss, right = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(questions), batch_questions):
                chunk = questions[start: start + batch_questions]
                logits = logits_of(chunk)
                total_loss += float(listwise_loss(logits, chunk)) * len(chunk)
                offset = 0
                for q in chunk:
                    scores = logits[offset: offset + len(q.groups)].tolist()
                    best = max(range(len(scores)), key=lambda i, s=scores: (s[i], q.shares[i], -i))
                    right += q.labels[best]
                    offset += len(q.groups)
    finally:
        critic.model.train(was_training)
    return {"loss": total_loss / len(questions), "accuracy": right / len(questions),
            "vote_accuracy": sum(vote_right(q) for q in questions) / len(questions)}


def _checkpoints(output: Path) -> list[tuple[int, Path]]:
    found = []
    for path in output.glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and (path / STATE_FILE).is_file():
            found.append((int(suffix), path))
    return sorted(found)


def _device(config: TrainConfig) -> str:
    from mscsql.generation.base import resolve_torch_device

    return resolve_torch_device(config.training.device, "auto")


class _Run:
    """One training run: the critic, the optimiser and the schedule, with checkpoints."""

    def __init__(self, config: TrainConfig, train: list[Question], settings: EncoderCriticConfig,
                 resume_from: Path | None) -> None:
        import torch
        from transformers import get_scheduler

        self.config = config
        self.output = Path(config.output_dir).expanduser()
        t = config.training
        device = _device(config)
        if resume_from is not None:
            self.critic = EncoderCritic.load(resume_from / CRITIC_DIR, device=device)
        else:
            self.critic = EncoderCritic.from_pretrained(config.model, config=settings, device=device,
                                                          for_training=True)
        steps_per_epoch = math.ceil(len(train) / config.encoder.questions_per_step / t.gradient_accumulation_steps)
        self.total_steps = t.max_steps if t.max_steps > 0 else max(1, math.ceil(t.epochs * steps_per_epoch))
        encoder, head = self.critic.model["encoder"], self.critic.model["head"]
        groups: list[dict[str, Any]] = [{"params": list(head.parameters()), "lr": config.encoder.head_learning_rate}]
        if frozen_encoder(config):
            encoder.requires_grad_(False)
        else:
            freeze_lower_layers(encoder, config.encoder.freeze_layers)
            groups.append({"params": [p for p in encoder.parameters() if p.requires_grad], "lr": t.learning_rate})
        self.optimizer = torch.optim.AdamW(groups, weight_decay=t.weight_decay)
        self.scheduler = get_scheduler(t.lr_scheduler, self.optimizer,
                                       num_warmup_steps=int(t.warmup_ratio * self.total_steps),
                                       num_training_steps=self.total_steps)
        self.step = 0
        self.history: list[dict[str, float]] = []
        if resume_from is not None:
            state = torch.load(resume_from / OPTIMIZER_FILE, map_location=self.critic.device, weights_only=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            saved = json.loads((resume_from / STATE_FILE).read_text(encoding="utf-8"))
            self.step = int(saved["step"])
            self.history = list(saved.get("history", []))
            log.info("resuming the encoder critic from %s (step %d of %d)", resume_from, self.step, self.total_steps)

    def save_checkpoint(self) -> Path:
        import torch

        folder = self.output / f"checkpoint-{self.step}"
        self.critic.save(folder / CRITIC_DIR)
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   folder / OPTIMIZER_FILE)
        write_json_atomic(folder / STATE_FILE, {"step": self.step, "history": self.history}, indent=1)
        limit = self.config.training.save_total_limit
        old = _checkpoints(self.output)
        if limit is not None:
            for _step, path in old[:-limit]:
                shutil.rmtree(path, ignore_errors=True)
        return folder


def frozen_encoder(config: TrainConfig) -> bool:
    """Whether the encoder stays as it is: frozen, or not read at all (no text feature)."""
    return config.encoder.freeze_encoder or not config.encoder.text_feature


def freeze_lower_layers(encoder: Any, count: int) -> None:
    """Keep the embeddings and the first ``count`` transformer layers of ``encoder`` fixed (BERT-like models:
    ``embeddings`` and ``encoder.layer``)."""
    if count <= 0:
        return
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    embeddings = getattr(encoder, "embeddings", None)
    if layers is None or embeddings is None:
        raise ConfigError(f"encoder.freeze_layers needs a BERT-like encoder (embeddings and encoder.layer); "
                          f"{type(encoder).__name__} has neither", hint="set encoder.freeze_layers: 0")
    if count > len(layers):
        raise ConfigError(f"encoder.freeze_layers is {count}, but the encoder has {len(layers)} layers")
    embeddings.requires_grad_(False)
    for layer in list(layers)[:count]:
        layer.requires_grad_(False)


def _writer(config: TrainConfig, output: Path) -> Any:
    if "tensorboard" not in config.training.report_to:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return None
    return SummaryWriter(log_dir=str(output / "runs"))


def train_encoder_critic(config: TrainConfig, *, resume: bool = True) -> EncoderTrainResult:
    """Train the encoder critic of ``config`` (``method: encoder``) and save it to ``OUTPUT/critic``."""
    import torch

    if config.method != "encoder":
        raise ConfigError(f"train_encoder_critic trains method 'encoder', not {config.method!r}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("the encoder critic trains in one process; it does not run under accelerate launch",
                          hint="run: mscsql train --config ... (it is small enough for one device)")
    data, card = read_dataset(config.dataset, "critic")
    if "train" not in data:
        raise DatasetError(f"the critic dataset {config.dataset!r} has no train split (every question is in eval)",
                           hint="build it again with a smaller --eval-fraction")
    train = questions_of(data["train"])
    evaluation = questions_of(data["eval"]) if "eval" in data else []
    if not train:
        raise DatasetError(f"the critic dataset {config.dataset!r} has no training question with a right option")
    t = config.training
    output = Path(config.output_dir).expanduser()
    output_folder(output)
    checkpoints = _checkpoints(output)
    if checkpoints and not resume:
        raise ConfigError(f"{str(output)!r} holds checkpoints of an earlier run, and --no-resume would start over "
                          "beside them (a later resume would pick the wrong run)",
                          hint="resume it (leave out --no-resume), delete those checkpoints, or set another "
                               "output_dir")
    settings = _critic_settings(card, config)
    _require_columns(data["train"], settings, config.dataset)
    if config.encoder.head_fit == "exact":
        if checkpoints:
            log.warning("%s holds checkpoints of a gradient run; the exact fit does not read them and saves its "
                        "critic beside them", output)
        return _fit_exactly(config, card, train, evaluation, settings)
    run = _Run(config, train, settings, checkpoints[-1][1] if checkpoints else None)
    writer = _writer(config, output)
    order_rng = random.Random(f"encoder-critic:{t.seed}")
    torch.manual_seed(t.seed + run.step)
    batches = _batches(train, config.encoder.questions_per_step, order_rng)
    for _ in range(run.step * t.gradient_accumulation_steps):  # the batches a resumed run has already seen
        next(batches)
    critic = run.critic
    logits_of = Logits(critic, frozen=frozen_encoder(config))
    if logits_of.frozen:
        log.info("the encoder is frozen: encoding the %d training questions once", len(train))
        logits_of.precompute(train)
    critic.model.train()
    last_loss: float | None = None
    started = time.monotonic()
    with tqdm(total=run.total_steps, initial=run.step, desc="encoder critic", unit="step") as bar:
        while run.step < run.total_steps:
            run.optimizer.zero_grad()
            step_loss = 0.0
            for _ in range(t.gradient_accumulation_steps):
                chunk = next(batches)
                loss = listwise_loss(logits_of(chunk), chunk) / t.gradient_accumulation_steps
                loss.backward()
                step_loss += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(critic.model.parameters(), t.max_grad_norm)
            run.optimizer.step()
            run.scheduler.step()
            run.step += 1
            last_loss = step_loss
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}")
            if run.step % t.logging_steps == 0:
                run.history.append({"step": run.step, "loss": step_loss})
                if writer is not None:
                    writer.add_scalar("train/loss", step_loss, run.step)
            if t.eval_steps and run.step % t.eval_steps == 0 and run.step < run.total_steps:
                _log_eval(run, evaluation, writer, logits_of)
            if t.save_steps and run.step % t.save_steps == 0 and run.step < run.total_steps:
                run.save_checkpoint()
    metrics = _log_eval(run, evaluation, writer, logits_of)
    run.save_checkpoint()
    critic_dir = critic.save(output / CRITIC_DIR)
    if writer is not None:
        writer.close()
    result = EncoderTrainResult(str(output), str(critic_dir), run.step, last_loss, metrics.get("loss"),
                                metrics.get("accuracy"), metrics.get("vote_accuracy"))
    summary = {"result": asdict(result), "config": config.model_dump(), "dataset_card": card,
               "train_questions": len(train), "eval_questions": len(evaluation), "history": run.history,
               "seconds": round(time.monotonic() - started, 1), "versions": versions()}
    write_json_atomic(output / "train_summary.json", summary, default=str)
    return result


def _batches(questions: list[Question], size: int, rng: random.Random) -> Any:
    """Endless batches of ``size`` questions: the questions shuffled anew each epoch."""
    while True:
        order = list(questions)
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield order[start: start + size]


def _log_eval(run: _Run, evaluation: list[Question], writer: Any, logits_of: Logits) -> dict[str, float]:
    metrics = evaluate(run.critic, evaluation, logits_of=logits_of)
    if metrics:
        run.history.append({"step": run.step, **{f"eval_{k}": v for k, v in metrics.items()}})
        log.info("step %d: eval loss %.4f, choice right %.3f (vote %.3f)", run.step, metrics["loss"],
                 metrics["accuracy"], metrics["vote_accuracy"])
        if writer is not None:
            for key, value in metrics.items():
                writer.add_scalar(f"eval/{key}", value, run.step)
    return metrics


def _require_columns(split: Any, settings: EncoderCriticConfig, dataset: str) -> None:
    """A clear error when the head reads a feature the dataset was built without (by an older mscsql)."""
    column_of = {setting: FEATURE_COLUMNS[slot] for setting, slot, _names, _what in FEATURE_BLOCKS}
    missing = [setting for setting, column in column_of.items()
               if getattr(settings, setting) and column not in split.column_names]
    if missing:
        columns = " and ".join(repr(column_of[m]) for m in missing)
        raise DatasetError(f"the critic dataset {dataset!r} has no {columns} column{'s' if len(missing) > 1 else ''}, "
                           f"which the head reads for {' and '.join(missing)} (it was built by an older mscsql)",
                           hint="build it again with: mscsql train data critic ...")


def _fit_exactly(config: TrainConfig, card: dict[str, Any], train: list[Question], evaluation: list[Question],
                 settings: EncoderCriticConfig) -> EncoderTrainResult:
    """``encoder.head_fit: exact``: the head fitted at once (:mod:`mscsql.training.head_fit`), then evaluated and
    saved to ``OUTPUT/critic``."""
    from mscsql.training.head_fit import fit_head_exactly

    started = time.monotonic()
    output = Path(config.output_dir).expanduser()
    critic = EncoderCritic.from_pretrained(config.model, config=settings, device=_device(config), for_training=True)
    logits_of = Logits(critic, frozen=True)
    if settings.text_feature:
        log.info("the encoder is frozen: encoding the %d training questions once", len(train))
        logits_of.precompute(train)
    fitted = fit_head_exactly(critic, train, config.encoder.head_l2,
                              pooled=logits_of.pooled_states() if settings.text_feature else None)
    metrics = evaluate(critic, evaluation, logits_of=logits_of)
    if metrics:
        log.info("eval loss %.4f, choice right %.3f (vote %.3f)", metrics["loss"], metrics["accuracy"],
                 metrics["vote_accuracy"])
    critic_dir = critic.save(output / CRITIC_DIR)
    result = EncoderTrainResult(str(output), str(critic_dir), int(fitted["evaluations"]), fitted["loss"],
                                metrics.get("loss"), metrics.get("accuracy"), metrics.get("vote_accuracy"), "exact")
    summary = {"result": asdict(result), "config": config.model_dump(), "dataset_card": card,
               "train_questions": len(train), "eval_questions": len(evaluation), "head_fit": fitted,
               "seconds": round(time.monotonic() - started, 1), "versions": versions()}
    write_json_atomic(output / "train_summary.json", summary, default=str)
    return result
