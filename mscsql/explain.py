"""Plain-English explanations of a query, built from its syntax tree (sqlglot; no model): what it counts, finds
or lists, from which tables and how they are joined, the filters with their values, the grouping, the
conditions on groups, the order and the limit, as sentences a business user reads:

    >>> explain("SELECT count(*) FROM orders WHERE status = 'cancelled'", "sqlite")
    "Counts the orders whose status is 'cancelled'."

Every table the query reads and every literal it holds appear in the explanation (a last sentence names any
that the phrasing left out), so nothing the query depends on is hidden. A statement that does not parse is
explained as such; nothing here raises for user input.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from mscsql.db.guard import sqlglot_dialect

_AGGREGATES = {exp.Avg: "the average", exp.Sum: "the total", exp.Min: "the lowest", exp.Max: "the highest"}
_COMPARISONS = {exp.EQ: "is", exp.NEQ: "is not", exp.GT: "is above", exp.GTE: "is at least", exp.LT: "is below",
                exp.LTE: "is at most", exp.Like: "matches", exp.ILike: "matches (any case)"}
_SET_WORDS = {exp.Union: "together with", exp.Intersect: "that also appear in", exp.Except: "leaving out"}


def explain(sql: str, dialect: str = "sqlite") -> str:
    """One or a few sentences saying what ``sql`` does (see the module's docstring)."""
    try:
        tree = sqlglot.parse_one(sql, read=sqlglot_dialect(dialect))
    except Exception:  # sqlglot's errors, or a pathological input: model output is arbitrary text
        return "This query could not be read, so it is not explained."
    if tree is None:
        return "There is no query to explain."
    try:
        text = _sentence(tree)
    except Exception:  # an unusual construct: say what it reads rather than fail
        text = "Runs a query."
    return _complete(text, tree)


def _sentence(tree: exp.Expression) -> str:
    if isinstance(tree, exp.Union | exp.Intersect | exp.Except):
        left, right = _sentence(tree.left).rstrip("."), _lower_first(_sentence(tree.right).rstrip("."))
        word = _SET_WORDS[type(tree)] + ("" if tree.args.get("distinct", True) else " (keeping repeats)")
        return f"{left}, {word} the results of: {right}."
    if not isinstance(tree, exp.Select):
        inner = tree.find(exp.Select)
        return _sentence(inner) if inner is not None else "Runs a query."
    steps = []
    with_ = tree.args.get("with_") or tree.args.get("with")
    if with_ is not None:
        for cte in with_.expressions:
            steps.append(f"First, as {cte.alias_or_name}: {_lower_first(_sentence(cte.this).rstrip('.'))}.")
    aliases = _aliases(tree)
    if (tree.args.get("from_") or tree.args.get("from")) is None:
        steps.append("Computes " + _join_words(_phrase(i, aliases) for i in tree.expressions) + ".")
        return " ".join(steps)
    what = _projection(tree, aliases)
    source = _source(tree, aliases)
    head = f"{what} {source}".strip()
    where = tree.args.get("where")
    if where is not None:
        head += " " + _whose(_condition(where.this, aliases))
    parts = [head]
    group = tree.args.get("group")
    if group is not None and group.expressions:
        parts.append("for each " + _join_words(_phrase(_selected(g, tree), aliases) for g in group.expressions))
    having = tree.args.get("having")
    if having is not None:
        parts.append(f"keeping only the groups {_whose(_condition(having.this, aliases))}")
    order = tree.args.get("order")
    limit = tree.args.get("limit")
    if order is not None and order.expressions:
        parts.append("sorted by " + _join_words(_ordering(o, aliases, tree) for o in order.expressions))
    if limit is not None:
        count = limit.expression.sql() if limit.expression is not None else limit.sql()
        offset = tree.args.get("offset")
        skipped = f" after skipping {offset.expression.sql()}" if offset is not None and offset.expression else ""
        parts.append(f"keeping the first {count}{skipped}")
    steps.append(", ".join(parts) + ".")
    return " ".join(steps)


def _whose(condition: str) -> str:
    return "whose " + (condition[4:] if condition.startswith("the ") else condition)


def _aliases(select: exp.Select) -> dict[str, str]:
    """alias -> table name, for the tables of this SELECT."""
    found = {}
    for table in select.find_all(exp.Table):
        if table.alias:
            found[table.alias.lower()] = table.name
    return found


def _projection(select: exp.Select, aliases: dict[str, str]) -> str:
    items = select.expressions
    distinct = " distinct" if select.args.get("distinct") else ""
    counts = [i for i in items if isinstance(_unalias(i), exp.Count)]
    if len(items) == 1 and counts:
        inner = _unalias(items[0]).this
        if inner is None or isinstance(inner, exp.Star):
            return "Counts the"
        if isinstance(inner, exp.Distinct):
            return "Counts the distinct " + _join_words(_phrase(e, aliases) for e in inner.expressions) + " of the"
        return f"Counts the {_phrase(inner, aliases)} values of the"
    if len(items) == 1 and type(_unalias(items[0])) in _AGGREGATES:
        node = _unalias(items[0])
        return f"Finds {_AGGREGATES[type(node)]} {_phrase(node.this, aliases)} of the"
    if len(items) == 1 and isinstance(_unalias(items[0]), exp.Star):
        return f"Lists every{distinct} row of the"
    return f"Lists the{distinct} " + _join_words(_phrase(i, aliases) for i in items) + " of the"


def _source(select: exp.Select, aliases: dict[str, str]) -> str:
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is None:
        return "values computed without a table"
    first = _table_phrase(from_.this)
    joins = select.args.get("joins") or []
    if not joins:
        return first
    joined = []
    for join in joins:
        name = _table_phrase(join.this)
        on = join.args.get("on")
        using = join.args.get("using")
        if on is not None:
            keys = [_phrase(c, aliases) for c in on.find_all(exp.Column)]
            joined.append(f"{name} (matched on {_join_words(dict.fromkeys(keys))})" if keys else name)
        elif using:
            joined.append(f"{name} (matched on {_join_words(_phrase(u, aliases) for u in using)})")
        else:
            joined.append(name)
    return f"{first} joined with {_join_words(joined)}"


def _table_phrase(node: exp.Expression) -> str:
    if isinstance(node, exp.Table):
        return node.name if not node.db else f"{node.db}.{node.name}"
    if isinstance(node, exp.Subquery):
        return f"results of ({_lower_first(_sentence(node.this).rstrip('.'))})"
    return node.sql()


def _condition(node: exp.Expression, aliases: dict[str, str]) -> str:
    if isinstance(node, exp.And):
        return f"{_condition(node.left, aliases)} and {_condition(node.right, aliases)}"
    if isinstance(node, exp.Or):
        return f"{_condition(node.left, aliases)} or {_condition(node.right, aliases)}"
    if isinstance(node, exp.Paren):
        return f"({_condition(node.this, aliases)})"
    if isinstance(node, exp.Not):
        positive = _condition(node.this, aliases)
        for word, negated in ((" is among ", " is not among "), (" is one of ", " is not one of "),
                              (" matches ", " does not match "), ("matching rows exist", "no matching rows exist"),
                              (" is missing", " is present")):
            if word in positive and positive.count(word) == 1 and isinstance(node.this, exp.In | exp.Like
                                                                               | exp.ILike | exp.Exists | exp.Is):
                return positive.replace(word, negated)
        return f"not ({positive})"
    if type(node) in _COMPARISONS:
        return f"{_phrase(node.left, aliases)} {_COMPARISONS[type(node)]} {_phrase(node.right, aliases)}"
    if isinstance(node, exp.In):
        query = node.args.get("query")
        if query is not None:
            inner = query.this if isinstance(query, exp.Subquery) else query
            among = _lower_first(_sentence(inner).rstrip("."))
            return f"{_phrase(node.this, aliases)} is among the results of ({among})"
        choices = _join_words((_phrase(e, aliases) for e in node.expressions), "or")
        return f"{_phrase(node.this, aliases)} is one of {choices}"
    if isinstance(node, exp.Between):
        return (f"{_phrase(node.this, aliases)} is between {_phrase(node.args['low'], aliases)} and "
                f"{_phrase(node.args['high'], aliases)}")
    if isinstance(node, exp.Is):
        return f"{_phrase(node.this, aliases)} is missing" if isinstance(node.expression, exp.Null) else node.sql()
    if isinstance(node, exp.Exists):
        return f"matching rows exist in ({_lower_first(_sentence(node.this).rstrip('.'))})"
    return _phrase(node, aliases)


def _ordering(node: exp.Ordered, aliases: dict[str, str], select: exp.Select) -> str:
    direction = "from highest to lowest" if node.args.get("desc") else "from lowest to highest"
    return f"{_phrase(_selected(node.this, select), aliases)} {direction}"


def _position(node: exp.Expression, select: exp.Select) -> int | None:
    """The 1-based position in the select list that ``node`` names (``GROUP BY 1``), else None."""
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit() \
            and 1 <= int(node.this) <= len(select.expressions):
        return int(node.this)
    return None


def _selected(node: exp.Expression, select: exp.Select) -> exp.Expression:
    """What ``node`` groups or sorts by: the selected expression a position names (without its alias), else
    ``node`` itself."""
    position = _position(node, select)
    return node if position is None else _unalias(select.expressions[position - 1])


def _phrase(node: exp.Expression | None, aliases: dict[str, str]) -> str:
    """A value, a column or a computed expression as words (the SQL text for what has no better name)."""
    if node is None:
        return "the rows"
    if isinstance(node, exp.Alias):
        inner = _phrase(node.this, aliases)
        return inner if node.alias.lower() in inner.lower() else f"{inner} (as {node.alias})"
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Literal):
        return node.sql()
    if isinstance(node, exp.Star):
        return "every column"
    if isinstance(node, exp.Count):
        inner = node.this
        if inner is None or isinstance(inner, exp.Star):
            return "the number of rows"
        if isinstance(inner, exp.Distinct):
            return "the number of distinct " + _join_words(_phrase(e, aliases) for e in inner.expressions)
        return f"the number of {_phrase(inner, aliases)} values"
    if type(node) in _AGGREGATES:
        return f"{_AGGREGATES[type(node)]} {_phrase(node.this, aliases)}"
    if isinstance(node, exp.Subquery):
        return f"the result of ({_lower_first(_sentence(node.this).rstrip('.'))})"
    if isinstance(node, exp.Distinct):
        return "distinct " + _join_words(_phrase(e, aliases) for e in node.expressions)
    return node.sql()


def _unalias(node: exp.Expression) -> exp.Expression:
    return node.this if isinstance(node, exp.Alias) else node


def _join_words(items: Iterable[str], conjunction: str = "and") -> str:
    words = [w for w in items if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _complete(text: str, tree: exp.Expression) -> str:
    """``text`` with a last sentence naming every table and literal it does not mention yet."""
    lowered = text.lower()
    own = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = [t.name for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in own]
    missing_tables = [t for t in dict.fromkeys(tables) if t.lower() not in lowered]
    literals = [lit.sql() for lit in tree.find_all(exp.Literal) if not _names_a_position(lit)]
    missing_values = [v for v in dict.fromkeys(literals) if v.lower() not in lowered]
    extra = []
    if missing_tables:
        extra.append(f"It reads {_join_words(missing_tables)}")
    if missing_values:
        extra.append(f"it uses the values {_join_words(missing_values)}" if extra else
                     f"It uses the values {_join_words(missing_values)}")
    return text if not extra else f"{text} {' and '.join(extra)}."


def _names_a_position(literal: exp.Literal) -> bool:
    """Whether ``literal`` is a ``GROUP BY``/``ORDER BY`` position (said as the expression it names)."""
    parent = literal.parent
    target = parent.parent if isinstance(parent, exp.Ordered) else parent
    select = target.parent if isinstance(target, exp.Group | exp.Order) else None
    return isinstance(select, exp.Select) and _position(literal, select) is not None
