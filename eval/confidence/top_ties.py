"""Probe: which reading of "the ordering's cut falls inside a tie" should the confidence model take?

The packaged model reads ``top_tied`` (:mod:`mscsql.critic.ties`): the chosen query keeps the one top row of an
ordering (``ORDER BY ... LIMIT 1``) and the second row has the same ordering keys. The variants, all read off one
probe per chosen statement (its first ``k + 20`` rows with the ordering keys after its own columns, DISTINCT
kept, run read-only on the question's database):

- ``top_tied``: the adopted one;
- ``tied_at_cut``: any ``LIMIT k``, row ``k + 1`` with the same keys as row ``k``;
- ``top_tied_other_row``: ``LIMIT 1``, the second row with the same keys but other values (rows repeated by a join
  not counted);
- ``tied_beyond``: ``LIMIT 1``, the log of one plus how many of the next 20 rows share the first row's keys.

On the pools of ``fit_confidence.py`` (same seed) it reports for the packaged features without ``top_tied`` and
with each variant instead: the gain at 80 % coverage over the share cross-validated on the fitting pools alone
(the protocol that chooses), on the measuring pools and on the database split.

    python eval/confidence/top_ties.py --data ../shared/data --work runs/confidence \\
        --output eval/results/confidence_top_ties.json
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_confidence as base

from mscsql.critic.confidence import FEATURES, PENALTY_PER_ANSWER
from mscsql.critic.ties import KEY_PREFIX, top_tie_probe
from mscsql.db import execute_many
from mscsql.types import ExecutionItem

log = logging.getLogger("top_ties")

WITHOUT = tuple(f for f in FEATURES if f != "top_tied")
VARIANTS = {
    "without top_tied": (),
    "+ top_tied (adopted)": ("top_tied",),
    "+ tied_at_cut (any LIMIT k)": ("tied_at_cut",),
    "+ top_tied_other_row": ("top_tied_other_row",),
    "+ tied_beyond": ("tied_beyond",),
}
ZERO = dict.fromkeys(("top_tied", "tied_at_cut", "top_tied_other_row", "tied_beyond"), 0.0)


def wide_probe(sql: str) -> tuple[str, int, int] | None:
    """(probe, keys, k): the query's first ``k + 20`` rows with its ordering keys after its own columns (the adopted
    probe of :mod:`mscsql.critic.ties`, for any LIMIT and 20 rows more)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:
        return None
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    if limit is None or not (isinstance(limit.expression, exp.Literal) and limit.expression.is_int):
        return None
    k = int(limit.expression.this)
    if k < 1:
        return None
    one = tree.copy()
    one.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    made = top_tie_probe(one.sql(dialect="sqlite"), "sqlite")
    if made is None:
        return None
    probe = sqlglot.parse_one(made[0], read="sqlite")
    probe.set("limit", exp.Limit(expression=exp.Literal.number(k + 20)))
    return probe.sql(dialect="sqlite"), made[1], k


def variants(rows: list[tuple[Any, ...]], keys: int, k: int) -> dict[str, float]:
    out = dict(ZERO)
    if len(rows) <= k:
        return out
    same = [tuple(r)[-keys:] == tuple(rows[k - 1])[-keys:] for r in rows[k:]]
    out["tied_at_cut"] = float(same[0])
    if k == 1:
        out["top_tied"] = float(same[0])
        out["top_tied_other_row"] = float(same[0] and tuple(rows[0])[:-keys] != tuple(rows[1])[:-keys])
        beyond = next((n for n, s in enumerate(same) if not s), len(same))
        out["tied_beyond"] = math.log1p(beyond)
    return out


class Probes:
    """Each (question, statement) probed once on its database (opened once, with fit_confidence.py's probes)."""

    def __init__(self) -> None:
        self.found: dict[tuple[int, str], dict[str, float]] = {}

    def __call__(self, question: Any, sql: str) -> dict[str, float]:
        key = (question.index, sql)
        if key not in self.found:
            made = wide_probe(sql)
            self.found[key] = dict(ZERO)
            if made is not None:
                [result] = execute_many([ExecutionItem(base.TIES.database(question), made[0])], timeout_s=30.0,
                                        max_rows=made[2] + 20)
                if result.ok:
                    self.found[key] = variants(list(result.rows), made[1], made[2])
        return self.found[key]


def main() -> None:
    args = base.probe_arguments(__doc__, "eval/results/confidence_top_ties.json")
    started = time.perf_counter()
    study = base.probe_study(args)
    questions, candidates, verdict, schemas = study.questions, study.candidates, study.verdict, study.schemas
    by_text: dict[str, int] = {}
    for item in study.items:
        by_text.setdefault(item.question, item.index)
    probes = Probes()

    def extra(item: Any, choice: Any, _weights: Any) -> dict[str, float]:
        chosen = choice.candidate
        if chosen is None or not chosen.result.ok:
            return dict(ZERO)
        return probes(questions[by_text[item.question]], chosen.sql)

    fitting_rows = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas, extra)
                    for p in study.fitting}
    measuring_rows = {tuple(p): base.pool_rows(p, candidates, questions, verdict, schemas, extra)
                      for p in study.measuring}
    answered = [r for found in measuring_rows.values() for r in found]
    fired = {name: [ok for row, ok in answered if row[name] > 0] for name in ZERO}
    databases = study.databases
    report: dict[str, Any] = {}
    for label, added in VARIANTS.items():
        report[label] = base.variant_report(WITHOUT + added, WITHOUT, fitting_rows, measuring_rows, databases)
        log.info("%s: cross-validated %s, measured %s, split %s", label, report[label]["cross_validated_gain_at_80"],
                 report[label]["gain_at_80_measured_pools"], report[label]["gain_at_80_database_split"])
    base.write_probe_record(args, __file__, {
        "penalty_per_answer": PENALTY_PER_ANSWER, "probes": len(probes.found), "key_prefix": KEY_PREFIX,
        "measured_answers": len(answered), "right_share": round(sum(ok for _r, ok in answered) / len(answered), 4),
        "fired_on_measured_answers": {n: {"answers": len(v), "right_share": round(sum(v) / len(v), 4) if v else None}
                                      for n, v in fired.items()},
        "variants": report, "seconds": round(time.perf_counter() - started, 1)})
    base.TIES.close()


if __name__ == "__main__":
    main()
