"""Generation: one batch-first protocol, backends loaded lazily by name."""

from mscsql.generation.base import ChatPrompt, Generator, Sample, SamplingParams

__all__ = ["ChatPrompt", "Generator", "Sample", "SamplingParams"]
