"""The training config (``configs/train/<role>_<method>.yaml``): what to train, from which dataset, how.

One YAML file per role x method; LoRA and QLoRA differ only in ``method``. Every field has the paper's value
as its default (QLoRA r=32, alpha=128, dropout 0.05, effective batch 12). ``${VAR}`` reads the environment,
and ``--set key=value`` on the command line overrides any field (``training.max_steps=10``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mscsql.config import expand_env, load_yaml, parse_config
from mscsql.overrides import apply_overrides
from mscsql.packaged import resolve_config

Role = Literal["linker", "generator", "critic"]
Method = Literal["lora", "qlora", "encoder"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Strict):
    r: int = Field(32, ge=1)
    alpha: int = Field(128, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    #: module names to adapt, or "all-linear" (every linear layer but the output head)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"


class QuantizationSettings(_Strict):
    """QLoRA's 4-bit base model (bitsandbytes; needs a CUDA device)."""

    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class TrainingSettings(_Strict):
    """How a run trains. ``method: encoder`` reads the optimiser, schedule, step, logging and device fields;
    its batch (``encoder.questions_per_step``) and length (``encoder.max_length``) are its own, it keeps
    float32, and it takes its eval split from the dataset only (``eval_fraction``, ``precision`` and
    ``gradient_checkpointing`` are for the causal-LM recipe)."""

    epochs: float = Field(1.0, gt=0)
    #: stop after this many optimizer steps (-1: run the epochs)
    max_steps: int = -1

    @field_validator("max_steps")
    @classmethod
    def _steps_or_epochs(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be 1 or more, or -1 to run the epochs")
        return value
    learning_rate: float = Field(1e-4, gt=0)
    per_device_batch_size: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(12, ge=1)
    #: the longest example in tokens (longer ones are cut from the left of the prompt, never the completion)
    max_length: int = Field(4096, ge=16)
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    lr_scheduler: Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                          "constant_with_warmup", "inverse_sqrt"] = "cosine"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    #: write a checkpoint every N optimizer steps (0: only at the end)
    save_steps: int = Field(100, ge=0)
    #: keep at most this many checkpoints
    save_total_limit: int | None = Field(3, ge=1)
    #: evaluation loss every N steps (0: at the end only)
    eval_steps: int = Field(100, ge=0)
    logging_steps: int = Field(10, ge=1)
    #: the share of the train split held out for evaluation when the dataset has no ``eval`` split
    eval_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    seed: int = 0
    #: "auto": bfloat16 where the device supports it, else float32
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = True
    #: where logs go: tensorboard writes to OUTPUT/runs
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    #: "cpu", "cuda", "cuda:N", or "auto"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")


class EncoderSettings(_Strict):
    """The encoder critic's own settings (``method: encoder``)."""

    #: the most tokens of one (question, group) pair
    max_length: int = Field(320, ge=16)
    #: give the head the encoder's reading of each (question, option) pair; false: the head reads only the
    #: features below, the encoder is not run and training takes seconds
    text_feature: bool = True
    #: give the head each group's share of the samples
    agreement_feature: bool = True
    #: give the head a flag for the options holding the first generator's answer (ties go to it, as in a vote)
    priority_feature: bool = True
    #: give the head each option's result shape (empty, one row, only NULLs, size)
    result_features: bool = True
    #: give the head each option's answer checks (mscsql.critic.checks: no answer, order against the superlative,
    #: values left out or added)
    answer_checks: bool = False
    #: give the head each option's graded agreement with the others (mscsql.critic.agreement: the log of its
    #: graded support, the similarity of its nearest other option)
    graded_agreement: bool = False
    #: give the head whether each option's query does what the question asks (mscsql.critic.intent: its shape,
    #: a count, superlative, grouping, negation or DISTINCT the question asks for and it leaves out, how much of
    #: the question it covers, the size of its result)
    intent_features: bool = False
    #: how the head learns: "gradient" (steps of AdamW with the encoder, the schedule of ``training``) or "exact"
    #: (the penalised maximum-likelihood head by L-BFGS, in seconds; only when the encoder does not learn:
    #: ``text_feature: false`` or ``freeze_encoder: true``)
    head_fit: Literal["gradient", "exact"] = "gradient"
    #: with ``head_fit: exact``: the penalty on the head's squared weights over standardised inputs (with
    #: ``agreement_feature`` the weight of the share of samples is not penalised, so a larger penalty stays closer
    #: to the vote; the priority flag's weight is, so a very large one also loses the vote's tie-break)
    head_l2: float = Field(0.01, gt=0)
    #: questions per optimizer step (each brings all its groups)
    questions_per_step: int = Field(8, ge=1)
    #: the learning rate of the head (the encoder uses ``training.learning_rate``)
    head_learning_rate: float = Field(1e-3, gt=0)
    #: train the head only (the encoder stays as it was)
    freeze_encoder: bool = False
    #: keep the embeddings and the first N layers of the encoder as they are (faster; only the top layers learn)
    freeze_layers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _exact_needs_fixed_encoder(self) -> EncoderSettings:
        if self.head_fit == "exact" and self.text_feature and not self.freeze_encoder:
            raise ValueError("head_fit: exact fits the head alone: set text_feature: false or freeze_encoder: true")
        return self


class TrainConfig(_Strict):
    role: Role
    method: Method
    #: the base model: a Hugging Face id or a local folder (the encoder for ``method: encoder``)
    model: str
    #: a folder written by ``mscsql train data <role>``
    dataset: str
    output_dir: str
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quantization: QuantizationSettings = Field(default_factory=QuantizationSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    encoder: EncoderSettings = Field(default_factory=EncoderSettings)

    @model_validator(mode="after")
    def _method_fits_role(self) -> TrainConfig:
        if self.method == "encoder" and self.role != "critic":
            raise ValueError("method 'encoder' trains the encoder critic: it needs role 'critic'")
        return self


def load_train_config(path: str | Path | dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """The training config at ``path`` (or a dict) with ``key=value`` overrides applied; every problem in
    one error."""
    source = "<dict>" if isinstance(path, dict) else str(path)
    data = dict(path) if isinstance(path, dict) else load_yaml(resolve_config(path, "train"))
    apply_overrides(data, overrides)
    return parse_config(TrainConfig, expand_env(data), source)
