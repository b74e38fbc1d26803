"""SQL extraction: from a model's raw text to one candidate statement in the target dialect.

The steps, in order:

1. ``<think>`` / ``<thinking>`` blocks are removed (text before an orphan ``</think>`` too: some chat
   templates open the block in the prompt), and everything after an end-of-turn token (``<|im_end|>``, ...).
2. The **last** fenced code block (triple backticks or ``~~~``; an unterminated final fence counts) is the
   answer.
   Blocks labelled with a non-SQL language (``python``, ``text``, ...) are used only when no SQL or
   unlabelled block exists. A JSON object with a ``"sql"`` (or ``"query"``) member is unwrapped.
3. Without fences, the statement is located in the prose: it starts at a ``SELECT`` / ``WITH`` / ``VALUES``
   that opens a line or follows a colon ("SQL: SELECT ..."), else in an inline `` `code` `` span, else at an
   upper-case ``SELECT`` / ``WITH`` inside a sentence; each start is tried in that order and the first whose
   statement parses wins.
4. Trailing prose is cut (a paragraph after a blank line that does not continue the SQL, "Explanation:"
   lines, markdown bullets and headings, "This query ..." sentences), then only the first statement is kept
   and its semicolon dropped.
5. The statement is parsed with sqlglot in the target dialect. When that fails, or when it uses a construct
   sqlglot accepts there but the engine does not (``::`` casts and ``ILIKE`` in SQLite/MySQL, ...), the other
   dialects are tried and the statement is transpiled from the first one that parses (``source_dialect``).
   When nothing parses, the extracted text is kept with status ``"syntax_error"``: a candidate is never
   dropped for failing to parse.

SQL that parses in the target dialect is returned exactly as the model wrote it (minus surrounding prose
and the trailing semicolon): rewriting it could change column names or behaviour. Normalisation is only for
:func:`normalized_key`, the deduplication key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from mscsql.db.guard import MYSQL_HIDDEN_CODE, sqlglot_dialect
from mscsql.generation.transpile import (
    ExtractedSQL,
    parse_statement,
    quiet_sqlglot,
    resolve_statement,
)

logger = logging.getLogger(__name__)

#: fence languages that label SQL, with the sqlglot dialect they hint at ("" = no particular one)
_SQL_FENCE_LANGUAGES: dict[str, str] = {
    "": "", "sql": "", "ansi": "", "sqlite": "sqlite", "sqlite3": "sqlite", "postgresql": "postgres",
    "postgres": "postgres", "psql": "postgres", "pgsql": "postgres", "plpgsql": "postgres", "mysql": "mysql",
    "mariadb": "mysql", "tsql": "tsql", "t-sql": "tsql", "mssql": "tsql", "sqlserver": "tsql",
    "plsql": "oracle", "oracle": "oracle", "bigquery": "bigquery", "snowflake": "snowflake", "duckdb": "duckdb",
    "sparksql": "spark", "spark": "spark", "hive": "spark", "hql": "spark", "trino": "trino", "presto": "trino",
    "clickhouse": "clickhouse",
}

#: JSON members that may hold the statement when a model answers with a JSON object
_JSON_SQL_KEYS = ("sql", "SQL", "query", "sql_query", "Query")

_THINK_BLOCK = re.compile(r"<(think|thinking)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_THINK_CLOSE = re.compile(r"</(?:think|thinking)>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking)>", re.IGNORECASE)
_END_OF_TURN = re.compile(r"<\|(?:im_end|endoftext|eot_id|end|end_of_text)\|>|</s>|<end_of_turn>")

#: an opening fence: its character run, then an optional info word (the language)
_FENCE_OPEN = re.compile(r"(?m)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[A-Za-z0-9_.+#-]*)[ \t]*(?P<eol>\n|$)?")

_STARTER = r"(?:\(\s*)*(?:SELECT|WITH|VALUES)\b"
#: a statement start opening a line or following a colon ("SQL: SELECT ...")
_LINE_START = re.compile(rf"(?im)(?:^[ \t]*|:[ \t]*)(?P<s>{_STARTER})")
#: ... and an upper-case statement of another kind there (the guard refuses it later, but it is the answer)
_LINE_START_OTHER = re.compile(
    r"(?m)(?:^[ \t]*|:[ \t]*)(?P<s>(?:INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|EXPLAIN|TRUNCATE|MERGE)\b)")
#: an upper-case SELECT / WITH inside a sentence
_MID_START = re.compile(r"\b(?P<s>SELECT|WITH)\b")
#: an inline code span holding a statement
_INLINE_CODE = re.compile(rf"(?<!`)`(?!`)(?P<s>\s*{_STARTER}[^`\n]*)`(?!`)", re.IGNORECASE)
#: at most this many statement starts are tried (a plain-text answer also tries its whole text last)
_MAX_STARTS = 16

#: a line that is certainly prose, not SQL: markdown headings, bold text, bullets and numbered items
#: followed by a capital letter, "Label:" lines, and sentences opened by a capitalised English word
_PROSE_LINE = re.compile(
    r"^(?:#{1,6}\s|\*\*|(?:[-•]|\d+[.)])\s+[A-Z]|[A-Z][a-z]+(?: [a-z]+){0,4}:(?:\s|$)"
    r"|(?:This|These|The|Here|Here's|In|It|I|We|Note|To|That|Explanation|Finally|First|Then|Alternatively"
    r"|If|You|Let|Let's|Output|Result|Answer)\s+[a-z])"
)
#: a paragraph (after a blank line) whose first line opens like this continues the statement
_CONTINUATION_START = re.compile(
    r"(?i)^(?:[(),]|--|/\*|(?:SELECT|FROM|WHERE|JOIN|INNER|LEFT|RIGHT|FULL|CROSS|NATURAL|OUTER|ON|USING|AND|OR|NOT"
    r"|GROUP|ORDER|HAVING|LIMIT|OFFSET|UNION|INTERSECT|EXCEPT|MINUS|WINDOW|QUALIFY|FETCH|CASE|WHEN|THEN|ELSE"
    r"|END|AS|WITH|VALUES|LATERAL|ASC|DESC|BETWEEN|IN|LIKE|IS|EXISTS)\b)"
)
#: ... and so does any paragraph after a line that ends like this
_CONTINUATION_END = re.compile(
    r"(?i)(?:[(,=<>+*/|-]|\b(?:SELECT|FROM|WHERE|JOIN|ON|AND|OR|NOT|BY|HAVING|UNION|ALL|INTERSECT|EXCEPT|AS|IN"
    r"|WITH|CASE|WHEN|THEN|ELSE|DISTINCT|LIMIT|OFFSET|USING|BETWEEN|LIKE|IS))\s*$"
)


@dataclass(frozen=True)
class _Segment:
    """Where to look for the statement: a fenced block's content or the whole answer."""

    text: str
    fenced: bool
    #: the dialect a fence's language names ("" when none)
    hint: str = ""


# --- locating the statement in the text -------------------------------------------------------------------


def _strip_thinking(text: str) -> tuple[str, str | None]:
    """``text`` without reasoning blocks and without what follows an end-of-turn token; the second value
    says why nothing is left when the answer ends inside an unterminated ``<think>`` block."""
    text = _THINK_BLOCK.sub("\n", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # the block was opened in the prompt
        text = text[closes[-1].end():]
    opened = _THINK_OPEN.search(text)
    note = None
    if opened:  # never closed: the model ran out of tokens while reasoning
        text = text[: opened.start()]
        note = "the output ends inside an unterminated <think> block"
    end = _END_OF_TURN.search(text)
    if end:
        text = text[: end.start()]
    return text, note


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of every fenced code block, in order; an unterminated last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    pos = 0
    while (match := _FENCE_OPEN.search(text, pos)) is not None:
        fence, info = match.group("fence"), match.group("info")
        if match.group("eol") is not None or info.lower() in _SQL_FENCE_LANGUAGES:
            language, body_start = info.lower(), match.end()
        else:  # "```SELECT 1```": the word after the fence is code, not a language
            language, body_start = "", match.start("info")
        close = re.compile(re.escape(fence[0]) + "{" + str(len(fence)) + ",}").search(text, body_start)
        if close is None:
            blocks.append((language, text[body_start:]))
            break
        blocks.append((language, text[body_start:close.start()]))
        pos = close.end()
    return blocks


def _unwrap_json(text: str) -> str:
    """The statement inside a JSON object answer (``{"sql": "SELECT ..."}``), else ``text`` unchanged."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    if isinstance(value, dict):
        for key in _JSON_SQL_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
    return text


def _segment(text: str) -> _Segment:
    all_blocks = _fenced_blocks(text)
    if not all_blocks:
        return _Segment(_unwrap_json(text), fenced=False)
    blocks = [(lang, body) for lang, body in all_blocks if body.strip()]
    if not blocks:  # the answer is an empty code block
        return _Segment("", fenced=True)
    sql_blocks = [(lang, body) for lang, body in blocks if lang in _SQL_FENCE_LANGUAGES]
    language, body = (sql_blocks or blocks)[-1]
    return _Segment(_unwrap_json(body), fenced=True, hint=_SQL_FENCE_LANGUAGES.get(language, ""))


def _spans(segment: _Segment) -> list[tuple[int, int]]:
    """Where the statement may start (and end), most likely first."""
    text, end = segment.text, len(segment.text)
    line_starts = sorted(m.start("s") for regex in (_LINE_START, _LINE_START_OTHER) for m in regex.finditer(text))
    if segment.fenced:  # a code block's content is code from its first character
        ordered = [(0, end), *((s, end) for s in line_starts)]
    else:
        inline = [(m.start("s"), m.end("s")) for m in _INLINE_CODE.finditer(text)][::-1]
        mid = [m.start("s") for m in _MID_START.finditer(text)]
        ordered = [*((s, end) for s in line_starts), *inline, *((s, end) for s in mid), (0, end)]
    unique = list(dict.fromkeys(ordered))
    return unique[:_MAX_STARTS] if segment.fenced or len(unique) <= _MAX_STARTS else [*unique[:_MAX_STARTS], (0, end)]


def _cut_trailing_prose(text: str) -> str:
    """``text`` up to the first line that is prose rather than SQL (the first line is always kept)."""
    lines = text.split("\n")
    kept = [lines[0]]
    last_code = lines[0]
    after_blank = False
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            after_blank = True
            kept.append(line)
            continue
        if stripped.startswith(("```", "~~~")) or _PROSE_LINE.match(stripped):
            break
        if after_blank and not (_CONTINUATION_START.match(stripped) or _CONTINUATION_END.search(last_code)):
            break
        after_blank = False
        kept.append(line)
        last_code = stripped
    return "\n".join(kept)


def _split_statements(text: str, read: str) -> Iterator[str]:
    """The statements of ``text``, split at semicolons outside quotes and comments; statements holding only
    whitespace and comments are skipped. An unterminated quote or comment runs to the end of the text."""
    backslash_escapes = read == "mysql"
    hash_comments = read == "mysql"
    start, i, n = 0, 0, len(text)
    has_code = False
    while i < n:
        char = text[i]
        if char in "'\"`":
            has_code = True
            j = i + 1
            while j < n:
                if text[j] == "\\" and backslash_escapes and char != "`":
                    j += 2
                    continue
                if text[j] == char:
                    if j + 1 < n and text[j + 1] == char:  # a doubled quote escapes itself
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        elif text.startswith("--", i) or (hash_comments and char == "#"):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
        elif char == ";":
            if has_code:
                yield text[start:i]
            start, has_code = i + 1, False
            i += 1
        else:
            has_code = has_code or not char.isspace()
            i += 1
    if has_code:
        yield text[start:]


def _first_statement(text: str, read: str) -> str:
    """The first statement of ``text`` after cutting trailing prose, stripped, without its semicolon."""
    return next(_split_statements(_cut_trailing_prose(text), read), "").strip()


def _variants(statement: str, fenced: bool) -> list[str]:
    """``statement`` and shorter readings of it to try when it does not parse as it is."""
    variants = [statement]
    blank_line = re.search(r"\n[ \t]*\n", statement)
    if blank_line:  # "SELECT ...\n\n-- another attempt\nSELECT ...": keep the first paragraph
        variants.append(statement[: blank_line.start()].strip())
    if not fenced and statement.endswith(".") and not statement.endswith(".."):  # "... is SELECT a FROM t."
        variants.append(statement[:-1].rstrip())
    return [v for i, v in enumerate(variants) if v and v not in variants[:i]]


# --- public API -------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def extract_sql(text: str, dialect: str) -> ExtractedSQL:
    """The candidate statement in a model's output ``text``, for a database of ``dialect``
    ("sqlite", "postgresql", "mysql")."""
    target = sqlglot_dialect(dialect)
    if not text or not text.strip():
        return ExtractedSQL("", "empty", "the output is empty")
    body, note = _strip_thinking(text.replace("\r\n", "\n"))
    if not body.strip():
        return ExtractedSQL("", "empty", note or "the output holds nothing but reasoning")
    segment = _segment(body)
    fallback: ExtractedSQL | None = None
    for start, end in _spans(segment):
        statement = _first_statement(segment.text[start:end], target)
        for variant in _variants(statement, segment.fenced):
            result = resolve_statement(variant, target, segment.hint)
            if result.ok:
                return result
            if fallback is None and result.status == "syntax_error":
                fallback = result
    if fallback is not None:
        return fallback
    # no recognisable statement start: the whole answer is the (broken) candidate
    result = resolve_statement(_first_statement(segment.text, target), target, segment.hint)
    if result.status == "empty":
        return ExtractedSQL("", "empty", "no SQL statement found")
    return result


def resolve_sql(sql: str, dialect: str) -> ExtractedSQL:
    """Classify SQL that is already extracted (no prose or fences to strip): parse it in ``dialect`` and
    transpile it from another dialect when needed. Only its first statement is kept, without the semicolon."""
    target = sqlglot_dialect(dialect)
    return resolve_statement(next(_split_statements(sql, target), "").strip(), target)


@lru_cache(maxsize=8192)
def normalized_key(sql: str, dialect: str) -> str:
    """A deduplication key: equal for statements that differ only in keyword and function-name case,
    whitespace, comments, the trailing semicolon, optional ``AS`` and ``!=``/``<>`` spelling, and quoting of
    identifiers where the dialect makes quoted and unquoted names equal (all of SQLite; lower-case names in
    PostgreSQL). String literals are compared exactly. Text that does not parse falls back to its
    whitespace-collapsed form."""
    read = sqlglot_dialect(dialect)
    stripped = sql.strip().rstrip(";").strip()
    if MYSQL_HIDDEN_CODE.search(stripped):
        return " ".join(stripped.split())  # /*! ... */ runs on MySQL: comments are not noise here
    parsed = parse_statement(stripped, read)
    if parsed.tree is not None:
        try:
            with quiet_sqlglot():
                tree = parsed.tree
                # SQLite and MySQL read a double-quoted word as a string when no such column exists: a quoted
                # name's case may be data ("France" vs "france"), so only statements without one are normalised
                if not (dialect in ("sqlite", "mysql") and any(i.quoted for i in tree.find_all(exp.Identifier))):
                    tree = normalize_identifiers(tree, dialect=read)
                return tree.sql(dialect=read, identify=True, comments=False, unsupported_level=ErrorLevel.IGNORE)
        except Exception:  # pathological input, or a bug inside sqlglot
            logger.debug("cannot normalise a parsed statement; using its text as the key", exc_info=True)
    return " ".join(stripped.split())
