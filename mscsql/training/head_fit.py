"""Fitting the encoder critic's head exactly when the encoder does not learn (``encoder.head_fit: exact``).

With the encoder frozen, or not read at all (a head over the options' features alone), the critic is a linear
model of each option's inputs under a softmax over the question's options: its listwise log-likelihood is
concave, so the best head is found directly instead of by many small gradient steps. The inputs are
standardised (zero mean, unit variance over the training options), the listwise negative log-likelihood of the
right options plus ``head_l2`` times the squared weights is minimised by L-BFGS, and the standardisation is folded
back into the head's weights, so a checkpoint reads raw inputs as before. The weight of the log-share input (the
vote) is not penalised: the penalty pulls the head towards the vote, not towards choosing at random. The fit
starts from the fresh head (the vote) and is deterministic for the same data.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mscsql.critic.encoder import EncoderCritic
    from mscsql.training.encoder_critic import Question

log = logging.getLogger(__name__)


def padded_inputs(critic: EncoderCritic, questions: list[Question], pooled: dict[Question, Any] | None = None
                  ) -> tuple[Any, Any, Any]:
    """The head's inputs of every option, ``(questions, most options, inputs)``, with the mask of real options
    and the labels (1 for a right option), both ``(questions, most options)``. ``pooled``: each question's pooled
    states when the head reads text (else the encoder is not read)."""
    import torch

    width = max(len(q.groups) for q in questions)
    rows = []
    for q in questions:
        states = pooled[q] if pooled is not None else torch.zeros((len(q.groups), 0))
        rows.append(critic.head_input(states, q.pairs()).to("cpu", torch.float64))
    inputs = torch.zeros((len(questions), width, rows[0].shape[1]), dtype=torch.float64)
    mask = torch.zeros((len(questions), width), dtype=torch.bool)
    labels = torch.zeros((len(questions), width), dtype=torch.float64)
    for i, (q, row) in enumerate(zip(questions, rows, strict=True)):
        inputs[i, : len(q.groups)] = row
        mask[i, : len(q.groups)] = True
        labels[i, : len(q.groups)] = torch.tensor([float(v) for v in q.labels], dtype=torch.float64)
    return inputs, mask, labels


def fit_head_exactly(critic: EncoderCritic, questions: list[Question], l2: float, *,
                     pooled: dict[Question, Any] | None = None, max_iterations: int = 500) -> dict[str, float]:
    """Set ``critic``'s head to the penalised maximum-likelihood head on ``questions`` (those with a right option;
    see the module's docstring). Returns the final loss and the iterations L-BFGS took."""
    import torch

    questions = [q for q in questions if any(q.labels)]
    inputs, mask, labels = padded_inputs(critic, questions, pooled)
    flat = inputs[mask]
    mean, scale = flat.mean(dim=0), flat.std(dim=0).clamp(min=1e-6)
    standard = (inputs - mean) / scale
    head = critic.model["head"]
    free = critic.config.agreement_feature  # the log-share input, right after the pooled state, is not penalised
    share_index = (critic.hidden_size if critic.config.text_feature else 0) if free else -1
    weights = (head.weight.detach().to("cpu", torch.float64)[0] * scale).clone().requires_grad_(True)
    penalised = torch.ones_like(weights)
    if share_index >= 0:
        penalised[share_index] = 0.0
    optimizer = torch.optim.LBFGS([weights], max_iter=max_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)
    state = {"calls": 0}

    def closure() -> Any:
        optimizer.zero_grad()
        logits = (standard @ weights).masked_fill(~mask, float("-inf"))
        log_p = torch.log_softmax(logits, dim=1).masked_fill(~mask, float("-inf"))
        right = log_p.masked_fill(labels == 0, float("-inf"))
        loss = -torch.logsumexp(right, dim=1).mean() + l2 * ((weights * penalised) ** 2).sum()
        if torch.is_grad_enabled():
            loss.backward()
            state["calls"] += 1
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        loss = float(closure())
        raw = weights.detach() / scale
        head.weight.copy_(raw.to(head.weight.dtype).unsqueeze(0))
        head.bias.fill_(float(-(mean * raw).sum()))
    log.info("the critic's head fitted exactly on %d questions (%d inputs, penalty %g): loss %.4f after %d "
             "evaluations", len(questions), flat.shape[1], l2, loss, state["calls"])
    return {"loss": loss, "evaluations": float(state["calls"])}
