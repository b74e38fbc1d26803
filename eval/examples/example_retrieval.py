"""How well verified examples are chosen for a question: the SQL skeletons of the retrieved examples against
the gold query's.

In-domain (Spider dev): in each database the questions at even positions (in dev.json order, counted within
the database) are the verified examples and those at odd positions are asked. Cross-domain: all of Spider
train is the pool and every Spider dev question is asked. For each method, the top-1 and top-3 examples are
compared with the asked question's gold query: the mean skeleton similarity and the share with exactly the
gold skeleton (top-3: the mean over the three, and whether any of the three matches).

Methods: a random example (the exact expectation over the pool), and a grid of rankings: the question
similarity compares the questions as written (masked=0: plain question embedding), masked (masked=1: schema
words and values masked, DAIL-SQL's question similarity) or both (0.5), plus the skeleton similarity to a
draft query times a weight (0: no draft), the draft being a published system's prediction for the question
(``--draft``); and the same with the gold query as draft (an upper bound, not a method).

    python eval/examples/example_retrieval.py --data-dir ../shared/data \\
        --draft ../shared/data/predictions/spider_dev/C3SQL__predicted_sql.sql \\
        --output eval/results/example_retrieval.json

Needs the ``retrieval`` extra (the offline all-MiniLM-L6-v2 encoder). Spider (Yu et al., 2018) is CC BY-SA 4.0.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mscsql.db.descriptions import schema_from_tables_json
from mscsql.retrieval.encoder import get_encoder
from mscsql.retrieval.examples import ExampleRanker, skeleton_similarity, sql_skeleton
from mscsql.types import Schema, VerifiedExample

log = logging.getLogger("example_retrieval")

#: the share of the question similarity that compares masked questions (0: the questions as written; 1: DAIL-SQL)
MASKED = (0.0, 0.5, 1.0)
#: how much the skeleton similarity to the draft adds (0: no draft)
WEIGHTS = (0.0, 0.5, 1.0, 2.0)


class Asked:
    def __init__(self, question: str, gold: str, db_id: str, draft: str | None) -> None:
        self.question, self.gold, self.db_id, self.draft = question, gold, db_id, draft
        self.skeleton = sql_skeleton(gold)


def _scores(asked: Asked, picked: Sequence[VerifiedExample]) -> tuple[list[float], list[bool]]:
    skeletons = [sql_skeleton(e.sql) for e in picked]
    return [skeleton_similarity(asked.skeleton, s) for s in skeletons], [s == asked.skeleton for s in skeletons]


class Tally:
    """Per method: the sums behind the means."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, float] = defaultdict(float)

    def add(self, similarities: list[float], exact: list[bool]) -> None:
        self.n += 1
        self.sums["top1_similarity"] += similarities[0]
        self.sums["top1_exact"] += exact[0]
        self.sums["top3_similarity"] += float(np.mean(similarities[:3]))
        self.sums["top3_exact"] += float(np.mean(exact[:3]))
        self.sums["top3_any_exact"] += any(exact[:3])

    def add_expected(self, similarities: list[float], exact: list[bool]) -> None:
        """A random pick's expectation: every example equally likely (three drawn without replacement)."""
        self.n += 1
        n, hits = len(similarities), sum(exact)
        mean, rate = float(np.mean(similarities)), hits / n
        self.sums["top1_similarity"] += mean
        self.sums["top1_exact"] += rate
        self.sums["top3_similarity"] += mean
        self.sums["top3_exact"] += rate
        draws = min(3, n)
        self.sums["top3_any_exact"] += 1 - math.comb(n - hits, draws) / math.comb(n, draws)

    def means(self) -> dict[str, float]:
        return {"questions": self.n, **{k: round(v / self.n, 4) for k, v in self.sums.items()}}


def _evaluate(asked: list[Asked], pool_of: Callable[[Asked], Any], rank_of: dict[str, Callable[[Asked], list]],
              ) -> dict[str, dict[str, float]]:
    tallies = {name: Tally() for name in ["random", *rank_of]}
    for item in asked:
        pool = pool_of(item)
        tallies["random"].add_expected(*_scores(item, pool))
        for name, rank in rank_of.items():
            tallies[name].add(*_scores(item, [r.example for r in rank(item)]))
    return {name: tally.means() for name, tally in tallies.items()}


def _methods(index_of: Callable[[Asked], Any], schema_of: Callable[[Asked], Schema]
             ) -> dict[str, Callable[[Asked], list]]:
    """Every (masked share, skeleton weight) of the grid, with the draft and (as an upper bound) the gold query."""
    methods: dict[str, Callable[[Asked], list]] = {}
    for masked in MASKED:
        for weight in WEIGHTS:
            name = f"masked={masked:g},skeleton={weight:g}"
            methods[name] = lambda a, m=masked, w=weight: index_of(a).rank(
                a.question, schema_of(a), draft=a.draft if w else None, k=3, skeleton_weight=w, masked_weight=m)
            if weight:
                methods[f"upper_bound:{name},gold_draft"] = lambda a, m=masked, w=weight: index_of(a).rank(
                    a.question, schema_of(a), draft=a.gold, k=3, skeleton_weight=w, masked_weight=m)
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder holding spider/")
    parser.add_argument("--draft", type=Path, required=True, help="a Spider dev prediction file (one SQL a line)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spider = args.data_dir / "spider"
    tables = spider / "tables.json"
    dev = json.loads((spider / "dev.json").read_text())
    drafts = (args.draft.read_text().splitlines() + [""] * len(dev))[: len(dev)]
    started = time.perf_counter()
    encoder = get_encoder()
    schemas: dict[str, Schema] = {}

    def schema(db_id: str) -> Schema:
        if db_id not in schemas:
            schemas[db_id] = schema_from_tables_json(tables, db_id)
        return schemas[db_id]

    # in-domain: per database, even positions are the examples, odd positions are asked
    by_db: dict[str, list[int]] = defaultdict(list)
    for i, entry in enumerate(dev):
        by_db[entry["db_id"]].append(i)
    ranker = ExampleRanker(encoder)
    indexes, asked = {}, []
    for db_id, positions in by_db.items():
        pool = [VerifiedExample(dev[i]["question"], dev[i]["query"]) for i in positions[0::2]]
        indexes[db_id] = ranker.index(pool, schema(db_id))
        asked += [Asked(dev[i]["question"], dev[i]["query"], db_id, drafts[i].strip() or None) for i in positions[1::2]]
    log.info("in-domain: %d asked, %d examples in %d databases", len(asked), sum(map(len, indexes.values())),
             len(indexes))
    in_domain = _evaluate(asked, lambda a: indexes[a.db_id].examples,
                          _methods(lambda a: indexes[a.db_id], lambda a: schema(a.db_id)))

    # cross-domain: Spider train is the pool, every dev question is asked
    train = json.loads((spider / "train" / "train_spider_stripped.json").read_text())
    pool = [VerifiedExample(t["question"], t["query"]) for t in train]
    cross_ranker = ExampleRanker(encoder)
    cross_index = cross_ranker.index(pool, [schema(t["db_id"]) for t in train])
    everyone = [Asked(e["question"], e["query"], e["db_id"], drafts[i].strip() or None) for i, e in enumerate(dev)]
    log.info("cross-domain: %d asked, %d examples", len(everyone), len(pool))
    cross_domain = _evaluate(everyone, lambda a: cross_index.examples,
                             _methods(lambda a: cross_index, lambda a: schema(a.db_id)))

    result = {"command": "python eval/examples/example_retrieval.py --data-dir ../shared/data --draft "
                         f"../shared/data/predictions/spider_dev/{args.draft.name} --output {args.output}",
              "draft": args.draft.name, "encoder": encoder.model_id, "seconds": round(time.perf_counter() - started, 1),
              "machine": f"{platform.machine()}, {platform.python_version()}",
              "in_domain": in_domain, "cross_domain": cross_domain}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for setting in ("in_domain", "cross_domain"):
        print(setting)
        for name, means in result[setting].items():
            print(f"  {name:50s} top1 {means['top1_similarity']:.3f} ({means['top1_exact']:.3f} exact)  "
                  f"top3 {means['top3_similarity']:.3f} ({means['top3_exact']:.3f} exact, "
                  f"{means['top3_any_exact']:.3f} any)")


if __name__ == "__main__":
    main()
