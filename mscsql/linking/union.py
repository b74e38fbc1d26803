"""Several linkers together: a table is kept when any linker keeps it, with every column any of them kept."""

from __future__ import annotations

from collections.abc import Sequence

from mscsql.errors import ConfigError
from mscsql.linking.base import LinkRequest, SchemaLinker, linked
from mscsql.types import LinkedSchema, ValueMatch


class UnionLinker:
    """The union of what ``linkers`` keep, question by question.

    Scores are the maximum over the linkers, traces are concatenated in linker order, and the values the
    linkers kept are unioned (one per table, column and value: the highest-scored).
    """

    def __init__(self, linkers: Sequence[SchemaLinker], name: str = "union") -> None:
        if not linkers:
            raise ConfigError("UnionLinker needs at least one linker")
        self.linkers = list(linkers)
        self.name = name

    def link(self, requests: Sequence[LinkRequest]) -> list[LinkedSchema]:
        if not requests:
            return []
        outputs = []
        for linker in self.linkers:
            result = linker.link(requests)
            if len(result) != len(requests):
                raise RuntimeError(f"linker {linker.name!r} returned {len(result)} results for {len(requests)} "
                                   "requests")
            outputs.append(result)
        return [self._merge(request, [out[i] for out in outputs]) for i, request in enumerate(requests)]

    def _merge(self, request: LinkRequest, parts: Sequence[LinkedSchema]) -> LinkedSchema:
        keep: dict[str, dict[str, None]] = {}
        scores: dict[str, float] = {}
        trace: list[str] = []
        values: dict[tuple[str, str, str], ValueMatch] = {}
        for part in parts:
            for table in part.schema.tables:
                columns = keep.setdefault(table.qualified_name.lower(), {})
                columns.update(dict.fromkeys(c.name for c in table.columns))
            for key, score in part.scores.items():
                scores[key] = max(score, scores.get(key, score))
            trace.extend(part.trace)
            for value in part.values:
                vkey = (value.table.lower(), value.column.lower(), value.value)
                if vkey not in values or value.score > values[vkey].score:
                    values[vkey] = value
        return linked(request.schema, {t: list(cols) for t, cols in keep.items()}, linker=self.name,
                      values=list(values.values()), scores=scores, trace=trace)
