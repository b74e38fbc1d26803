"""Spider's exact-set-match (the official ``evaluation.py --etype match``), question by question.

Gold and prediction are read as the official tools read them (:mod:`mscsql.evaluation.spider_sql`; a prediction
that cannot be read counts as the empty query, with ``value`` replaced by ``1`` first, as there). Both then
lose their values (every literal in a condition; subqueries stay) and their DISTINCTs, and each column that a
foreign key of ``tables.json`` links is replaced by the first of its linked group (the official
``rebuild_sql_val`` and ``rebuild_sql_col``, which only map columns of the query's own tables). The match is
then made component by component: SELECT (with and without aggregates), WHERE (with and without operators),
GROUP BY (with and without HAVING), ORDER BY (with LIMIT present or not), AND/OR, the nested queries (set
operations, compared recursively) and the keywords; a component matches only when its parts are the same
multiset, and the query matches when every component does and the FROM tables are the same.

Each question keeps its component scores ("partial", as the official report shows them): accuracy, recall and
F1 (each 0 or 1 for a question) with the counts of gold and predicted parts.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from mscsql.evaluation.spider_sql import AGG_OPS, WHERE_OPS, SpiderSchema, empty_tree, parse, schema_of, word_tokenizer

#: the components of the partial match, in the official report's order
COMPONENTS = ("select", "select(no AGG)", "where", "where(no OP)", "group(no Having)", "group", "order", "and/or",
              "IUEN", "keywords")


# -- foreign keys and normalisation -------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def foreign_key_maps(tables_json: str) -> dict[str, dict[str, str]]:
    """db_id -> column id -> the id of the first column (by position) of its foreign-key group."""
    maps = {}
    for entry in json.loads(Path(tables_json).read_text(encoding="utf-8")):
        names = entry["table_names_original"]
        ids = [f"__{names[t].lower()}.{c.lower()}__" if t >= 0 else "__all__"
               for t, c in entry["column_names_original"]]
        groups: list[set[int]] = []
        for a, b in entry["foreign_keys"]:
            group = next((g for g in groups if a in g or b in g), None)
            if group is None:
                group = set()
                groups.append(group)
            group |= {a, b}
        mapping = {}
        for group in groups:
            first = min(group)
            for column in group:
                mapping[ids[column]] = ids[first]
        maps[entry["db_id"]] = mapping
    return maps


def _without_values(sql: dict[str, Any] | None) -> dict[str, Any] | None:
    if sql is None:
        return None

    def condition(conds: list[Any]) -> list[Any]:
        return [c if n % 2 else (c[0], c[1], c[2], _sub(c[3]), _sub(c[4])) for n, c in enumerate(conds)]

    sql["from"]["conds"] = condition(sql["from"]["conds"])
    sql["having"] = condition(sql["having"])
    sql["where"] = condition(sql["where"])
    for op in ("intersect", "except", "union"):
        sql[op] = _without_values(sql[op])
    return sql


def _sub(value: Any) -> Any:
    return _without_values(value) if isinstance(value, dict) else None


def _own_columns(table_units: list[Any], schema: SpiderSchema) -> list[str]:
    """The column ids of the query's own tables (those a foreign key may map)."""
    prefixes = [unit[1][:-2] for unit in table_units if unit[0] == "table_unit"]
    return [v for v in schema.ids.values() if "." in v and v[:v.index(".")] in prefixes]


def _mapped(sql: dict[str, Any] | None, own: list[str], keys: dict[str, str]) -> dict[str, Any] | None:
    """``sql`` with linked columns of its own tables mapped, and DISTINCT dropped everywhere."""
    if sql is None:
        return None

    def column(unit: Any) -> Any:
        if unit is None:
            return None
        agg, col, _distinct = unit
        return agg, keys[col] if col in keys and col in own else col, None

    def value_unit(unit: Any) -> Any:
        return None if unit is None else (unit[0], column(unit[1]), column(unit[2]))

    def condition(conds: list[Any]) -> list[Any]:
        return [c if n % 2 else (c[0], c[1], value_unit(c[2]), c[3], c[4]) for n, c in enumerate(conds)]

    sql["select"] = (None, [(agg, value_unit(unit)) for agg, unit in sql["select"][1]])
    sql["from"]["table_units"] = [(kind, column(x) if isinstance(x, tuple) else x)
                                  for kind, x in sql["from"]["table_units"]]
    sql["from"]["conds"] = condition(sql["from"]["conds"])
    sql["where"] = condition(sql["where"])
    sql["groupBy"] = [column(unit) for unit in sql["groupBy"]]
    if sql["orderBy"]:
        sql["orderBy"] = (sql["orderBy"][0], [value_unit(unit) for unit in sql["orderBy"][1]])
    sql["having"] = condition(sql["having"])
    for op in ("intersect", "except", "union"):
        sql[op] = _mapped(sql[op], own, keys)
    return sql


def normalised(sql: dict[str, Any], schema: SpiderSchema, keys: dict[str, str]) -> dict[str, Any]:
    """``sql`` as the official matching compares it; like the official tool, this rewrites the tree in place (each
    caller passes a tree fresh from :func:`parse`)."""
    own = _own_columns(sql["from"]["table_units"], schema)
    tree = _without_values(sql)
    assert tree is not None
    return _mapped(tree, own, keys) or tree


# -- the components --------------------------------------------------------------------------------------------


def _scores(matched: int, predicted: int, gold: int) -> tuple[int, int, int]:
    return (1, 1, 1) if predicted == gold and matched == predicted else (0, 0, 0)


def _same_parts(pred: list[Any], gold: list[Any]) -> int:
    """How many of ``pred`` find a part of ``gold`` (each gold part used once)."""
    left, found = list(gold), 0
    for part in pred:
        if part in left:
            found += 1
            left.remove(part)
    return found


def _has_agg(unit: Any) -> bool:
    return unit[0] != AGG_OPS.index("none")


def _keywords(sql: dict[str, Any]) -> set[str]:
    found = set()
    for key, word in (("where", "where"), ("groupBy", "group"), ("having", "having")):
        if sql[key]:
            found.add(word)
    if sql["orderBy"]:
        found |= {sql["orderBy"][0], "order"}
    if sql["limit"] is not None:
        found.add("limit")
    found |= {op for op in ("except", "union", "intersect") if sql[op] is not None}
    joins = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    if "or" in joins:
        found.add("or")
    units = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    if any(u[0] for u in units):
        found.add("not")
    if any(u[1] == WHERE_OPS.index("in") for u in units):
        found.add("in")
    if any(u[1] == WHERE_OPS.index("like") for u in units):
        found.add("like")
    return found


def _nested(pred: dict[str, Any], gold: dict[str, Any]) -> tuple[int, int, int]:
    gold_total = pred_total = matched = 0
    for op in ("intersect", "except", "union"):
        pred_total += pred[op] is not None
        gold_total += gold[op] is not None
        if pred[op] is not None and gold[op] is not None:
            matched += int(exact(pred[op], gold[op])[0])
    return gold_total, pred_total, matched


def partial(pred: dict[str, Any], gold: dict[str, Any]) -> dict[str, list[int]]:
    """Each component's [accuracy, recall, F1, gold parts, predicted parts] (normalised trees)."""
    out: dict[str, list[int]] = {}

    def put(name: str, matched: int, predicted: int, gold_total: int) -> None:
        out[name] = [*_scores(matched, predicted, gold_total), gold_total, predicted]

    pred_select, gold_select = pred["select"][1], gold["select"][1]
    put("select", _same_parts(pred_select, gold_select), len(pred_select), len(gold_select))
    put("select(no AGG)", _same_parts([u[1] for u in pred_select], [u[1] for u in gold_select]), len(pred_select),
        len(gold_select))
    pred_where, gold_where = pred["where"][::2], gold["where"][::2]
    put("where", _same_parts(pred_where, gold_where), len(pred_where), len(gold_where))
    put("where(no OP)", _same_parts([u[2] for u in pred_where], [u[2] for u in gold_where]), len(pred_where),
        len(gold_where))

    def last_part(column: str) -> str:
        return column.split(".")[1] if "." in column else column

    pred_group = [u[1] for u in pred["groupBy"]]
    gold_group = [u[1] for u in gold["groupBy"]]
    put("group(no Having)", _same_parts([last_part(c) for c in pred_group], [last_part(c) for c in gold_group]),
        len(pred_group), len(gold_group))
    grouped = (len(pred["groupBy"]) > 0, len(gold["groupBy"]) > 0)
    put("group", int(all(grouped) and pred_group == gold_group and pred["having"] == gold["having"]),
        int(grouped[0]), int(grouped[1]))
    ordered = (len(pred["orderBy"]) > 0, len(gold["orderBy"]) > 0)
    same_limit = (pred["limit"] is None) == (gold["limit"] is None)
    put("order", int(ordered[1] and pred["orderBy"] == gold["orderBy"] and same_limit), int(ordered[0]),
        int(ordered[1]))
    pred_ao, gold_ao = set(pred["where"][1::2]), set(gold["where"][1::2])
    # as the official tools count it: on a mismatch the gold total is the prediction's count and the other way round
    out["and/or"] = [1, 1, 1, 1, 1] if pred_ao == gold_ao else [0, 0, 0, len(pred_ao), len(gold_ao)]
    gold_total, pred_total, matched = _nested(pred, gold)
    put("IUEN", matched, pred_total, gold_total)
    pred_words, gold_words = _keywords(pred), _keywords(gold)
    put("keywords", len(pred_words & gold_words), len(pred_words), len(gold_words))
    return out


def exact(pred: dict[str, Any], gold: dict[str, Any]) -> tuple[bool, dict[str, list[int]]]:
    """Whether ``pred`` exactly matches ``gold`` (normalised trees), and the partial scores."""
    scores = partial(pred, gold)
    if any(s[2] != 1 for s in scores.values()):
        return False, scores
    if gold["from"]["table_units"]:
        return sorted(gold["from"]["table_units"]) == sorted(pred["from"]["table_units"]), scores
    return True, scores


# -- hardness, as the official tools count it -----------------------------------------------------------------------


def _conds(sql: dict[str, Any]) -> list[Any]:
    return sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]


def hardness(sql: dict[str, Any]) -> str:
    """easy / medium / hard / extra for a gold tree (before normalisation)."""
    joins = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    first = sum(1 for key in ("where", "groupBy", "orderBy") if sql[key]) + int(sql["limit"] is not None)
    first += max(0, len(sql["from"]["table_units"]) - 1) + joins.count("or")
    first += sum(1 for u in _conds(sql) if u[1] == WHERE_OPS.index("like"))
    nested = sum(1 for u in _conds(sql) for v in (u[3], u[4]) if isinstance(v, dict))
    second = nested + sum(1 for op in ("intersect", "except", "union") if sql[op] is not None)
    aggs = sum(1 for u in sql["select"][1] if _has_agg(u)) + sum(1 for u in sql["where"][::2] if _has_agg(u))
    aggs += sum(1 for u in sql["groupBy"] if _has_agg(u)) + sum(1 for u in sql["having"] if _has_agg(u))
    if sql["orderBy"]:
        aggs += sum(1 for u in [x[1] for x in sql["orderBy"][1] if x[1]] + [x[2] for x in sql["orderBy"][1] if x[2]]
                    if _has_agg(u))
    others = int(aggs > 1) + int(len(sql["select"][1]) > 1) + int(len(sql["where"]) > 1) \
        + int(len(sql["groupBy"]) > 1)
    if first <= 1 and others == 0 and second == 0:
        return "easy"
    if (others <= 2 and first <= 1 and second == 0) or (first <= 2 and others < 2 and second == 0):
        return "medium"
    if (others > 2 and first <= 2 and second == 0) or (2 < first <= 3 and others <= 2 and second == 0) \
            or (first <= 1 and others == 0 and second <= 1):
        return "hard"
    return "extra"


# -- one question ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _gold(database: str, db_id: str, tables_json: str, gold_sql: str) -> dict[str, Any]:
    schema = schema_of(database)
    return normalised(parse(gold_sql, schema), schema, foreign_key_maps(tables_json).get(db_id, {}))


def match_question(database: str, db_id: str, tables_json: str, gold_sql: str, prediction: str
                   ) -> tuple[bool, dict[str, list[int]], bool]:
    """(exact match, partial scores, whether the prediction could be read) for one question; a gold query that
    cannot be read raises (the official tools stop there). Nothing here changes the trees, so a gold tree is read
    once and shared."""
    schema = schema_of(database)
    keys = foreign_key_maps(tables_json).get(db_id, {})
    gold = _gold(database, db_id, tables_json, gold_sql)
    try:
        tree, readable = parse(prediction.replace("value", "1"), schema), True
    except Exception:  # the official tools read any failure as the empty query
        tree, readable = empty_tree(), False
    right, scores = exact(normalised(tree, schema, keys), gold)
    return bool(right), scores, readable



# -- a scoring run --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def tables_json_of(database: str, benchmark: str) -> str:
    """The tables.json beside a Spider layout's ``database/<db_id>/<db_id>.sqlite``."""
    root = Path(database).resolve().parents[2]
    names = ["test_tables.json", "tables.json"] if benchmark == "spider-test" else ["tables.json"]
    found = next((root / n for n in names if (root / n).is_file()), None)
    if found is None:
        from mscsql.errors import DatasetError

        raise DatasetError(f"exact-match needs the benchmark's tables.json (for its foreign keys); none in {root}")
    return str(found)


#: the run a forked worker matches its share of (set in the parent while the workers are forked)
_FORKED: tuple[Any, Any] | None = None


def match_rows(run: Any, row: Any) -> list[dict[str, Any]]:
    """The rows of ``results.jsonl`` for every file and question of the scoring run ``run`` (``row`` builds one
    row, as the execution scorers do); ``partial`` holds each component's [accuracy, recall, F1, gold parts,
    predicted parts]. With several workers, several databases and fork, the databases are shared out among
    worker processes, each reading its databases' gold queries once for every file."""
    from mscsql.evaluation.workers import fork_context, results_in_workers

    items = run.benchmark.items
    by_database: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        by_database.setdefault(item.db_id, []).append(position)
    parallel = run.workers > 1 and len(by_database) > 1 and run.parallel_processes
    context = fork_context() if parallel else None
    if context is None:
        return _match(run, row, list(range(len(items))))
    shares: list[list[int]] = [[] for _ in range(min(run.workers, len(by_database)))]
    for positions in sorted(by_database.values(), key=len, reverse=True):  # the biggest to the lightest share
        min(shares, key=len).extend(positions)
    word_tokenizer()  # loaded once here, inherited by every worker
    global _FORKED
    _FORKED = (run, row)  # the workers are forked while it is set: they inherit the run, never pickled
    try:
        found = {key: value for part in results_in_workers(_match_forked, [(sorted(s),) for s in shares],
                                                           len(shares), context) for key, value in part.items()}
    finally:
        _FORKED = None
    return [found[(f, p)] for f in range(len(run.files)) for p in range(len(items))]


def _match_forked(positions: list[int]) -> dict[tuple[int, int], dict[str, Any]]:
    assert _FORKED is not None, "the parent set the run before forking"
    run, row = _FORKED
    rows = _match(run, row, positions)
    return {(f, p): rows[f * len(positions) + k] for f in range(len(run.files)) for k, p in enumerate(positions)}


def _match(run: Any, row: Any, positions: list[int]) -> list[dict[str, Any]]:
    """The rows of the questions at ``positions``, file by file."""
    rows = []
    for file in run.files:
        for item in (run.benchmark.items[p] for p in positions):
            if not item.database:
                rows.append(row(item, file.name, correct=False, status="skipped",
                                error=f"database {item.db_id} is missing"))
                continue
            tables = tables_json_of(item.database, run.benchmark.name)
            try:
                right, scores, readable = match_question(item.database, item.db_id, tables, item.gold_sql,
                                                         file.sql[item.index].strip())
            except Exception as error:  # the gold query cannot be read: the official tools stop there
                rows.append(row(item, file.name, correct=False, status="error", error=None, gold_status="error",
                                gold_error=f"the official reader cannot read the gold query ({type(error).__name__})"))
                continue
            found = row(item, file.name, correct=right, status="ok" if readable else "error",
                        error=None if readable else "the official reader cannot read it: scored as the empty query")
            found["partial"] = scores
            rows.append(found)
    return rows


def partial_summary(rows: list[dict[str, Any]], levels: list[str]) -> dict[str, Any]:
    """The official report's partial-match table: per level (and overall), per component, the accuracy (mean over
    questions with predicted parts), recall (over questions with gold parts) and their F1 (1 when both are 0)."""
    out: dict[str, Any] = {}
    for level in [*levels, "all"]:
        chosen = [r for r in rows if "partial" in r and (level == "all" or r["difficulty"] == level)]
        table = {}
        for component in COMPONENTS:
            scores = [r["partial"][component] for r in chosen]
            acc = [s[0] for s in scores if s[4] > 0]
            rec = [s[1] for s in scores if s[3] > 0]
            a = sum(acc) / len(acc) if acc else 0.0
            r_ = sum(rec) / len(rec) if rec else 0.0
            table[component] = {"acc": round(a, 6), "rec": round(r_, 6),
                                "f1": 1.0 if a == 0 and r_ == 0 else round(2 * a * r_ / (a + r_), 6)}
        out[level] = table
    return out
