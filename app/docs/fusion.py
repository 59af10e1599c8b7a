"""The order in which passages compete for the prompt's room: BM25 fused with any other rankings (dense
retrieval, model-written keywords) by reciprocal rank fusion, then the neighbours of the best passages,
then everything else in reading order, so the budget is filled rather than left half empty."""

from __future__ import annotations

from collections.abc import Sequence

from app.docs.document import Document
from app.docs.index import rank_chunks

RRF_K = 60  # the usual constant: a passage's weight from a ranking is 1 / (RRF_K + rank)
NEIGHBOURS_OF = 5  # the passages whose neighbours come right after the ranked ones

Ranking = Sequence[tuple[int, int]]  # (document, chunk), best first


def fuse(rankings: Sequence[Ranking]) -> list[tuple[int, int, float]]:
    """Reciprocal rank fusion: every passage any ranking names, by the sum of 1 / (RRF_K + rank)."""
    scores: dict[tuple[int, int], float] = {}
    for ranking in rankings:
        for rank, passage in enumerate(ranking, start=1):
            scores[passage] = scores.get(passage, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores.items(), key=lambda item: -item[1])  # stable: ties keep first-named order
    return [(d, c, score) for (d, c), score in ordered]


def retrieval_order(
    question: str, documents: Sequence[Document], rankings: Sequence[Ranking] = ()
) -> list[tuple[int, int, float]]:
    """Every chunk of `documents` once, as (document, chunk, score), in the order they should get room.

    With no other rankings the scores are BM25's; fused, they are RRF scores. Passages no ranking found
    score 0: first the neighbours of the best `NEIGHBOURS_OF`, then the rest in reading order.
    """
    hits = rank_chunks(question, list(documents))
    if rankings:
        ranked = fuse([[(h.document, h.chunk) for h in hits], *rankings])
    else:
        ranked = [(h.document, h.chunk, h.score) for h in hits]
    seen = {(d, c) for d, c, _ in ranked}
    order = list(ranked)
    for d, c, _ in ranked[:NEIGHBOURS_OF]:
        for neighbour in (c - 1, c + 1):
            if 0 <= neighbour < len(documents[d].chunks) and (d, neighbour) not in seen:
                seen.add((d, neighbour))
                order.append((d, neighbour, 0.0))
    order.extend(
        (d, c, 0.0) for d, doc in enumerate(documents) for c in range(len(doc.chunks)) if (d, c) not in seen
    )
    return order
