"""The causal-LM fine-tuning recipe (``method: lora`` or ``qlora``): the linker, the generators and the LLM
critic learn to write the dataset's completions after its chat prompts.

A short recipe in three steps, as torchtune writes them — :meth:`CausalLMRecipe.setup` (tokenizer, data,
base model, adapter, :class:`transformers.Trainer`), :meth:`~CausalLMRecipe.train` (the Trainer's loop,
resumed from the last checkpoint in the output folder) and :meth:`~CausalLMRecipe.save` (the adapter with
the tokenizer in ``OUTPUT/adapter`` and ``OUTPUT/train_summary.json``); :func:`train_causal_lm` runs them.

Tokenisation (:func:`tokenize_example`) gives loss to the completion only. The prompt is rendered exactly as
the generators render it at inference (the tokenizer's chat template with the generation prompt, the system
text folded into the first user turn for templates without a system role) and tokenised alone; the completion
is what the template writes after it for the whole conversation, so the template's own end-of-turn tokens
are learned too. When the template does not end the turn with the end-of-sequence token, the token is
appended, so that the model learns to stop. A tokenizer without a chat template is refused (mscsql sends
chat prompts, and the generators refuse it too).

One process or many: ``accelerate launch --config_file configs/accelerate/<ddp|fsdp|cpu_ddp>.yaml -m mscsql
train --config ...`` runs the same code; the Trainer handles the processes and only the main one writes.

torch, transformers, peft and datasets are imported inside the functions, never by ``import mscsql``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mscsql.errors import BackendUnavailable, ConfigError, DatasetError
from mscsql.fileio import write_json_atomic
from mscsql.training.config import TrainConfig
from mscsql.training.model_source import hub_kwargs, load_error, model_source
from mscsql.training.provenance import versions
from mscsql.training.tokenize import (
    CompletionCollator,
    TokenizeStats,
    tokenize_example,
)

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
SUMMARY_FILE = "train_summary.json"
#: the packages whose versions go into the summary
#: ``save_steps: 0`` (a checkpoint at the end only): a step interval never reached; the Trainer writes a
#: checkpoint at the last step whenever checkpoints are written every N steps
_NEVER = 10**12


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    adapter_dir: Path
    #: optimizer steps in all (a resumed run counts those before the checkpoint)
    steps: int
    #: the last logged training loss
    train_loss: float | None
    #: the evaluation loss at the end (None without evaluation data)
    eval_loss: float | None
    #: False in the other processes of a multi-process run (only the main process should report)
    main_process: bool = True
    #: the output folder held this run already finished: nothing was trained
    already_done: bool = False

    def summary(self) -> str:
        def num(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        done = "already finished: nothing to train; " if self.already_done else ""
        return (f"{done}trained {self.steps} steps: train loss {num(self.train_loss)}, "
                f"eval loss {num(self.eval_loss)}; adapter in {self.adapter_dir}")


def train_causal_lm(config: TrainConfig, *, resume: bool = True) -> TrainResult:
    """Fine-tune ``config.model`` with a LoRA (or QLoRA) adapter on ``config.dataset``; with ``resume``,
    continue from the last ``checkpoint-*`` folder in ``config.output_dir`` if there is one."""
    recipe = CausalLMRecipe(config)
    if resume:
        done = recipe.finished()
        if done is not None:
            log.info("nothing to train: %s already finished with these settings", recipe.output_dir)
            return done
    recipe.setup(resume=resume)
    recipe.train()
    return recipe.save()


# -- tokenisation ------------------------------------------------------------------------------------------


def hold_out(train: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """``(train, eval)`` from one split (:func:`~mscsql.training.examples.eval_positions`): whole databases held
    out when the rows name two or more (``db_id``), so the evaluation loss reads no database (and no other
    ordering of a question) seen in training; else single rows."""
    from mscsql.training.examples import eval_positions

    db_ids = train["db_id"] if "db_id" in train.column_names else [None] * len(train)
    held, _how = eval_positions(db_ids, fraction, seed)
    return (train.select([i for i in range(len(train)) if i not in held]),
            train.select(sorted(held)))


# -- the recipe --------------------------------------------------------------------------------------------


def _require_packages() -> None:
    missing = [m for m in ("torch", "transformers", "peft", "accelerate", "datasets")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(f"training needs {', '.join(missing)}", hint="pip install 'mscsql[train]'")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _fsdp() -> bool:
    """Started by ``accelerate launch`` with an FSDP config?"""
    return _env_true("ACCELERATE_USE_FSDP")


class _StepCounter:
    """Counts the optimizer steps of this run and remembers the step it started at (a Trainer callback,
    made a subclass lazily in :meth:`CausalLMRecipe._trainer`)."""

    def __init__(self) -> None:
        self.start_step: int | None = None
        self.steps = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_step = state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps += 1


class CausalLMRecipe:
    """Setup, train, save: see the module's documentation. After :meth:`setup`, ``tokenizer``, ``model``
    (the PEFT model), ``train_data``, ``eval_data`` (tokenised datasets; ``eval_data`` may be None) and
    ``trainer`` are attributes."""

    def __init__(self, config: TrainConfig) -> None:
        if config.method not in ("lora", "qlora"):
            raise ConfigError(f"the causal-LM recipe trains method lora or qlora, not {config.method!r}")
        self.config = config
        self.output_dir = Path(config.output_dir).expanduser()
        self.adapter_dir = self.output_dir / ADAPTER_DIR
        self.card: dict[str, Any] = {}
        self.stats: dict[str, TokenizeStats] = {}
        self.resume_from: str | None = None
        self.tokenizer: Any = None
        self.model: Any = None
        self.train_data: Any = None
        self.eval_data: Any = None
        self.trainer: Any = None
        self.args: Any = None
        self.precision = "fp32"
        self.device = "cpu"
        self._counter = _StepCounter()
        self._train_metrics: dict[str, Any] = {}

    # -- setup -----------------------------------------------------------------------------------------

    def setup(self, *, resume: bool = True) -> None:
        _require_packages()
        self.device = self._resolve_device()
        self._check_qlora()
        self.precision = self._resolve_precision()
        self.args = self._training_arguments()
        self.tokenizer = self._load_tokenizer()
        self.train_data, self.eval_data = self._load_data()  # every process tokenises its own copy, at once
        if self.eval_data is None:
            from transformers.trainer_utils import IntervalStrategy

            self.args.eval_strategy = IntervalStrategy.NO
        self.model = self._load_model()
        self.trainer = self._trainer()
        self.resume_from = self._last_checkpoint() if resume else None
        if not resume and self.output_dir.is_dir() and any(self.output_dir.glob("checkpoint-*")):
            raise ConfigError(f"{str(self.output_dir)!r} holds checkpoints of an earlier run, and --no-resume "
                              "would start over beside them (a later resume would pick the wrong run)",
                              hint="resume it (leave out --no-resume), delete those checkpoints, or set "
                                   "another output_dir")

    def _resolve_device(self) -> str:
        from mscsql.generation.base import resolve_torch_device

        wanted = self.config.training.device.strip().lower()
        if wanted not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"training.device must be auto, cpu or cuda, not {wanted!r}",
                              hint="choose GPUs with CUDA_VISIBLE_DEVICES, and several with accelerate launch")
        return resolve_torch_device(wanted)

    def _check_qlora(self) -> None:
        if self.config.method != "qlora":
            return
        import torch

        missing = []
        if not torch.cuda.is_available():
            missing.append("a CUDA device (torch sees none)")
        elif self.device == "cpu":
            missing.append("a CUDA device (training.device is cpu)")
        if importlib.util.find_spec("bitsandbytes") is None:
            missing.append("the bitsandbytes package")
        if missing:
            raise BackendUnavailable(
                f"QLoRA (method: qlora) loads the base model in 4 bits with bitsandbytes, which needs "
                f"{' and '.join(missing)}",
                hint="train a plain LoRA adapter instead (method: lora, or --set method=lora; it runs on CPU too), "
                     "or run on a CUDA machine with: pip install bitsandbytes")

    def _resolve_precision(self) -> str:
        import torch

        wanted = self.config.training.precision
        cuda = self.device.startswith("cuda")
        if wanted == "auto":
            return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        if wanted == "fp16" and not cuda:
            raise ConfigError("precision fp16 needs a CUDA device", hint="use precision auto, fp32 or bf16 on CPU")
        if wanted == "bf16" and cuda and not torch.cuda.is_bf16_supported():
            raise ConfigError("this CUDA device does not support bfloat16", hint="use precision fp16 or fp32")
        return wanted

    def _report_to(self) -> list[str] | str:
        wanted = [r for r in self.config.training.report_to if r and r != "none"]
        if "tensorboard" in wanted and not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
            log.warning("report_to lists tensorboard, but tensorboard is not installed: no tensorboard logs "
                        "(pip install tensorboard, or set training.report_to: [])")
            wanted.remove("tensorboard")
        return wanted or "none"

    def _training_arguments(self) -> Any:
        from transformers import TrainingArguments

        t = self.config.training
        fields = {f.name for f in dataclasses.fields(TrainingArguments)}
        evaluating = t.eval_steps > 0
        kwargs: dict[str, Any] = dict(
            output_dir=str(self.output_dir), num_train_epochs=t.epochs, max_steps=t.max_steps,
            learning_rate=t.learning_rate, gradient_accumulation_steps=t.gradient_accumulation_steps,
            per_device_train_batch_size=t.per_device_batch_size, per_device_eval_batch_size=t.per_device_batch_size,
            lr_scheduler_type=t.lr_scheduler, weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
            save_strategy="steps", save_steps=t.save_steps or _NEVER, save_total_limit=t.save_total_limit,
            eval_strategy="steps" if evaluating else "no", eval_steps=t.eval_steps if evaluating else None,
            logging_strategy="steps", logging_steps=t.logging_steps, logging_first_step=True,
            seed=t.seed, data_seed=t.seed, bf16=self.precision == "bf16", fp16=self.precision == "fp16",
            use_cpu=self.device == "cpu", report_to=self._report_to(), remove_unused_columns=False,
            label_names=["labels"], ddp_find_unused_parameters=False)
        # transformers 5 renamed gradient checkpointing and folded the warmup ratio into warmup_steps
        checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
        kwargs[checkpointing] = self.gradient_checkpointing
        kwargs[f"{checkpointing}_kwargs"] = {"use_reentrant": False} if self.gradient_checkpointing else None
        if "warmup_ratio" in fields:
            kwargs["warmup_ratio"] = t.warmup_ratio
        else:
            kwargs["warmup_steps"] = t.warmup_ratio if t.warmup_ratio > 0 else 0
        return TrainingArguments(**kwargs)

    @property
    def gradient_checkpointing(self) -> bool:
        """``training.gradient_checkpointing``, unless FSDP checkpoints activations itself (an accelerate config
        with ``fsdp_activation_checkpointing: true``; transformers refuses both at once)."""
        fsdp_checkpoints = _fsdp() and _env_true("FSDP_ACTIVATION_CHECKPOINTING")
        return self.config.training.gradient_checkpointing and not fsdp_checkpoints

    @property
    def is_main(self) -> bool:
        return self.args is None or self.args.process_index == 0

    def _load_tokenizer(self) -> Any:
        from huggingface_hub.errors import HFValidationError
        from transformers import AutoTokenizer

        name = self.config.model
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_source(name), **hub_kwargs())
        except (OSError, HFValidationError, ValueError) as err:
            raise load_error(name, err) from err
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"the tokenizer of {name!r} has no chat template; training data are chat prompts",
                              hint="start from an instruction-tuned (chat) model, or save a chat_template.jinja next "
                                   "to its tokenizer (tokenizer.chat_template = ...; tokenizer.save_pretrained(dir))")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if tokenizer.pad_token_id is None:
            raise ConfigError(f"the tokenizer of {name!r} has neither a padding nor an end-of-sequence token")
        return tokenizer

    def _load_data(self) -> tuple[Any, Any]:
        from mscsql.training.dataset_io import read_dataset

        t = self.config.training
        data, self.card = read_dataset(self.config.dataset, self.config.role)
        if "train" not in data:
            raise DatasetError(f"{self.config.dataset!r} has no train split")
        train = data["train"]
        missing = {"messages", "completion"} - set(train.column_names)
        if missing:
            raise DatasetError(f"the {self.config.role} data in {self.config.dataset!r} lack the columns "
                               f"{sorted(missing)} (causal-LM training reads messages and completion)",
                               hint="rebuild it with: mscsql train data " + self.config.role)
        if "eval" in data and len(data["eval"]):
            evaluation = data["eval"]
        elif t.eval_fraction > 0 and len(train) >= 2:
            train, evaluation = hold_out(train, t.eval_fraction, t.seed)
            if self.is_main:
                log.info("no eval split: %d of the train examples held out for evaluation (seed %d)",
                         len(evaluation), t.seed)
        else:
            evaluation = None
        encoded_train = self._encode(train, "train")
        encoded_eval = self._encode(evaluation, "eval") if evaluation is not None else None
        return encoded_train, encoded_eval

    def _encode(self, split: Any, name: str) -> Any:
        import datasets

        max_length = self.config.training.max_length
        stats = self.stats.setdefault(name, TokenizeStats())
        rows = []
        unanswered = 0
        for messages, completion in zip(split["messages"], split["completion"], strict=True):
            if not str(completion or "").strip():  # e.g. critic questions with no right option (keep-all data)
                unanswered += 1
                continue
            example = tokenize_example(self.tokenizer, messages, str(completion), max_length, stats)
            if example is not None:
                rows.append(example)
        if self.is_main:
            if unanswered:
                log.info("%s: left out %d examples without an answer to learn", name, unanswered)
            if stats.dropped:
                log.warning("%s: dropped %d examples whose completion alone fills max_length %d tokens",
                            name, stats.dropped, max_length)
            if stats.truncated:
                log.info("%s: cut the prompt of %d examples from the left to fit max_length %d",
                         name, stats.truncated, max_length)
            log.info("%s: %d examples", name, stats.kept)
        if not rows and name == "train":
            raise DatasetError(f"no training example of {self.config.dataset!r} fits max_length {max_length}",
                               hint="raise training.max_length")
        return datasets.Dataset.from_list(rows) if rows else None

    def _load_model(self) -> Any:
        import torch
        from huggingface_hub.errors import HFValidationError
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, set_seed

        name = self.config.model
        qlora = self.config.method == "qlora"
        dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
        kwargs: dict[str, Any] = {"dtype": dtypes[self.precision], **hub_kwargs()}
        if qlora:
            from transformers import BitsAndBytesConfig

            q = self.config.quantization
            compute = getattr(torch, q.compute_dtype)
            kwargs["dtype"] = compute
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type=q.quant_type, bnb_4bit_use_double_quant=q.double_quant,
                bnb_4bit_compute_dtype=compute, bnb_4bit_quant_storage=compute)
            if not _fsdp():  # each process holds its own quantised copy on its own GPU; FSDP places the shards
                kwargs["device_map"] = {"": str(self.args.device)}
        try:
            model = AutoModelForCausalLM.from_pretrained(model_source(name), **kwargs)
        except (OSError, HFValidationError, ValueError) as err:
            raise load_error(name, err) from err
        model.config.use_cache = False
        if qlora:
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=self.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        set_seed(self.config.training.seed)  # the adapter's random init (LoRA's A matrices)
        lora = self.config.lora
        target = lora.target_modules if lora.target_modules == "all-linear" else list(lora.target_modules)
        peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=target,
                                 bias="none", task_type="CAUSAL_LM")
        try:
            model = get_peft_model(model, peft_config)
        except ValueError as err:  # target modules not found in the model
            raise ConfigError(f"cannot put LoRA adapters on {name!r}: {err}",
                              hint="lora.target_modules: all-linear, or names of linear layers of the model") from err
        if self.is_main:
            trainable, total = model.get_nb_trainable_parameters()
            log.info("%s adapter on %s: %d trainable of %d parameters (%.3f%%)", self.config.method, name,
                     trainable, total, 100.0 * trainable / max(total, 1))
        return model

    def _trainer(self) -> Any:
        from transformers import Trainer, TrainerCallback

        counter_cls = type("_StepCounterCallback", (_StepCounter, TrainerCallback), {})
        self._counter = counter_cls()
        multiple = 8 if self.device.startswith("cuda") else 1
        return Trainer(model=self.model, args=self.args, train_dataset=self.train_data, eval_dataset=self.eval_data,
                       data_collator=CompletionCollator(self.tokenizer.pad_token_id, multiple),
                       processing_class=self.tokenizer, callbacks=[self._counter])

    def finished(self) -> TrainResult | None:
        """The result of the run in the output folder when it already finished with these settings (its summary
        was written with this config at the step of its last checkpoint), else None: resuming it would train
        one more step past ``max_steps``."""
        try:
            summary = json.loads((self.output_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        steps = [int(p.name.split("-")[1]) for p in self.output_dir.glob("checkpoint-*")
                 if p.name.split("-")[1].isdigit()]
        if not isinstance(summary, dict) or summary.get("config") != self.config.model_dump(mode="json") \
                or not steps or max(steps) != summary.get("steps") or not self.adapter_dir.is_dir():
            return None
        return TrainResult(output_dir=self.output_dir, adapter_dir=self.adapter_dir, steps=int(summary["steps"]),
                           train_loss=summary.get("train_loss"), eval_loss=summary.get("eval_loss"),
                           already_done=True)

    def _last_checkpoint(self) -> str | None:
        from transformers.trainer_utils import get_last_checkpoint

        if not self.output_dir.is_dir():
            return None
        last = get_last_checkpoint(str(self.output_dir))
        if last is not None and self.is_main:
            log.info("resuming from %s", last)
        return last

    # -- train -----------------------------------------------------------------------------------------

    def train(self) -> None:
        if self.trainer is None:
            raise RuntimeError("setup() first")
        output = self.trainer.train(resume_from_checkpoint=self.resume_from)
        self._train_metrics = dict(output.metrics)
        self.trainer.save_state()

    # -- save ------------------------------------------------------------------------------------------

    def _final_eval_loss(self) -> float | None:
        if self.eval_data is None:
            return None
        step = self.trainer.state.global_step
        for entry in reversed(self.trainer.state.log_history):
            if "eval_loss" in entry and entry.get("step") == step:
                return float(entry["eval_loss"])
        return float(self.trainer.evaluate()["eval_loss"])

    def _last_train_loss(self) -> float | None:
        for entry in reversed(self.trainer.state.log_history):
            if "loss" in entry:
                return float(entry["loss"])
        value = self._train_metrics.get("train_loss")
        return None if value is None else float(value)

    def save(self) -> TrainResult:
        eval_loss = self._final_eval_loss()
        self.trainer.save_model(str(self.adapter_dir))  # the adapter and the tokenizer; main process only
        result = TrainResult(output_dir=self.output_dir, adapter_dir=self.adapter_dir,
                             steps=int(self.trainer.state.global_step), train_loss=self._last_train_loss(),
                             eval_loss=eval_loss, main_process=self.trainer.is_world_process_zero())
        if result.main_process:
            path = self.output_dir / SUMMARY_FILE
            write_json_atomic(path, self._summary(result), sort_keys=True, default=str)
            log.info("%s", result.summary())
        return result

    def _summary(self, result: TrainResult) -> dict[str, Any]:
        card_keys = ("role", "counts", "prompt", "sources", "benchmark", "benchmark_files")
        return {
            "role": self.config.role, "method": self.config.method, "model": self.config.model,
            "config": self.config.model_dump(mode="json"),
            "steps": result.steps, "start_step": self._counter.start_step, "steps_this_run": self._counter.steps,
            "resumed_from": self.resume_from,
            "train_loss": result.train_loss, "train_loss_mean": self._train_metrics.get("train_loss"),
            "eval_loss": result.eval_loss,
            "examples": {name: dataclasses.asdict(stats) for name, stats in self.stats.items()},
            "device": self.device, "precision": self.precision, "world_size": self.args.world_size,
            "effective_batch_size": (self.config.training.per_device_batch_size
                                     * self.config.training.gradient_accumulation_steps * self.args.world_size),
            "dataset": {"path": self.config.dataset, **{k: self.card[k] for k in card_keys if k in self.card}},
            "adapter_dir": str(result.adapter_dir),
            "versions": versions(),
        }
