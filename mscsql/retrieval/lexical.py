"""Exact and near-exact mentions of stored values in a question.

All comparisons use normalised text (:func:`mscsql.retrieval.text.normalize`). In order of strength:

1. *exact* (1.0): a word n-gram of the question equals a value; also with spaces removed
   ("North Carolina" finds "NorthCarolina", 0.98) and word by word on stems ("cats" finds "cat", 0.97);
2. *fuzzy* (≤ 0.95): values sharing a question word, or a word within a small edit distance of one
   (rapidfuzz over the index vocabulary), scored with rapidfuzz's ``partial_ratio`` (the best alignment
   of the value inside the question);
3. *partial* (0.5–0.9): values containing a distinctive question word, scored by the share of their
   words the question covers ("West" finds "West Lonzoborough" for a ``LIKE '%West%'`` question).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from mscsql.retrieval.text import STOPWORDS, normalize, stem_words

_MAX_NGRAM = 8
_MIN_FUZZY_TOKEN = 4
_MIN_TOKEN = 3
_MAX_CANDIDATES = 2_000
_PARTIAL_MAX_POSTINGS = 200


class LexicalMatcher:
    """Matches question text against a list of values (built once per index)."""

    def __init__(self, values: Sequence[str], *, max_postings: int = 20_000) -> None:
        self.normalized = [normalize(v) for v in values]
        self._exact: dict[str, list[int]] = defaultdict(list)
        self._compact: dict[str, list[int]] = defaultdict(list)
        self._stemmed: dict[str, list[int]] = defaultdict(list)
        self._token_count = np.zeros(len(values), dtype=np.int32)
        postings: dict[str, list[int]] = defaultdict(list)
        for i, norm in enumerate(self.normalized):
            if not norm:
                continue
            words = norm.split()
            self._token_count[i] = len(words)
            self._exact[norm].append(i)
            self._compact[norm.replace(" ", "")].append(i)
            if len(words) <= 4:
                self._stemmed[" ".join(stem_words(words))].append(i)
            for token in set(words):
                postings[token].append(i)
        # words found in too many values identify nothing; they are left out of the candidate search
        self._postings = {t: np.asarray(ids, dtype=np.int32) for t, ids in postings.items()
                          if len(ids) <= max_postings and t not in STOPWORDS}
        self._vocabulary = [t for t in self._postings if len(t) >= _MIN_TOKEN]
        self._trigram_postings = _trigram_index(self._vocabulary)

    def _near_words(self, word: str) -> list[str]:
        """Vocabulary words that share enough character trigrams with ``word`` to be one or two edits away
        (a cheap filter before rapidfuzz scores them)."""
        grams = _trigrams(word)
        lists = [self._trigram_postings[g] for g in grams if g in self._trigram_postings]
        if not lists:
            return []
        ids, counts = np.unique(np.concatenate(lists), return_counts=True)
        # one edit changes at most three trigrams; keep words that share all but a few of them
        needed = max(1, len(grams) - 4)
        return [self._vocabulary[i] for i in ids[counts >= needed].tolist()]

    def search(self, text: str, *, min_score: float = 0.85) -> dict[int, tuple[float, str]]:
        """Value ids mentioned in ``text`` → (score in 0..1, "exact", "fuzzy" or "partial")."""
        from rapidfuzz import fuzz, process

        question = normalize(text)
        words = question.split()
        stemmed = stem_words(words)
        found: dict[int, tuple[float, str]] = {}

        def add(ids: Sequence[int], score: float, source: str) -> None:
            for i in ids:
                if i not in found or found[i][0] < score:
                    found[i] = (score, source)

        for n in range(1, min(_MAX_NGRAM, len(words)) + 1):
            for start in range(len(words) - n + 1):
                gram = words[start:start + n]
                if all(w in STOPWORDS for w in gram):
                    continue
                add(self._exact.get(" ".join(gram), ()), 1.0, "exact")
                add(self._compact.get("".join(gram), ()), 0.98, "exact")
                if n <= 4:
                    add(self._stemmed.get(" ".join(stemmed[start:start + n]), ()), 0.97, "exact")
        query_tokens = {w for w in words if w not in STOPWORDS and len(w) >= 2}
        matched_tokens: set[str] = {w for w in query_tokens if w in self._postings}
        for word in query_tokens:
            if len(word) >= _MIN_FUZZY_TOKEN:
                near = self._near_words(word)
                for token, _score, _ in process.extract(word, near, scorer=fuzz.ratio, score_cutoff=85, limit=5):
                    matched_tokens.add(token)
        if not matched_tokens:
            return found
        hits: Counter[int] = Counter()
        for token in matched_tokens:
            hits.update(self._postings[token].tolist())
        candidates = [i for i, _ in hits.most_common(_MAX_CANDIDATES) if i not in found]
        if not candidates:
            return found
        texts = [self.normalized[i] for i in candidates]
        scores = process.cdist([question], texts, scorer=fuzz.partial_ratio, score_cutoff=min_score * 100,
                               dtype=np.uint8)[0]
        for i, norm, score in zip(candidates, texts, scores, strict=True):
            if score > 0 and len(norm) <= len(question):
                add([i], min(0.95, float(score) / 100.0 * 0.95), "fuzzy")
        distinctive = {t for t in matched_tokens if len(t) >= 2 and len(self._postings[t]) <= _PARTIAL_MAX_POSTINGS}
        if distinctive:
            partial: Counter[int] = Counter()
            for token in distinctive:
                partial.update(self._postings[token].tolist())
            for i, count in partial.items():
                if i not in found:
                    coverage = min(1.0, count / max(int(self._token_count[i]), 1))
                    add([i], round(0.5 + 0.4 * coverage, 4), "partial")
        return found


def _trigrams(word: str) -> set[str]:
    padded = f"^{word}$"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def _trigram_index(vocabulary: Sequence[str]) -> dict[str, np.ndarray]:
    postings: dict[str, list[int]] = defaultdict(list)
    for i, word in enumerate(vocabulary):
        for gram in _trigrams(word):
            postings[gram].append(i)
    return {g: np.asarray(ids, dtype=np.int32) for g, ids in postings.items()}
