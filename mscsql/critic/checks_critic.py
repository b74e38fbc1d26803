"""The checks critic that ships with mscsql: what the ``encoder`` selector uses without a checkpoint of its own.

A head over each group's share of the samples, whether it holds the first generator's answer and the answer checks
of :mod:`mscsql.critic.checks`; it reads no text. Its settings and its six weights are numbers in
``checks_critic.json`` (which also says what it was trained on and how it measured), as the confidence model's
are in ``confidence.json``; the critic is built from them here. torch is imported only when it is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mscsql.critic.encoder import EncoderCritic

#: the packaged critic's settings, weights and provenance
PACKAGED_CRITIC = Path(__file__).resolve().with_name("checks_critic.json")


def load_checks_critic(*, device: str = "cpu", batch_size: int = 64, name: str = "encoder-critic") -> EncoderCritic:
    """The packaged checks critic (see the module's docstring)."""
    from mscsql.critic.encoder_loading import load_pretrained, require_backend

    require_backend()
    import torch

    from mscsql.critic.encoder import EncoderCritic, EncoderCriticConfig

    data = json.loads(PACKAGED_CRITIC.read_text(encoding="utf-8"))
    tokenizer, encoder = load_pretrained(data["source"], weights=False)
    head = torch.nn.Linear(len(data["weight"]), 1)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([data["weight"]], dtype=torch.float32))
        head.bias.fill_(float(data["bias"]))
    return EncoderCritic(encoder, tokenizer, head, config=EncoderCriticConfig.from_dict(data["config"]),
                         device=device, batch_size=batch_size, name=name, source=data["source"])
