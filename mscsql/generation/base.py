"""The generator protocol: batch-first text generation shared by every backend and every stage
(SQL generation, the LLM table selector, the critic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

#: One chat prompt: messages with "role" ("system", "user", "assistant") and "content". Backends apply
#: the model's own chat template (or send the messages to a server's chat endpoint).
ChatPrompt = Sequence[dict[str, str]]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding, explicitly (``n`` must then be 1 to be
    meaningful; backends return ``n`` identical samples otherwise)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def check(self) -> None:
        """One clear error for sampling no backend can do."""
        from mscsql.errors import ConfigError

        if self.n < 1:
            raise ConfigError(f"sampling.n must be at least 1, not {self.n}")
        if self.max_tokens < 1:
            raise ConfigError(f"sampling.max_tokens must be at least 1, not {self.max_tokens}")


@dataclass(frozen=True)
class Sample:
    """One generated continuation."""

    text: str
    #: SQL extracted from the text (filled by the SQL generation stage; None elsewhere)
    sql: str | None = None
    num_tokens: int = 0
    #: sum of the log-probabilities of the generated tokens, when the backend provides them
    logprob: float | None = None
    #: "stop" (end of sequence or a stop string), "length" (max_tokens reached), or a backend's own word
    finish_reason: str | None = None


@runtime_checkable
class Generator(Protocol):
    """Produces ``sampling.n`` samples for each prompt of a batch, in prompt order."""

    name: str

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]: ...


def merge_system(prompt: ChatPrompt) -> list[dict[str, str]]:
    """The prompt without a system message: its text goes before the first user message. For chat templates
    that accept no system role (Gemma's, for one)."""
    messages = [dict(m) for m in prompt]
    system = [m["content"] for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    if system and rest and rest[0].get("role") == "user":
        rest[0] = {**rest[0], "content": "\n\n".join([*system, rest[0]["content"]])}
    elif system:
        rest.insert(0, {"role": "user", "content": "\n\n".join(system)})
    return rest


def has_system(prompt: ChatPrompt) -> bool:
    return any(m.get("role") == "system" for m in prompt)


def render_chat(tokenizer: Any, prompt: ChatPrompt, completion: str | None = None, *, what: str = "the model"
                ) -> str:
    """The text the model sees: ``prompt`` through the tokenizer's chat template with the generation prompt,
    or (given ``completion``) the whole conversation with the assistant's answer. A template that accepts no
    system role gets the system text at the start of the first user message. Inference and training both
    render here, so a fine-tuned model reads what it was trained on."""
    turns = [dict(m) for m in prompt]
    if completion is not None:
        turns.append({"role": "assistant", "content": completion})
    from mscsql.errors import ConfigError

    try:
        text = tokenizer.apply_chat_template(turns, add_generation_prompt=completion is None, tokenize=False)
    except Exception as err:  # jinja2 errors raised by the template itself (e.g. "no system role")
        if has_system(prompt):
            return render_chat(tokenizer, merge_system(prompt), completion, what=what)
        raise ConfigError(f"the chat template of {what} rejected a prompt: {err}",
                          hint="some templates need alternating user and assistant roles") from err
    return str(text)


def resolve_torch_device(device: str | None, default: str = "auto") -> str:
    """``auto`` → ``cuda`` when torch sees a CUDA device, else ``cpu``; a CUDA device torch cannot see is
    one clear error."""
    import torch

    from mscsql.errors import ConfigError

    device = (device or default).strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but torch sees no CUDA device",
                          hint="use device 'cpu' or 'auto', or install a CUDA build of torch")
    return device
