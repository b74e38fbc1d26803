"""Benchmark: the value index on a generated database with at least 200,000 distinct values.

Prints build throughput (values/s), index size on disk, and per-question latency (p50/p95) of the
combined matcher (exact, near-exact, partial, category and embedding matches), excluding the one question
embedding (computed beforehand, as the pipeline shares it with the linker). The baseline, run side by
side on the same questions, is the obvious alternative: rapidfuzz's ``partial_ratio`` of the question
against every value, plus a brute-force cosine over every embedding.

    python eval/bench/retrieval.py --values 200000 [--questions 200] [--output eval/results/retrieval.json]
"""

from __future__ import annotations

import argparse
import logging
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import machine, write_figures

from mscsql.config import RetrievalSettings
from mscsql.db import connect
from mscsql.retrieval import ValueIndex, get_encoder
from mscsql.retrieval.text import normalize

log = logging.getLogger("bench.retrieval")

SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "shi", "an", "del", "mor", "qui", "zu", "bel", "tor", "ny", "es",
             "gar", "lin", "po", "fe", "ux", "dra", "con", "wi")


def word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def make_database(path: Path, values: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Tables of people, places and products whose text columns hold ``values`` distinct values in all."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT, email TEXT, city TEXT, status TEXT);
        CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT, sku TEXT, category TEXT);
    """)
    per_table = int(values * 0.55)  # a little over half each: a few generated names collide
    people = [(f"{word(rng)} {word(rng)}", f"user{i}@{word(rng).lower()}.example", f"{word(rng)} City",
               rng.choice(("active", "inactive", "banned"))) for i in range(per_table // 3 + 1)]
    products = [(f"{word(rng)} {word(rng)} {rng.randint(1, 999)}", f"SKU-{i:07d}",
                 rng.choice(("tools", "food", "toys"))) for i in range(per_table // 2 + 1)]
    conn.executemany("INSERT INTO people (full_name, email, city, status) VALUES (?, ?, ?, ?)", people)
    conn.executemany("INSERT INTO products (title, sku, category) VALUES (?, ?, ?)", products)
    conn.commit()
    conn.close()
    samples = [("people", "full_name", p[0]) for p in rng.sample(people, 50)]
    samples += [("products", "title", p[0]) for p in rng.sample(products, 50)]
    return samples


def questions(samples: list[tuple[str, str, str]], count: int, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    asked = []
    templates = ("How many orders did {} place last year?", "Show the price of {} in every store.",
                 "Which city is {} from, and what is the email address?", "List everything about {}")
    for i in range(count):
        _table, _column, value = samples[i % len(samples)]
        mention = value
        if i % 3 == 1:  # a typo
            at = rng.randrange(1, len(value) - 1)
            mention = value[:at] + value[at + 1:]
        elif i % 3 == 2:
            mention = value.lower()
        asked.append((rng.choice(templates).format(mention), value))
    return asked


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--baseline-questions", type=int, default=30, help="the brute-force scan is slow")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "generated.sqlite"
        samples = make_database(db_path, args.values)
        settings = RetrievalSettings(max_values_per_column=args.values)
        encoder = get_encoder()
        encoder.encode(["warm up"])
        with connect(db_path) as db:
            started = time.perf_counter()
            index = ValueIndex.build(db, settings, encoder=encoder, progress=True)
            build_s = time.perf_counter() - started
            folder = index.save(Path(tmp) / "index")
        size = sum(p.stat().st_size for p in folder.iterdir())
        asked = questions(samples, args.questions)
        embeddings = encoder.encode([q for q, _ in asked])
        latencies, hits = [], 0
        for (question, value), query in zip(asked, embeddings, strict=True):
            started = time.perf_counter()
            matches = index.search(question, query_embedding=query)
            latencies.append(time.perf_counter() - started)
            hits += any(m.value == value for m in matches)
        from rapidfuzz import fuzz, process

        normalized = [normalize(v) for v in index.values]
        baseline, baseline_hits = [], 0
        for (question, value), query in list(zip(asked, embeddings, strict=True))[: args.baseline_questions]:
            started = time.perf_counter()
            found = process.extract(normalize(question), normalized, scorer=fuzz.partial_ratio, limit=20)
            similarities = index.embeddings @ query
            np.argsort(-similarities)[:20]
            baseline.append(time.perf_counter() - started)
            baseline_hits += any(index.values[i] == value for _, _, i in found)
    figures = {
        "machine": machine(), "values": len(index), "columns": len(index.columns),
        "build_s": round(build_s, 1), "build_values_per_s": round(len(index) / build_s),
        "index_mb": round(size / 1e6, 1), "questions": len(asked),
        "p50_ms": round(1000 * percentile(latencies, 50), 2), "p95_ms": round(1000 * percentile(latencies, 95), 2),
        "hit_rate": round(hits / len(asked), 3),
        "baseline_questions": len(baseline),
        "baseline_p50_ms": round(1000 * percentile(baseline, 50), 2),
        "baseline_p95_ms": round(1000 * percentile(baseline, 95), 2),
        "baseline_hit_rate": round(baseline_hits / len(baseline), 3),
    }
    figures["p95_speedup_vs_baseline"] = round(figures["baseline_p95_ms"] / figures["p95_ms"], 1)
    print(f"{machine()}")
    print(f"index: {figures['values']} values in {figures['columns']} columns, built in {figures['build_s']}s "
          f"({figures['build_values_per_s']} values/s), {figures['index_mb']} MB on disk")
    print(f"{'':>22} {'p50 ms':>9} {'p95 ms':>9} {'hit rate':>9}")
    print(f"{'mscsql ValueIndex':>22} {figures['p50_ms']:>9} {figures['p95_ms']:>9} {figures['hit_rate']:>9}")
    print(f"{'brute-force scan':>22} {figures['baseline_p50_ms']:>9} {figures['baseline_p95_ms']:>9} "
          f"{figures['baseline_hit_rate']:>9}")
    print(f"p95 ratio (scan / index): {figures['p95_speedup_vs_baseline']}x")
    write_figures(args.output, figures)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
