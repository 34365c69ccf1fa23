"""Which candidates to label next: uncertainty, margin, diversity or random, weighted by centrality."""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from kgpipe.extract.text import match_tokens
from kgpipe.label.candidates import Candidate

STRATEGIES = ("uncertainty", "margin", "diversity", "random")
#: cold start: the probability of a relation between two mentions no triple connects
COLD_PAIR_P = 0.2
#: word-set Jaccard at or above which two sentences are near duplicates (diversity)
DUPLICATE_JACCARD = 0.7


# --------------------------------------------------------------------------- selection


def _uncertainty_scores(probabilities, strategy: str) -> list[float]:
    out = []
    for row in probabilities:
        ordered = sorted((float(x) for x in row), reverse=True)
        top = ordered[0] if ordered else 1.0
        second = ordered[1] if len(ordered) > 1 else 0.0
        out.append(1.0 - (top - second) if strategy == "margin" else 1.0 - top)
    return out


def cold_start_probabilities(candidates: Sequence[Candidate]) -> list[list[float]]:
    """Two-class probabilities (relation, none) from the rule-based extractor alone."""
    rows = []
    for c in candidates:
        p = c.confidence if c.confidence is not None else COLD_PAIR_P
        rows.append([p, 1.0 - p])
    return rows


def _words(text: str) -> frozenset[str]:
    return frozenset(match_tokens(text))


def centrality(candidates: Sequence[Candidate], pagerank: Mapping[str, float]) -> list[float]:
    """Pagerank percentile in [0, 1] of each candidate's most central argument entity (0 when
    neither argument is a known entity)."""
    values = sorted(pagerank.values())
    if not values:
        return [0.0] * len(candidates)
    from bisect import bisect_right
    out = []
    for c in candidates:
        ranks = [pagerank[e] for e in c.entity_ids if e in pagerank]
        out.append(bisect_right(values, max(ranks)) / len(values) if ranks else 0.0)
    return out


def select(candidates: Sequence[Candidate], n: int, strategy: str, probabilities=None,
           pagerank: Mapping[str, float] | None = None, centrality_weight: float = 0.5,
           seed: int = 0) -> list[int]:
    """Indices of the ``n`` candidates to label next (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if n < 0:
        raise ValueError("n must be >= 0")
    n = min(n, len(candidates))
    if strategy == "random":
        return sorted(random.Random(seed).sample(range(len(candidates)), n))
    if probabilities is None:
        probabilities = cold_start_probabilities(candidates)
    if len(probabilities) != len(candidates):
        raise ValueError(f"{len(probabilities)} probability rows for {len(candidates)} candidates")
    scores = _uncertainty_scores(probabilities, "margin" if strategy == "margin" else "uncertainty")
    if pagerank and centrality_weight:
        scores = [s * (1.0 + centrality_weight * c) for s, c in zip(scores, centrality(candidates, pagerank))]
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].task_id))
    if strategy != "diversity":
        return order[:n]
    chosen: list[int] = []
    chosen_words: list[frozenset[str]] = []
    for i in order:
        if len(chosen) == n:
            break
        words = _words(candidates[i].text)
        if any(len(words | w) and len(words & w) / len(words | w) >= DUPLICATE_JACCARD for w in chosen_words):
            continue
        chosen.append(i)
        chosen_words.append(words)
    if len(chosen) < n:  # every remaining candidate is a near duplicate: fill in uncertainty order
        taken = set(chosen)
        chosen.extend(i for i in order if i not in taken)
        chosen = chosen[:n]
    return chosen



# --------------------------------------------------------------------------- metrics


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: share-weighted |accuracy - mean confidence| over equal-width confidence bins."""
    if not confidences:
        return 0.0
    total = len(confidences)
    sums: dict[int, list[float]] = {}
    for p, ok in zip(confidences, correct):
        b = min(bins - 1, int(p * bins))
        acc = sums.setdefault(b, [0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += p
        acc[2] += 1.0 if ok else 0.0
    return sum(n / total * abs(ok / n - p / n) for n, p, ok in sums.values())

