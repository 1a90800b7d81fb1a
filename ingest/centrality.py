"""How central each file is in the import graph: PageRank, so a module imported by other much-imported
modules outranks one imported by many leaf scripts (aider's repo map ranks definitions the same way)."""

from __future__ import annotations

from wholerepo.ingest.imports import ImportGraph

DAMPING = 0.85  # the usual PageRank constant
ITERATIONS = 12  # the percentile order on ruff's import graph stops moving (top 1,000 files) by ~10 steps


def score_centrality(graph: ImportGraph) -> dict[str, float]:
    """path -> centrality in (0, 1]: the file's PageRank percentile among files with any import edge.
    Percentiles rather than raw ranks, so weights on top of them do not depend on the repository's size."""
    nodes = sorted(set(graph.imports) | set(graph.importers))
    if not nodes:
        return {}
    num_nodes = len(nodes)
    number = {p: i for i, p in enumerate(nodes)}
    edges = [(number[src], [number[t] for t in targets]) for src, targets in graph.imports.items() if targets]
    sinks = [number[p] for p in nodes if not graph.imports.get(p)]
    rank = [1.0 / num_nodes] * num_nodes
    for _ in range(ITERATIONS):
        leak = DAMPING * sum(rank[i] for i in sinks) / num_nodes
        fresh = [(1.0 - DAMPING) / num_nodes + leak] * num_nodes
        for src, targets in edges:
            share = DAMPING * rank[src] / len(targets)
            for target in targets:
                fresh[target] += share
        rank = fresh
    ordered = sorted(range(num_nodes), key=lambda i: (rank[i], nodes[i]))
    return {nodes[i]: (place + 1) / num_nodes for place, i in enumerate(ordered)}
