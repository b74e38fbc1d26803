"""Text normalisation shared by the value index and the linkers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_SPACE = re.compile(r"\s+")

#: words too common to say anything about which value or column a question means (and the pieces that
#: contractions leave: "isn't" → "isn t")
_STOPWORD_TEXT = """
a an the of in on at to for from by with without and or not no is are was were be been being do does
did what which who whom whose when where why how many much list show give find return tell me all
each every any some that this these those than then there their its it as has have had count i you
we they he she them his her our your my whats s per also only just more most less least over under
into out up down about after before between both either other same such very can could would should t d m ll re ve
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def display_value(value: object, max_chars: int) -> str:
    """A stored value as one line of display text, cut to ``max_chars`` characters."""
    text = _SPACE.sub(" ", str(value)).strip()
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def normalize(text: str) -> str:
    """Lower-case, compatibility-normalised, punctuation as spaces: what lexical matching compares."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _NON_WORD.sub(" ", text.replace("_", " "))).strip()


def tokens(text: str) -> list[str]:
    """Normalised words of ``text``."""
    return normalize(text).split()


def split_identifier(name: str) -> str:
    """``StuID`` → ``stu id``, ``first_name`` → ``first name``: identifiers as words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return normalize(spaced)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of an English word: "singers" and "singer" both become "singer"."""
    return _stemmer().stemWord(word)


def stem_words(words: Sequence[str]) -> list[str]:
    return [stem(w) for w in words]


def stems(text: str) -> frozenset[str]:
    """Stems of the content words of ``text``."""
    return frozenset(stem(t) for t in tokens(text) if t not in STOPWORDS)


def question_text(question: str, evidence: str | None = None) -> str:
    """The text that retrieval and linking read for a question: the question, then its evidence."""
    evidence = (evidence or "").strip()
    return f"{question.strip()}\n{evidence}" if evidence else question.strip()
