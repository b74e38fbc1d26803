"""Verified examples chosen for a question, the way DAIL-SQL chooses few-shot examples (Gao et al., 2024):
by the similarity of the questions once their schema-specific words are masked, and by the similarity of
the examples' SQL skeletons to a draft query for the question.

- :func:`mask_question` replaces the words that name tables and columns with ``<mask>`` and values
  (numbers, quoted text, names, the literals of an example's own SQL) with ``<value>``, so two questions
  compare by what they ask ("How many <mask> are in <value>?"), not by which database they are about.
- :func:`sql_skeleton` keeps a query's keywords, operators and function names and turns every table,
  column, alias and literal into ``_``: ``SELECT _ , count ( * ) FROM _ GROUP BY _``.
- :class:`ExampleRanker` scores each example by the cosine similarity of the questions' embeddings (the
  sentence encoder of :mod:`mscsql.retrieval.encoder`; sets of words without it), masked, as written, or a mix
  of both, plus, when a draft query is known, the skeleton similarity of the example's SQL to the draft's.
- :func:`same_question` says when a question is the verified one written again (the same words in the same
  order, up to case, punctuation, word endings and a few filler words), so the verified SQL can answer it
  directly.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from mscsql.db.sqltext import literals, tokens
from mscsql.retrieval.text import STOPWORDS, normalize, split_identifier, stem
from mscsql.types import Schema, VerifiedExample

log = logging.getLogger(__name__)

MASK = "<mask>"
VALUE = "<value>"

_WORD = re.compile(r"\"[^\"]{1,80}\"|“[^”]{1,80}”|'[^']{1,80}'(?!\w)|\w+|[^\w\s]")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")


# -- questions ------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _vocabulary(names: tuple[str, ...]) -> frozenset[str]:
    words = {stem(w) for name in names for w in split_identifier(name).split() if w not in STOPWORDS}
    return frozenset(w for w in words if len(w) > 1)


def schema_vocabulary(schema: Schema) -> frozenset[str]:
    """The stems of the words that name ``schema``'s tables and columns (and their natural-language names)."""
    names: list[str] = []
    for table in schema.tables:
        names += [table.name, table.nl_name or ""]
        for column in table.columns:
            names += [column.name, column.nl_name or ""]
    return _vocabulary(tuple(n for n in names if n))


def mask_question(question: str, vocabulary: frozenset[str], literals: Sequence[str] = ()) -> str:
    """``question`` with schema words as ``<mask>`` and values as ``<value>``: quoted text, numbers, capitalised
    words after the first, and the words of ``literals`` (an example's SQL literals)."""
    literal_words = {w for literal in literals for w in normalize(literal).split()}
    out: list[str] = []
    for position, token in enumerate(_WORD.findall(question)):
        if token[0] in "\"'“":
            out.append(VALUE)
            continue
        word = token.lower()
        if not token[0].isalnum() and token[0] != "_":
            out.append(token)
        elif _NUMBER.match(word) or word in literal_words:
            out.append(VALUE)
        elif word not in STOPWORDS and stem(word) in vocabulary:
            out.append(MASK)
        elif position > 0 and token[0].isupper() and word not in STOPWORDS:
            out.append(VALUE)
        else:
            out.append(word)
    collapsed: list[str] = []
    for token in out:  # "<value> <value>" (a two-word name) is one value
        if not (collapsed and token in (MASK, VALUE) and collapsed[-1] == token):
            collapsed.append(token)
    return " ".join(collapsed)


#: words that change nothing in a question's meaning; negations, comparisons, quantifiers and every other word
#: count when two questions are compared
_FILLER = frozenset(["a", "an", "the", "is", "are", "was", "were", "be", "been", "there", "please", "me", "us",
                     "tell", "show", "give", "list", "find", "what", "which", "whats"])


def _content_words(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in normalize(text).split() if w not in _FILLER)


def same_question(asked: str, verified: str, asked_evidence: str | None = None,
                  verified_evidence: str | None = None) -> bool:
    """Whether ``asked`` is ``verified`` written again: the same words in the same order once case, punctuation,
    word endings and a few filler words (articles, "is", "are", "there", "please", "show me", "what", "which")
    are set aside, so the same numbers, names, negations and comparisons too, and the same evidence. "How many
    customers are there?" is "how many customers"; "... in Europe?" is not "... in Asia?", "did not order" is
    not "did order", "more than 5" is not "less than 5", and "orders of customers" is not "customers of
    orders"."""
    words = _content_words(asked)
    if not words or words != _content_words(verified):
        return False
    return _content_words(asked_evidence or "") == _content_words(verified_evidence or "")


# -- SQL skeletons ------------------------------------------------------------------------------------------


def sql_skeleton(sql: str, dialect: str = "sqlite") -> tuple[str, ...]:
    """``sql``'s keywords, operators and function names, with every table, column, alias and literal as ``_``
    (a qualified name is one ``_``, aliases are dropped); () when it does not tokenize."""
    from sqlglot.tokens import TokenType

    found = tokens(sql, dialect)
    if found is None:
        return ()
    names = (TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER)
    out: list[str] = []
    after_as = False
    for i, token in enumerate(found):
        kind = token.token_type
        following = found[i + 1].token_type if i + 1 < len(found) else None
        if kind == TokenType.ALIAS:
            after_as = True
            continue
        if kind == TokenType.SEMICOLON:
            continue
        if kind not in names:
            out.append("." if kind == TokenType.DOT else token.text.lower())
        elif kind == TokenType.VAR and following == TokenType.L_PAREN:
            out.append(token.text.lower())  # a function's name
        elif after_as:
            pass  # AS alias
        elif out and out[-1] == ".":
            out.pop()  # a.b is one name
        elif not (out and out[-1] == "_" and kind in (TokenType.VAR, TokenType.IDENTIFIER)):
            out.append("_")  # (a name right after a name is a table's alias)
        after_as = False
    return tuple(out)


def skeleton_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """How alike two skeletons are, from 0 to 1 (1: the same): the share of tokens they have in common in the
    same order (``difflib``'s ratio)."""
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, list(a), list(b), autojunk=False).ratio()


# -- ranking ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedExample:
    example: VerifiedExample
    score: float
    question_similarity: float
    skeleton_similarity: float | None = None


class ExampleIndex:
    """One set of examples, masked, embedded and reduced to skeletons once, ranked for many questions."""

    def __init__(self, ranker: ExampleRanker, examples: Sequence[VerifiedExample], schemas: Sequence[Schema]) -> None:
        self.ranker = ranker
        self.examples = tuple(examples)
        self.masked = [mask_question(e.question, schema_vocabulary(s), literals(e.sql, s.dialect))
                       for e, s in zip(self.examples, schemas, strict=True)]
        self.plain = [e.question for e in self.examples]
        self.skeletons = [sql_skeleton(e.sql, s.dialect) for e, s in zip(self.examples, schemas, strict=True)]
        distinct = {s: i for i, s in enumerate(dict.fromkeys(self.skeletons))}
        self._distinct = list(distinct)
        self._which = np.asarray([distinct[s] for s in self.skeletons], dtype=np.int64)
        self._similar: dict[tuple[str, ...], np.ndarray] = {}
        self._similar_lock = threading.Lock()
        embed = ranker.encoder is not None and bool(self.examples)
        self.masked_vectors = ranker.embed(self.masked) if embed else None
        self.plain_vectors = ranker.embed(self.plain) if embed else None

    def __len__(self) -> int:
        return len(self.examples)

    def question_similarities(self, question: str, schema: Schema, masked_weight: float | None = None
                              ) -> np.ndarray:
        """Each example's similarity to ``question``: the masked questions' and the questions' as written, mixed
        by ``masked_weight`` (the ranker's unless given)."""
        weight = self.ranker.masked_weight if masked_weight is None else masked_weight
        total = np.zeros(len(self.examples), dtype=np.float64)
        for share, texts, vectors, asked in (
                (weight, self.masked, self.masked_vectors, lambda: mask_question(question, schema_vocabulary(schema))),
                (1 - weight, self.plain, self.plain_vectors, lambda: question)):
            if share <= 0:
                continue
            text = asked()
            if vectors is not None:
                total += share * (vectors @ self.ranker.embed([text])[0])
            else:
                total += share * np.asarray([_bag_cosine(normalize(text), normalize(t)) for t in texts])
        return total

    def rank(self, question: str, schema: Schema, *, draft: str | None = None, k: int | None = None,
             skeleton_weight: float | None = None, masked_weight: float | None = None) -> list[RankedExample]:
        """The examples best first (the top ``k``); ``schema``: the question's database (its words are masked);
        ``draft``: a query for the question, whose skeleton the examples' are compared with. The weights are the
        ranker's unless given."""
        if not self.examples:
            return []
        similarities = self.question_similarities(question, schema, masked_weight)
        scores = similarities.copy()
        target = sql_skeleton(draft, schema.dialect) if draft else ()
        skeletons: np.ndarray | None = None
        if target:
            skeletons = self._skeleton_similarities(target)
            weight = self.ranker.skeleton_weight if skeleton_weight is None else skeleton_weight
            scores = scores + weight * skeletons
        order = np.argsort(-scores, kind="stable")[:k] if k is not None else np.argsort(-scores, kind="stable")
        return [RankedExample(self.examples[i], float(scores[i]), float(similarities[i]),
                              float(skeletons[i]) if skeletons is not None else None) for i in order]


    def _skeleton_similarities(self, target: tuple[str, ...]) -> np.ndarray:
        """Each example's skeleton similarity to ``target`` (each distinct skeleton compared once; the last few
        targets remembered)."""
        with self._similar_lock:
            found = self._similar.get(target)
        if found is None:
            found = np.asarray([skeleton_similarity(target, s) for s in self._distinct])
            with self._similar_lock:
                if len(self._similar) >= 64:
                    self._similar.pop(next(iter(self._similar)))
                self._similar[target] = found
        return found[self._which]


class ExampleRanker:
    """Ranks verified examples for a question (see the module's docs).

    ``encoder``: a :class:`~mscsql.retrieval.encoder.Encoder` (or anything with ``encode(texts)`` returning
    L2-normalised rows); None compares sets of words instead. ``masked_weight``: the share of the question
    similarity that compares masked questions (1: DAIL-SQL's, for examples of other databases; the rest compares
    the questions as written, which tells apart questions about different tables of one database).
    ``skeleton_weight``: how much the skeleton similarity to a draft query adds to the question similarity."""

    def __init__(self, encoder: Any = None, *, masked_weight: float = 1.0, skeleton_weight: float = 1.0) -> None:
        if not 0 <= masked_weight <= 1:
            raise ValueError(f"masked_weight {masked_weight} is not between 0 and 1")
        self.encoder = encoder
        self.masked_weight = masked_weight
        self.skeleton_weight = skeleton_weight

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        assert self.encoder is not None
        bulk = getattr(self.encoder, "encode_bulk", None)  # many texts (a large example set): past the cache
        rows = bulk(list(texts)) if bulk is not None and len(texts) > 512 else self.encoder.encode(list(texts))
        return np.asarray(rows, dtype=np.float32)

    def index(self, examples: Sequence[VerifiedExample], schema: Schema | Sequence[Schema]) -> ExampleIndex:
        """``examples`` ready to rank; ``schema``: their database, or each example's own (cross-domain)."""
        schemas = [schema] * len(examples) if isinstance(schema, Schema) else list(schema)
        return ExampleIndex(self, examples, schemas)

    def rank(self, question: str, examples: Sequence[VerifiedExample], schema: Schema, *, draft: str | None = None,
             k: int | None = None) -> list[RankedExample]:
        """``examples`` of ``schema``'s database, best first for ``question`` (the top ``k``)."""
        return self.index(examples, schema).rank(question, schema, draft=draft, k=k)


def _bag_cosine(a: str, b: str) -> float:
    """The cosine of two texts' sets of words."""
    left, right = set(a.split()), set(b.split())
    if not left or not right:
        return 0.0
    return len(left & right) / (len(left) * len(right)) ** 0.5

