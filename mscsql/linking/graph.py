"""The foreign-key graph of a schema: which tables must be kept to join the ones a linker chose."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from mscsql.types import Schema


def table_lookup(schema: Schema) -> dict[str, str]:
    """Lower-case table references (bare or qualified) → lower-case qualified names. A bare name means the
    default schema's table when there is one, as it does for the database; else the first of that name."""
    lookup: dict[str, str] = {}
    for table in sorted(schema.tables, key=lambda t: t.schema is not None):
        lookup.setdefault(table.name.lower(), table.qualified_name.lower())
        lookup[table.qualified_name.lower()] = table.qualified_name.lower()
    return lookup


def fk_graph(schema: Schema) -> dict[str, set[str]]:
    """Undirected adjacency of tables (lower-case qualified names) linked by a foreign key."""
    lookup = table_lookup(schema)
    graph: dict[str, set[str]] = {t.qualified_name.lower(): set() for t in schema.tables}
    for table in schema.tables:
        here = table.qualified_name.lower()
        for fk in table.foreign_keys:
            there = lookup.get(fk.ref_table.lower())
            if there is not None and there != here:
                graph[here].add(there)
                graph[there].add(here)
    return graph


def _shortest_path(graph: dict[str, set[str]], start: str, goal: str, max_hops: int) -> list[str] | None:
    parents: dict[str, str | None] = {start: None}
    queue = deque([(start, 0)])
    while queue:
        node, hops = queue.popleft()
        if node == goal:
            path = [node]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        if hops == max_hops:
            continue
        for nxt in sorted(graph.get(node, ())):
            if nxt not in parents:
                parents[nxt] = node
                queue.append((nxt, hops + 1))
    return None


def join_closure(graph: dict[str, set[str]], tables: Iterable[str], *, max_hops: int = 3) -> set[str]:
    """``tables`` plus the tables on a shortest foreign-key path between every pair of them
    (at most ``max_hops`` joins), so that what a linker keeps can be joined."""
    kept = {t.lower() for t in tables}
    chosen = sorted(kept)
    for i, first in enumerate(chosen):
        for second in chosen[i + 1:]:
            if second in graph.get(first, ()):
                continue
            path = _shortest_path(graph, first, second, max_hops)
            if path:
                kept.update(path)
    return kept
