"""Fitting the encoder critic's head exactly when the encoder does not learn (``encoder.head_fit: exact``).

With the encoder frozen, or not read at all (a head over the options' features alone), the critic is a linear
model of each option's inputs under a softmax over the question's options: its listwise log-likelihood is
concave, so the best head is found directly instead of by many small gradient steps. The inputs are
standardised (zero mean, unit variance over the training options), the listwise negative log-likelihood of the
right options plus ``head_l2`` times the squared weights is minimised by L-BFGS, and the standardisation is folded
back into the head's weights, so a checkpoint reads raw inputs as before. With the agreement input, the weight of
the log share (the vote) is not penalised, so the penalty pulls the head towards the vote; without it, towards
choosing evenly. An input that never varies in training gets weight 0 (nothing was learnt about it). The fit
starts from the fresh head and is deterministic for the same data.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from mscsql.errors import DatasetError

if TYPE_CHECKING:
    from mscsql.critic.encoder import EncoderCritic
    from mscsql.training.encoder_critic import Question

log = logging.getLogger(__name__)
#: an input whose standard deviation over the training options is below this never varies
CONSTANT = 1e-9


def padded_inputs(critic: EncoderCritic, questions: list[Question], pooled: dict[Question, Any] | None = None
                  ) -> tuple[Any, Any, Any]:
    """The head's inputs of every option, ``(questions, most options, inputs)``, with the mask of real options
    and the labels (1 for a right option), both ``(questions, most options)``. ``pooled``: each question's pooled
    states, needed when the head reads text (else the encoder is not read)."""
    import torch

    if critic.config.text_feature and pooled is None:
        raise ValueError("this head reads the encoder's pooled states: give them as pooled")
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


def listwise_nll(logits: Any, mask: Any, labels: Any) -> Any:
    """The mean over questions of ``-log`` (the probability the softmax over a question's options gives its right
    options); padded options take no part."""
    import torch

    log_p = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=1).masked_fill(~mask, float("-inf"))
    return -torch.logsumexp(log_p.masked_fill(labels == 0, float("-inf")), dim=1).mean()


def fit_head_exactly(critic: EncoderCritic, questions: list[Question], l2: float, *,
                     pooled: dict[Question, Any] | None = None, max_iterations: int = 500) -> dict[str, float]:
    """Set ``critic``'s head to the penalised maximum-likelihood head on ``questions`` (those with a right option;
    see the module's docstring). Returns the listwise loss of the fitted head on them (without the penalty), the
    penalised objective and how many times L-BFGS evaluated it."""
    import torch

    from mscsql.critic.encoder import text_inputs

    if l2 <= 0:
        raise ValueError(f"the penalty must be positive (without one a separable set has no best head), not {l2}")
    questions = [q for q in questions if any(q.labels)]
    if not questions:
        raise DatasetError("no question with a right option to fit the critic's head on")
    inputs, mask, labels = padded_inputs(critic, questions, pooled)
    flat = inputs[mask]
    mean, spread = flat.mean(dim=0), flat.std(dim=0, unbiased=False)
    varying = spread > CONSTANT
    scale = torch.where(varying, spread, torch.ones_like(spread))
    standard = (inputs - mean) / scale
    head = critic.model["head"]
    weights = (head.weight.detach().to("cpu", torch.float64)[0] * scale * varying).clone().requires_grad_(True)
    penalised = torch.ones_like(weights)
    if critic.config.agreement_feature:  # the log share comes right after the pooled state
        penalised[text_inputs(critic.hidden_size, critic.config)] = 0.0
    optimizer = torch.optim.LBFGS([weights], max_iter=max_iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12)
    calls = 0

    def objective() -> Any:
        nonlocal calls
        optimizer.zero_grad()
        loss = listwise_nll(standard @ (weights * varying), mask, labels) + l2 * ((weights * penalised) ** 2).sum()
        if torch.is_grad_enabled():
            loss.backward()
            calls += 1
        return loss

    optimizer.step(objective)
    with torch.no_grad():
        fitted = weights.detach() * varying
        penalised_loss = float(objective())
        loss = float(listwise_nll(standard @ fitted, mask, labels))
        if not (math.isfinite(loss) and math.isfinite(penalised_loss)):
            raise DatasetError("the critic's head could not be fitted on these data (the loss is not finite)",
                               hint="check the critic dataset's features, or use head_fit: gradient")
        raw = fitted / scale
        head.weight.copy_(raw.to(head.weight.dtype).unsqueeze(0))
        head.bias.fill_(float(-(mean * raw).sum()))
    if calls >= max_iterations:
        log.warning("the critic's head fit stopped after %d evaluations before it converged", calls)
    log.info("the critic's head fitted exactly on %d questions (%d inputs, %d constant, penalty %g): loss %.4f, "
             "%d evaluations", len(questions), flat.shape[1], int((~varying).sum()), l2, loss, calls)
    return {"loss": loss, "objective": penalised_loss, "evaluations": float(calls)}
