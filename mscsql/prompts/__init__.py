"""Versioned prompt templates; every rendered prompt carries a stable hash of its template and inputs."""

from mscsql.prompts.generator import (
    GENERATOR_TEMPLATE_VERSION,
    NO_CONTEXT,
    PromptContext,
    RenderedPrompt,
    generator_prompt,
    prompt_hash,
)

__all__ = ["GENERATOR_TEMPLATE_VERSION", "NO_CONTEXT", "PromptContext", "RenderedPrompt", "generator_prompt",
           "prompt_hash"]
