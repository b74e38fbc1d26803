"""The ``replay`` backend: serves stored samples or published prediction files as if a model had produced
them, so the rest of the pipeline and the evaluation run without a GPU."""

from __future__ import annotations

from collections.abc import Sequence

from mscsql.errors import GenerationError
from mscsql.generation.base import ChatPrompt, Sample, SamplingParams
from mscsql.prompts import prompt_hash


def messages_hash(prompt: ChatPrompt) -> str:
    """The key replay uses for a prompt: a hash of its messages."""
    return prompt_hash(list(prompt), "replay")


class ReplayGenerator:
    """Answers each prompt with the texts registered for it (prediction files, stored samples), however many
    there are, whatever ``n`` asks for."""

    def __init__(self, name: str = "replay") -> None:
        self.name = name
        self._answers: dict[str, list[str]] = {}

    def register(self, prompt: ChatPrompt, texts: Sequence[str]) -> None:
        self._answers[messages_hash(prompt)] = list(texts)

    def generate(self, prompts: Sequence[ChatPrompt], sampling: SamplingParams) -> list[list[Sample]]:
        results = []
        for prompt in prompts:
            texts = self._answers.get(messages_hash(prompt))
            if texts is None:
                raise GenerationError(f"replay generator {self.name!r} has nothing stored for a prompt",
                                      hint="replay serves the questions of its prediction file or sample store")
            # what is stored is served as it is: repeating one answer n times would fake agreement
            results.append([Sample(text=text, finish_reason="stop") for text in texts])
        return results
