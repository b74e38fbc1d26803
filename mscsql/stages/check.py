"""The whole configuration checked before any stage runs: every configured model can run (see
:mod:`mscsql.generation.preflight`), every replayed source can be read, the selector's checkpoint exists.
Nothing heavy is imported, so a mistake costs no model load and no generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mscsql.errors import ConfigError
from mscsql.generation.preflight import configured_models, require_runnable
from mscsql.stages.models import Models


def check_before_stages(config: Any, models: Models) -> None:
    """Raise the one error that would stop a run later (``config``: a pipeline or generation config)."""
    require_runnable(configured_models(config))
    for member in config.generators:
        if member.backend == "replay":
            models.generator(member)  # reads its sample store or takes its prediction file now
    selection = getattr(config, "selection", None)
    if selection is not None:
        _ = models.confidence  # a confidence model that cannot be read fails now
        _ = models.generator_weights  # so do reliabilities that cannot be read or name other generators
    if selection is not None and selection.selector == "encoder" and selection.encoder:
        folder = Path(selection.encoder).expanduser()
        if not (folder / "critic.json").is_file():
            raise ConfigError(f"selection.encoder {selection.encoder!r} is not an encoder critic checkpoint "
                              "(no critic.json there)",
                              hint="give a folder written by EncoderCritic.save or `mscsql train --config "
                                   "configs/train/critic_encoder.yaml`, or leave encoder unset for the packaged "
                                   "checks critic")
