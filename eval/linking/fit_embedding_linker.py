"""Fit the embedding linker's two logistic models on Spider's training questions (schemas only).

    python eval/linking/fit_embedding_linker.py --data-dir ../shared/data/spider \
        --out mscsql/linking/embedding_weights.json

Features come from ``mscsql.linking.features`` exactly as the linker computes them; training questions
have no databases here, so value retrieval is simulated: a gold literal that the question quotes word for
word counts as an exact match in its column. The miss budgets are the largest that reach the requested
strict recall (``--table-recall``, ``--column-recall``) on the training questions.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mscsql.benchmarks.loaders import load_benchmark
from mscsql.db.descriptions import schema_from_tables_json
from mscsql.linking.embedding import LinkScores, select
from mscsql.linking.features import (
    COLUMN_FEATURES,
    TABLE_FEATURES,
    column_cues,
    column_features,
    question_cues,
    schema_texts,
    table_features,
)
from mscsql.linking.gold import gold_elements
from mscsql.retrieval.encoder import get_encoder
from mscsql.retrieval.text import normalize, stems

log = logging.getLogger("fit_embedding_linker")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iterations: int = 50) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (the bias is the first column)."""
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        gradient = x.T @ (p - y) / len(y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x / len(y) + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def simulated_values(texts, schema, gold, question: str) -> np.ndarray:
    """What value retrieval would report without the database: a gold literal the question quotes word for
    word is an exact match in its column (the literal is stored there, or the query would return nothing)."""
    value = np.zeros(len(texts.column_names))
    asked = f" {normalize(question)} "
    position = {(schema.tables[t].qualified_name.lower(), n.lower()): i
                for i, (t, n) in enumerate(zip(texts.column_table, texts.column_names, strict=True))}
    for literal in gold.literals:
        text = normalize(literal.text)
        if text and f" {text} " in asked and (literal.table, literal.column) in position:
            value[position[(literal.table, literal.column)]] = 1.0
    return value


def collect(data_dir: Path, split: str, limit: int | None):
    benchmark = load_benchmark(f"spider-{split}", data_dir, allow_missing_db=True)
    encoder = get_encoder()
    items = list(benchmark.items)[:limit] if limit else list(benchmark.items)
    schemas: dict[str, tuple] = {}
    questions = encoder.encode_bulk([i.question for i in items], progress=True)
    rows = []
    for item, query in tqdm(list(zip(items, questions, strict=True)), desc="features", unit="q"):
        if item.db_id not in schemas:
            schema = schema_from_tables_json(data_dir / "tables.json", item.db_id)
            texts = schema_texts(schema)
            schemas[item.db_id] = (schema, texts, encoder.encode_bulk(list(texts.table_texts)),
                                   encoder.encode_bulk(list(texts.column_texts)))
        schema, texts, table_matrix, column_matrix = schemas[item.db_id]
        gold = gold_elements(item.gold_sql, schema)
        if not gold.tables:
            continue
        sem_t, sem_c = table_matrix @ query, column_matrix @ query
        qs = stems(item.question)
        value = simulated_values(texts, schema, gold, item.question)
        cue = column_cues(texts, question_cues(item.question))
        ft = table_features(texts, qs, sem_t, sem_c, value, cue)
        yt = np.array([t.qualified_name.lower() in gold.tables for t in schema.tables], dtype=float)
        gold_cols = np.array([(schema.tables[t].qualified_name.lower(), n.lower()) in gold.columns
                              for t, n in zip(texts.column_table, texts.column_names, strict=True)], dtype=float)
        rows.append((item.db_id, schema, texts, qs, sem_c, value, ft, yt, gold_cols, cue))
    return rows


def simulate(rows, table_w, column_w, table_miss: float, column_miss: float) -> dict[str, float]:
    """Strict recall and kept fractions of the linker's selection on the collected questions."""
    t_ok = c_ok = t_frac = c_frac = 0.0
    for _db, schema, texts, qs, sem_c, value, ft, yt, gold_cols, cue in rows:
        table_logit = ft @ table_w
        column_p = 1 / (1 + np.exp(-(column_features(texts, qs, sem_c, value, table_logit, cue) @ column_w)))
        scores = LinkScores(1 / (1 + np.exp(-table_logit)), column_p, texts)
        keep, _ = select(schema, scores, table_miss=table_miss, column_miss=column_miss)
        kept_tables = {t.lower() for t in keep}
        kept_cols = {(t.lower(), c.lower()) for t, cols in keep.items() for c in cols or ()}
        gold_tables = {schema.tables[i].qualified_name.lower() for i in np.flatnonzero(yt)}
        gold_c = {(schema.tables[t].qualified_name.lower(), n.lower())
                  for t, n, g in zip(texts.column_table, texts.column_names, gold_cols, strict=True) if g}
        t_ok += gold_tables <= kept_tables
        c_ok += gold_tables <= kept_tables and gold_c <= kept_cols
        t_frac += len(kept_tables) / len(schema.tables)
        c_frac += len(kept_cols) / len(texts.column_names)
    n = len(rows)
    return {"table_recall_strict": t_ok / n, "column_recall_strict": c_ok / n,
            "tables_kept_fraction": t_frac / n, "columns_kept_fraction": c_frac / n}


def choose_thresholds(rows, table_w, column_w, args) -> tuple[float, float]:
    """The largest miss budgets (fewest kept tables and columns) that keep the requested recall."""
    grid = [round(float(x), 4) for x in np.geomspace(0.9, 0.002, 60)]
    table_miss = grid[-1]
    for candidate in grid:
        result = simulate(rows, table_w, column_w, candidate, 1.0)
        log.info("table miss %.4f: %s", candidate, result)
        if result["table_recall_strict"] >= args.table_recall:
            table_miss = candidate
            break
    column_miss = grid[-1]
    for candidate in grid:
        result = simulate(rows, table_w, column_w, table_miss, candidate)
        log.info("column miss %.4f: %s", candidate, result)
        if result["column_recall_strict"] >= args.column_recall:
            column_miss = candidate
            break
    return table_miss, column_miss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--table-recall", type=float, default=0.98)
    parser.add_argument("--column-recall", type=float, default=0.95)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = collect(args.data_dir, "train", args.limit)
    x = np.vstack([r[6] for r in rows])
    y = np.concatenate([r[7] for r in rows])
    table_w = fit_logistic(x, y)
    cx, cy = [], []
    for _db, _schema, texts, qs, sem_c, value, ft, yt, gold_cols, cue in rows:
        fc = column_features(texts, qs, sem_c, value, ft @ table_w, cue)
        in_gold_table = yt[np.asarray(texts.column_table)] > 0
        cx.append(fc[in_gold_table])
        cy.append(gold_cols[in_gold_table])
    column_w = fit_logistic(np.vstack(cx), np.concatenate(cy))
    out = {"table_features": list(TABLE_FEATURES), "table_weights": table_w.round(5).tolist(),
           "column_features": list(COLUMN_FEATURES), "column_weights": column_w.round(5).tolist(),
           "table_miss": None, "column_miss": None,
           "fitted_on": f"spider train ({len(rows)} questions, schemas only)",
           "table_recall_target": args.table_recall, "column_recall_target": args.column_recall}
    out["table_miss"], out["column_miss"] = choose_thresholds(rows, table_w, column_w, args)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
