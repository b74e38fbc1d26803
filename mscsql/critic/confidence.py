"""How likely the chosen answer is right: a number in [0, 1] from the choice's own evidence, calibrated on
candidate pools whose answers are known.

The features (:mod:`mscsql.critic.confidence_features`) read only what a selector sees: the agreement of
samples and generators with the chosen result, the selector's own score, the answer checks, the shape of the
chosen query and of its result, and whether the query does what the question's wording asks. A logistic
model over them (:class:`ConfidenceModel`) turns them into a probability; the packaged one
(``confidence.json`` beside this module) was fitted by ``eval/confidence/fit_confidence.py`` and records on
what. :func:`fit` refits one on your own labelled runs (``mscsql eval calibrate``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mscsql.critic.confidence_features import FEATURES, features
from mscsql.errors import ConfigError

__all__ = ["FEATURES", "PENALTY_PER_ANSWER", "ConfidenceModel", "features", "fit"]

#: the L2 penalty per fitted answer: the strength that generalised best across families of systems and halves of
#: the databases in ``eval/confidence/fit_confidence.py``'s cross-validation (the packaged model's)
PENALTY_PER_ANSWER = 0.03


@dataclass(frozen=True)
class ConfidenceModel:
    """A logistic model over standardised :data:`FEATURES`."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    #: what it was fitted on (pools, questions, selector), for the record
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def predict(self, values: Mapping[str, float]) -> float:
        """The probability that the answer with these feature ``values`` is right: 0 for an answer whose query
        failed (or that has none), which cannot be right."""
        if values.get("chosen_failed", 0.0):
            return 0.0
        x = np.asarray([values.get(name, 0.0) for name in self.features], dtype=np.float64)
        z = float(np.dot((x - np.asarray(self.mean)) / np.asarray(self.scale), np.asarray(self.coef))) + self.intercept
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "fitted_on": self.fitted_on}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> ConfidenceModel:
        try:
            names = tuple(str(n) for n in data["features"])
            unknown = [n for n in names if n not in FEATURES]
            if unknown:
                raise ConfigError(f"confidence model {source} reads unknown features: {', '.join(unknown)}")
            model = cls(names, tuple(map(float, data["mean"])), tuple(map(float, data["scale"])),
                        tuple(map(float, data["coef"])), float(data["intercept"]), dict(data.get("fitted_on", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{source} is not a confidence model ({err})",
                              hint="give a file written by mscsql eval calibrate") from None
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.coef):
            raise ConfigError(f"confidence model {source} has lists of different lengths")
        numbers = [*model.mean, *model.scale, *model.coef, model.intercept]
        if not all(math.isfinite(n) for n in numbers) or not all(x > 0 for x in model.scale):
            raise ConfigError(f"confidence model {source} holds a number that is not finite, or a scale that is not "
                              "above 0", hint="refit it with mscsql eval calibrate")
        return model

    @classmethod
    def load(cls, path: str | Path | None = None) -> ConfidenceModel:
        """The model at ``path``, or the packaged one."""
        if path is None:
            text = (resources.files("mscsql.critic") / "confidence.json").read_text(encoding="utf-8")
            return cls.from_dict(json.loads(text), "the packaged confidence model")
        target = Path(path).expanduser()
        try:
            return cls.from_dict(json.loads(target.read_text(encoding="utf-8")), str(target))
        except OSError as err:
            raise ConfigError(f"cannot read the confidence model {target}: {err.strerror or err}") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"the confidence model {target} is not JSON: {err}") from None


def fit(rows: Sequence[Mapping[str, float]], labels: Sequence[bool], *, names: Sequence[str] = FEATURES,
        penalty_per_answer: float = PENALTY_PER_ANSWER, fitted_on: dict[str, Any] | None = None) -> ConfidenceModel:
    """A :class:`ConfidenceModel` fitted by L2-regularised logistic regression (Newton's method) on feature
    ``rows`` and whether each answer was right; the penalty is ``penalty_per_answer`` times the number of rows,
    so the same strength suits a small set of your own answers and the packaged model's tens of thousands."""
    if len(rows) != len(labels) or not rows:
        raise ValueError("fit needs as many labels as feature rows, and at least one")
    l2 = penalty_per_answer * len(rows)
    x = np.asarray([[row.get(n, 0.0) for n in names] for row in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) + penalty * w
        hessian = (z.T * (p * (1 - p))) @ z + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return ConfidenceModel(tuple(names), tuple(mean.tolist()), tuple(scale.tolist()), tuple(w[:-1].tolist()),
                           float(w[-1]), dict(fitted_on or {}))
