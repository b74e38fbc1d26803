"""Probe: does a sentence encoder's reading of the question against the chosen query help the confidence model?

The chosen query is put in plain English (:func:`mscsql.explain.explain`, from its syntax tree) and compared
with the question by the offline sentence encoder all-MiniLM-L6-v2 (cosine similarity): an answer whose query
says something other than what the question asks should be less certain, whatever the samples agree on. Two
features, with no label read:
- ``explains_question``: the similarity of the question and the chosen query's explanation;
- ``explains_better``: that similarity minus the highest of the other successful results' (0 without one).
The same two over the query's own text (``sql_matches_question``, ``sql_matches_better``) are the variant
without the explanation.

On the pools of ``fit_confidence.py`` (same seed) it reports, for the packaged features alone and with each
variant added: the gain at 80 % coverage over the share cross-validated on the fitting pools alone (the
protocol that chooses the penalty; this decides), on the measuring pools, and on the database split.

    python eval/confidence/explanation_similarity.py --data ../shared/data --work runs/confidence \\
        --output eval/results/explanation_similarity.json
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import FEATURES, PENALTY_PER_ANSWER
from mscsql.explain import explain
from mscsql.retrieval.encoder import Encoder

log = logging.getLogger("explanation_similarity")

VARIANTS = {
    "packaged features": (),
    "+ explanation": ("explains_question", "explains_better"),
    "+ explanation (similarity only)": ("explains_question",),
    "+ query text": ("sql_matches_question", "sql_matches_better"),
}


class Similarity:
    """Cosine similarities of questions with queries' explanations and texts, every text embedded once."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}

    def embed(self, texts: set[str]) -> None:
        todo = sorted(t for t in texts if t not in self.vectors)
        if todo:
            log.info("embedding %d texts", len(todo))
            self.vectors.update(zip(todo, self.encoder.encode_bulk(todo, progress=True), strict=True))

    def __call__(self, a: str, b: str) -> float:
        return float(self.vectors[a] @ self.vectors[b])


def question_text(item: Any) -> str:
    return f"{item.question} {item.evidence}".strip() if item.evidence else item.question


def similarity_features(item: Any, choice: Any, similarity: Similarity, explained: dict[str, str]
                        ) -> dict[str, float]:
    """The probe's features of the vote's ``choice`` for ``item`` (all 0 without a successful answer)."""
    extra = dict.fromkeys(("explains_question", "explains_better", "sql_matches_question", "sql_matches_better"),
                          0.0)
    if choice.group is None or not choice.groups[choice.group].ok:
        return extra
    asked = question_text(item)
    ok = [i for i, g in enumerate(choice.groups) if g.ok]
    for prefix, text_of in (("explains", explained.__getitem__), ("sql_matches", str)):
        scores = {i: similarity(asked, text_of(choice.groups[i].sql)) for i in ok}
        others = [s for i, s in scores.items() if i != choice.group]
        extra[f"{prefix}_question"] = scores[choice.group]
        extra[f"{prefix}_better"] = scores[choice.group] - max(others) if others else 0.0
    return extra


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/explanation_similarity.json")
    started = time.perf_counter()
    study = base.probe_study(args)  # the pools fit_confidence.py draws
    items, candidates, questions, schemas = study.items, study.candidates, study.questions, study.schemas
    verdict, fitting, measuring = study.verdict, study.fitting, study.measuring
    statements = {c.sql for proposed in candidates.values() for c in proposed}
    log.info("explaining %d statements", len(statements))
    explained = {sql: explain(sql, "sqlite") for sql in statements}
    similarity = Similarity(Encoder())
    similarity.embed({question_text(i) for i in items} | set(explained.values()) | statements)

    def rows_of(pool: list[str]) -> list[tuple[dict[str, float], bool]]:
        return base.pool_rows(pool, candidates, questions, verdict, schemas,
                              lambda item, choice, _weights: similarity_features(item, choice, similarity, explained))

    fitting_rows = {tuple(p): rows_of(p) for p in fitting}
    measuring_rows = {tuple(p): rows_of(p) for p in measuring}
    databases = study.databases
    report = {}
    for label, extra in VARIANTS.items():
        report[label] = base.variant_report(tuple(FEATURES) + extra, tuple(FEATURES), fitting_rows, measuring_rows,
                                            databases)
        log.info("%s: cross-validated %s, measured %s, split %s", label, report[label]["cross_validated_gain_at_80"],
                 report[label]["gain_at_80_measured_pools"], report[label]["gain_at_80_database_split"])
    base.write_probe_record(args, __file__, {"penalty_per_answer": PENALTY_PER_ANSWER,
                                             "seconds": round(time.perf_counter() - started, 1), "variants": report})


if __name__ == "__main__":
    main()
