"""Filtered rank-based link-prediction evaluation (head and tail side, realistic ranks for ties)."""
from __future__ import annotations

import time

import torch

from .data import KnownTriples


def filtered_ranks(scores: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor,
                   cols: torch.Tensor) -> torch.Tensor:
    """Realistic filtered ranks of `targets` in `scores` (B, N); (rows, cols) are known-true answers.

    Known answers (the target included) are masked with -inf in place; the rank is the mean of the
    optimistic (1 + #strictly better) and pessimistic (1 + #better-or-equal) rank.
    """
    idx = torch.arange(scores.shape[0], device=scores.device)
    true = scores[idx, targets].clone()
    scores[rows, cols] = float("-inf")
    scores[idx, targets] = float("-inf")
    true = true.unsqueeze(1)
    greater = (scores > true).sum(1)
    ge = (scores >= true).sum(1)
    return 1.0 + (greater + ge).double() / 2.0


@torch.no_grad()
def rank_triples(model, triples: torch.Tensor, known: KnownTriples, batch_size: int = 512,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Ranks (2 * n,): tail prediction of every triple, then head prediction, in triple order."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    tail_ranks, head_ranks = [], []
    trip = triples.cpu()
    for s in range(0, len(trip), batch_size):
        b = trip[s:s + batch_size]
        hn, rn, tn = (b[:, i].numpy() for i in range(3))
        h, r, t = (b[:, i].to(device) for i in range(3))
        rows, cols = known.tail_mask(hn, rn)
        scores = model.score_t(h, r).float()
        tail_ranks.append(filtered_ranks(scores, t, torch.from_numpy(rows).to(device),
                                         torch.from_numpy(cols).to(device)).cpu())
        rows, cols = known.head_mask(rn, tn)
        scores = model.score_h(r, t).float()
        head_ranks.append(filtered_ranks(scores, h, torch.from_numpy(rows).to(device),
                                         torch.from_numpy(cols).to(device)).cpu())
    model.train(was_training)
    if not tail_ranks:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat(tail_ranks + head_ranks)


def metrics_from_ranks(ranks: torch.Tensor) -> dict:
    r = ranks.double()
    if len(r) == 0:
        return {"mrr": 0.0, "hits@1": 0.0, "hits@3": 0.0, "hits@10": 0.0, "num_ranks": 0}
    return {
        "mrr": float((1.0 / r).mean()),
        "hits@1": float((r <= 1).double().mean()),
        "hits@3": float((r <= 3).double().mean()),
        "hits@10": float((r <= 10).double().mean()),
        "num_ranks": int(len(r)),
    }


def evaluate(model, triples: torch.Tensor, known: KnownTriples, batch_size: int = 512,
             device: torch.device | str = "cpu") -> dict:
    """Filtered MRR and Hits@1/3/10 over both sides, the number of ranks and the seconds taken."""
    start = time.perf_counter()
    ranks = rank_triples(model, triples, known, batch_size, device)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    out = metrics_from_ranks(ranks)
    out["seconds"] = time.perf_counter() - start
    return out


__all__ = ["filtered_ranks", "rank_triples", "metrics_from_ranks", "evaluate"]
