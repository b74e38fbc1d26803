"""Probe: does a (question, SQL) cross-encoder pretrained on Spider train add to the checks critic?

The Spider training databases are not available, so the scorer learns from text alone: for each of the 7,000
Spider train questions, the gold query and synthetic wrong ones (sqlglot mutations of the gold: another column,
another aggregate, the opposite order or comparison, a condition, DISTINCT, LIMIT or GROUP BY dropped or added,
a literal changed; and the golds of the most similar questions on the same database), all in one canonical
spelling (sqlglot, lower case) so spelling cannot give the gold away. all-MiniLM-L6-v2 reads each (question,
SQL) pair; a linear layer over its mean-pooled states gives a score, trained listwise (the gold against its
negatives) for ``--epochs`` epochs on the CPU (about 30 minutes an epoch on 2 cores).

The score then becomes one more input of the checks critic's head (the log share, the first generator's flag,
the four answer checks), a listwise linear model fitted on the critic data of the train databases (one ordering
per question) and compared, on the evaluation pools and the test databases, with the same head without it:
the gain over the vote in questions, on every pool, and the leave-one-database-out gain on the train databases.
The critic data come from ``mscsql train data critic`` (train databases: the training pools ranked by accuracy;
test databases: the evaluation pools ranked by their accuracy on the train databases, as
``eval/critic/spider_split.py`` ranks them). Figures go to ``eval/results/sql_scorer_probe.json``.

    python eval/critic/sql_scorer_probe.py --data ../shared/data --work runs/sql-scorer-probe [--epochs 1]

The scorer's weights are kept in the work folder after each epoch; a second run resumes or reuses them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from tqdm import tqdm

from mscsql.critic.encoder import MIN_SHARE
from mscsql.critic.encoder_pairs import most_agreed, question_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from spider_split import mscsql, rank_pool, read_pools  # noqa: E402

log = logging.getLogger("sql_scorer_probe")

#: the most tokens of one (question, SQL) pair
MAX_LENGTH = 128
#: questions per optimisation step (each with its gold and negatives)
QUESTIONS_PER_STEP = 8
AGGREGATE_SWAPS: dict[type[exp.Expression], list[type[exp.Expression]]] = {
    exp.Count: [exp.Sum], exp.Sum: [exp.Count, exp.Avg], exp.Avg: [exp.Sum, exp.Max], exp.Max: [exp.Min],
    exp.Min: [exp.Max]}
COMPARISON_SWAPS: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}
WORD = re.compile(r"\w+")
SQL_LINE = re.compile(r'^SQL: (".*")$', re.M)


# -- synthetic negatives ---------------------------------------------------------------------------------------

def canonical(sql: str) -> str:
    """One spelling for every query: sqlglot's SQLite rendering (ascending order implicit, NULLs where SQLite
    puts them by default), lower case, single spaces."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
        if tree is None:
            return " ".join(sql.lower().split())
        for ordered in tree.find_all(exp.Ordered):
            descending = bool(ordered.args.get("desc"))
            ordered.set("desc", True if descending else None)
            ordered.set("nulls_first", not descending)
        text = tree.sql(dialect="sqlite")
    except SqlglotError:
        text = sql
    return " ".join(text.lower().split())


def schema_columns(tables_json: Path) -> dict[str, list[str]]:
    """Each database's column names (tables.json)."""
    out = {}
    for entry in json.loads(tables_json.read_text(encoding="utf-8")):
        out[entry["db_id"]] = sorted({name for table, name in entry["column_names_original"] if table >= 0})
    return out


def drop_clause(tree: exp.Expression, clause: type[exp.Expression], dependent: type[exp.Expression]) -> bool:
    """Remove the first ``clause`` of ``tree`` and the ``dependent`` one that needs it (ORDER BY's LIMIT, GROUP
    BY's HAVING); False when there is no ``clause``."""
    found = tree.find(clause)
    if found is None:
        return False
    found.pop()
    follower = tree.find(dependent)
    if follower is not None:
        follower.pop()
    return True


def _mutators(columns: Sequence[str], rng: random.Random) -> list[Callable[[exp.Expression], bool]]:
    """Functions that change a parsed query in place; each returns False when it does not apply."""

    def other_column(column: exp.Column) -> bool:
        choices = [c for c in columns if c.lower() != column.name.lower()]
        if not choices:
            return False
        column.set("this", exp.to_identifier(rng.choice(choices)))
        return True

    def select_column(tree: exp.Expression) -> bool:
        select = tree.find(exp.Select)
        found = [c for e in select.expressions for c in e.find_all(exp.Column)] if select else []
        return bool(found) and other_column(rng.choice(found))

    def where_column(tree: exp.Expression) -> bool:
        where = tree.find(exp.Where)
        found = list(where.find_all(exp.Column)) if where else []
        return bool(found) and other_column(rng.choice(found))

    def aggregate(tree: exp.Expression) -> bool:
        found = [a for a in tree.find_all(exp.AggFunc)  # COUNT(*) has no other aggregate
                 if type(a) in AGGREGATE_SWAPS and a.this is not None and not isinstance(a.this, exp.Star)]
        if not found:
            return False
        old = rng.choice(found)
        old.replace(rng.choice(AGGREGATE_SWAPS[type(old)])(this=old.this.copy()))
        return True

    def add_count(tree: exp.Expression) -> bool:
        select = tree.find(exp.Select)
        if select is None or not select.expressions or any(select.find_all(exp.AggFunc)):
            return False
        first = select.expressions[0]
        first.replace(exp.Count(this=first.copy()))
        return True

    def drop_aggregate(tree: exp.Expression) -> bool:
        found = [a for a in tree.find_all(exp.AggFunc) if a.this is not None and not isinstance(a.this, exp.Star)]
        if not found:
            return False
        old = rng.choice(found)
        old.replace(old.this.copy())
        return True

    def flip_order(tree: exp.Expression) -> bool:
        found = list(tree.find_all(exp.Ordered))
        if not found:
            return False
        chosen = rng.choice(found)
        chosen.set("desc", not chosen.args.get("desc"))
        return True

    def drop_order(tree: exp.Expression) -> bool:
        return drop_clause(tree, exp.Order, exp.Limit)

    def drop_condition(tree: exp.Expression) -> bool:
        where = tree.find(exp.Where)
        if where is None:
            return False
        parts = list(where.this.flatten()) if isinstance(where.this, exp.And) else []
        if len(parts) > 1:
            dropped = rng.choice(parts)
            where.set("this", exp.and_(*[p.copy() for p in parts if p is not dropped]))
        else:
            where.pop()
        return True

    def comparison(tree: exp.Expression) -> bool:
        found = [c for c in tree.find_all(*COMPARISON_SWAPS) if type(c) in COMPARISON_SWAPS]
        if not found:
            return False
        old = rng.choice(found)
        old.replace(COMPARISON_SWAPS[type(old)](this=old.this.copy(), expression=old.expression.copy()))
        return True

    def distinct(tree: exp.Expression) -> bool:
        select = tree.find(exp.Select)
        if select is None:
            return False
        select.set("distinct", None if select.args.get("distinct") else exp.Distinct())
        return True

    def limit(tree: exp.Expression) -> bool:
        found = tree.find(exp.Limit)
        if found is not None:
            found.pop()
            return True
        if tree.find(exp.Order) is None:
            return False
        tree.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        return True

    def drop_select_column(tree: exp.Expression) -> bool:
        select = tree.find(exp.Select)
        if select is None or len(select.expressions) < 2:
            return False
        rng.choice(select.expressions).pop()
        return True

    def add_select_column(tree: exp.Expression) -> bool:
        select = tree.find(exp.Select)
        if select is None or not columns:
            return False
        select.expressions.append(exp.column(rng.choice(list(columns))))
        return True

    def drop_group(tree: exp.Expression) -> bool:
        return drop_clause(tree, exp.Group, exp.Having)

    def literal(tree: exp.Expression) -> bool:
        found = list(tree.find_all(exp.Literal))
        if not found:
            return False
        old = rng.choice(found)
        if old.is_string:
            old.replace(exp.Literal.string(old.this.title() if old.this.islower() else old.this.lower() + "s"))
            return True
        try:
            value = float(old.this)
        except ValueError:
            return False
        old.replace(exp.Literal.number(int(value) + rng.choice([-1, 1, 10])))
        return True

    return [select_column, where_column, aggregate, add_count, drop_aggregate, flip_order, drop_order,
            drop_condition, comparison, distinct, limit, drop_select_column, add_select_column, drop_group, literal]


def mutations(sql: str, columns: Sequence[str], rng: random.Random) -> list[str]:
    """Every mutation of ``sql`` that applies, rendered canonically (duplicates of the gold dropped)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        return []
    if tree is None:
        return []
    gold = canonical(sql)
    out = []
    for mutate in _mutators(columns, rng):
        copy = tree.copy()
        try:
            if mutate(copy) is False:
                continue
            text = canonical(copy.sql(dialect="sqlite"))
        except (SqlglotError, ValueError, AttributeError):
            continue
        if text and text != gold:
            out.append(text)
    return out


class Gold(NamedTuple):
    """A training question's words and its gold query in the canonical spelling (each worked out once)."""

    words: frozenset[str]
    sql: str


def gold_of(item: dict[str, str]) -> Gold:
    return Gold(frozenset(WORD.findall(item["question"].lower())), canonical(item["query"]))


def similar_golds(gold: Gold, same_database: Sequence[Gold], k: int) -> list[str]:
    """The golds of the ``k`` questions on the same database whose words overlap ``gold``'s the most."""
    scored = [(len(gold.words & other.words) / max(1, len(gold.words | other.words)), other.sql)
              for other in same_database if other.sql != gold.sql]
    scored.sort(key=lambda pair: -pair[0])
    return [sql for _, sql in scored[:k]]


def synthetic_lists(items: Sequence[dict[str, str]], columns: dict[str, list[str]], negatives: int,
                    seed: int) -> list[tuple[str, list[str]]]:
    """(question text, [gold, negative, ...]) for each item with at least one negative."""
    rng = random.Random(seed)
    golds = [gold_of(item) for item in tqdm(items, desc="canonical golds", unit="q")]
    by_database: dict[str, list[Gold]] = {}
    for item, gold in zip(items, golds, strict=True):
        by_database.setdefault(item["db_id"], []).append(gold)
    lists = []
    for item, gold in tqdm(list(zip(items, golds, strict=True)), desc="synthetic negatives", unit="q"):
        mutated = mutations(item["query"], columns.get(item["db_id"], []), rng)
        rng.shuffle(mutated)
        near = similar_golds(gold, by_database[item["db_id"]], 2)
        chosen = list(dict.fromkeys(x for x in mutated[: negatives - 2] + near + mutated[negatives - 2:]
                                    if x != gold.sql))[:negatives]
        if chosen:
            lists.append((question_text(item["question"], None), [gold.sql, *chosen]))
    return lists


# -- the scorer ------------------------------------------------------------------------------------------------

def build_scorer() -> tuple[Any, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from mscsql.retrieval.encoder import resolve_model

    source = resolve_model("all-MiniLM-L6-v2")

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(source)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)

        def forward(self, batch: Any) -> Any:
            states = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            return self.head((states * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return AutoTokenizer.from_pretrained(source), Scorer()


def pretrain(lists: list[tuple[str, list[str]]], epochs: int, seed: int, work: Path) -> tuple[Any, Any]:
    """The scorer after ``epochs`` epochs over ``lists``. Each epoch's weights are kept in ``work``
    (``scorer-{epochs}ep-{epoch}.pt``): a run that stopped resumes after its last finished epoch, and a finished
    one is reused."""
    import torch

    torch.manual_seed(seed)
    tokenizer, model = build_scorer()
    saved = [e for e in range(1, epochs + 1) if (work / f"scorer-{epochs}ep-{e}.pt").is_file()]
    done = max(saved, default=0)
    if done:
        model.load_state_dict(torch.load(work / f"scorer-{epochs}ep-{done}.pt", weights_only=True))
        log.info("reusing the scorer after %d of %d epoch(s)", done, epochs)
    if done < epochs:
        _train(model, tokenizer, lists, epochs, done, seed, work)
    model.eval()
    return tokenizer, model


def _train(model: Any, tokenizer: Any, lists: list[tuple[str, list[str]]], epochs: int, done: int, seed: int,
           work: Path) -> None:
    import torch

    per_epoch = len(lists) // QUESTIONS_PER_STEP
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    total, offset = max(1, epochs * per_epoch), done * per_epoch  # a resumed run's schedule goes on from offset

    def factor(step: int) -> float:  # linear warm-up over 50 steps, then linear decay to 0
        step += offset
        return min(1.0, (step + 1) / 50) * max(0.0, 1 - step / total)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    for epoch in range(done + 1, epochs + 1):
        order = list(lists)
        random.Random(seed + epoch).shuffle(order)
        bar = tqdm(range(0, per_epoch * QUESTIONS_PER_STEP, QUESTIONS_PER_STEP), desc=f"pretraining {epoch}")
        for start in bar:
            chunk = order[start: start + QUESTIONS_PER_STEP]
            pairs = [(q, sql) for q, sqls in chunk for sql in sqls]
            logits = model(tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation=True,
                                     max_length=MAX_LENGTH, return_tensors="pt"))
            losses, position = [], 0
            for _q, sqls in chunk:  # the gold is first in each list
                losses.append(-torch.log_softmax(logits[position: position + len(sqls)], 0)[0])
                position += len(sqls)
            loss = torch.stack(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        torch.save(model.state_dict(), work / f"scorer-{epochs}ep-{epoch}.pt")


def score_pairs(tokenizer: Any, model: Any, pairs: Sequence[tuple[str, str]], batch: int = 128) -> list[float]:
    import torch

    out: list[float] = []
    with torch.no_grad():
        for start in tqdm(range(0, len(pairs), batch), desc="scoring", unit="batch"):
            chunk = pairs[start: start + batch]
            out += model(tokenizer([q for q, _ in chunk], [canonical(s) for _, s in chunk], padding=True,
                                   truncation=True, max_length=MAX_LENGTH, return_tensors="pt")).tolist()
    return out


# -- the head: a listwise linear model over the options' features ----------------------------------------------

def read_options(folder: Path) -> list[dict[str, Any]]:
    """The questions of a critic dataset (one ordering each), with each option's SQL."""
    from mscsql.training.dataset_io import read_dataset

    data, _card = read_dataset(str(folder), "critic")
    out = []
    for row in data["train"]:
        sqls = []
        for text in row["group_texts"]:
            found = SQL_LINE.search(text)
            sqls.append(json.loads(found.group(1)) if found else "")
        out.append({"question": row["question"], "sqls": sqls, "shares": row["shares"], "firsts": row["firsts"],
                    "checks": row["checks"], "labels": row["labels"], "db": row["db_id"], "pool": tuple(row["pool"])})
    return out


def checks_features(option_set: dict[str, Any]) -> list[list[float]]:
    return [[math.log(max(s, MIN_SHARE)), f, *c] for s, f, c in
            zip(option_set["shares"], option_set["firsts"], option_set["checks"], strict=True)]


def with_scorer(option_set: dict[str, Any]) -> list[list[float]]:
    top = max(option_set["scores"])
    return [[*row, s - top] for row, s in zip(checks_features(option_set), option_set["scores"], strict=True)]


def fit_head(option_sets: Sequence[dict[str, Any]], features: Callable[[dict[str, Any]], list[list[float]]],
             l2: float) -> list[float]:
    """The weights maximising the listwise likelihood of the right options (L2 on all but the vote's two)."""
    import torch

    xs = [torch.tensor(features(o), dtype=torch.float64) for o in option_sets]
    ys = [torch.tensor(o["labels"]) > 0 for o in option_sets]
    weights = torch.zeros(xs[0].shape[1], dtype=torch.float64)
    weights[0], weights[1] = 1.0, 0.1  # start from the vote
    weights.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weights], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        loss = sum(-torch.logsumexp(torch.log_softmax(x @ weights, 0)[y], 0) for x, y in zip(xs, ys, strict=True))
        loss = loss / len(xs) + l2 * (weights[2:] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().tolist()


def gain_over_vote(option_sets: Sequence[dict[str, Any]], weights: Sequence[float],
                   features: Callable[[dict[str, Any]], list[list[float]]]) -> int:
    """Questions the head gets right minus those the vote gets right."""
    total = 0
    for o in option_sets:
        logits = [sum(w * x for w, x in zip(weights, row, strict=True)) for row in features(o)]
        pick = max(range(len(logits)), key=lambda i: (logits[i], -i))
        total += o["labels"][pick] - o["labels"][most_agreed(o["shares"], o["firsts"])]
    return total


def leave_one_database_out(option_sets: Sequence[dict[str, Any]],
                           features: Callable[[dict[str, Any]], list[list[float]]], l2: float) -> int:
    total = 0
    for database in sorted({o["db"] for o in option_sets}):
        weights = fit_head([o for o in option_sets if o["db"] != database], features, l2)
        total += gain_over_vote([o for o in option_sets if o["db"] == database], weights, features)
    return total


# -- the probe -------------------------------------------------------------------------------------------------

def critic_data(spider: str, work: Path) -> tuple[Path, Path, list[list[str]]]:
    """The train databases' critic data, and the test databases' for the ranked evaluation pools."""
    train, test = work / "train-data", work / "test-data"
    pools = [rank_pool(given, spider, work / f"rank-{n}")
             for n, given in enumerate(read_pools(HERE / "eval_pools.txt"), start=1)]
    ranked = work / "eval_pools_ranked.txt"
    ranked.write_text("".join(",".join(p) + "\n" for p in pools), encoding="utf-8")
    common = ["--benchmark", "spider-dev", "--data-dir", spider, "--allow-missing-db", "--orderings", "1",
              "--eval-fraction", "0"]
    if not (train / "card.json").is_file():
        mscsql("train", "data", "critic", *common, "--dbs", "even", "--pools-file", str(HERE / "train_pools.txt"),
               "--order-by-accuracy", "--output", str(train))
    if not (test / "card.json").is_file():
        mscsql("train", "data", "critic", *common, "--dbs", "odd", "--pools-file", str(ranked), "--output", str(test))
    return train, test, pools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the folder with spider/")
    parser.add_argument("--work", type=Path, default=Path("runs/sql-scorer-probe"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--l2", type=float, nargs="+", default=[1e-3, 1e-2])
    parser.add_argument("--output", type=Path, default=Path("eval/results/sql_scorer_probe.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spider = args.data / "spider"
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    train_dir, test_dir, pools = critic_data(str(spider), args.work)
    items = json.loads((spider / "train" / "train_spider_stripped.json").read_text(encoding="utf-8"))
    lists = synthetic_lists(items, schema_columns(spider / "tables.json"), args.negatives, args.seed)
    tokenizer, model = pretrain(lists, args.epochs, args.seed, args.work)
    train, test = read_options(train_dir), read_options(test_dir)
    pairs = sorted({(o["question"], s) for o in train + test for s in o["sqls"]})
    scores = dict(zip(pairs, score_pairs(tokenizer, model, pairs), strict=True))
    for o in train + test:
        o["scores"] = [scores[(o["question"], s)] for s in o["sqls"]]
    names = [tuple(Path(f).name for f in pool) for pool in pools]
    test_questions = json.loads((test_dir / "card.json").read_text(encoding="utf-8"))["questions_seen"] // len(pools)
    record: dict[str, Any] = {
        "synthetic_lists": len(lists), "epochs": args.epochs, "negatives": args.negatives,
        "test_questions": test_questions, "pools": [list(n) for n in names], "heads": [],
        "scorer_alone_right": {name: sum(o["labels"][max(range(len(o["scores"])), key=o["scores"].__getitem__)]
                                         for o in data) for name, data in (("train", train), ("test", test))},
        "contested": {"train": len(train), "test": len(test)}}
    for l2 in args.l2:
        for label, features in (("checks", checks_features), ("checks + scorer", with_scorer)):
            weights = fit_head(train, features, l2)
            gains = [gain_over_vote([o for o in test if o["pool"] == n], weights, features) for n in names]
            record["heads"].append({"features": label, "l2": l2, "weights": [round(w, 3) for w in weights],
                                    "test_gain_questions": gains,
                                    "test_gain_points": [round(100 * g / test_questions, 2) for g in gains],
                                    "train_lodo_gain_questions": leave_one_database_out(train, features, l2)})
    record["seconds"] = round(time.monotonic() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("| head | l2 | gain over the vote, test pools 1-4 (points) | LODO gain, train (questions) |")
    print("|---|---:|---|---:|")
    for h in record["heads"]:
        gains = ", ".join(f"{g:+.2f}" for g in h["test_gain_points"])
        print(f"| {h['features']} | {h['l2']:g} | {gains} | {h['train_lodo_gain_questions']:+d} |")


if __name__ == "__main__":
    main()
