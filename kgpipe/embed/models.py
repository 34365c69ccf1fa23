"""TransE (L1/L2), DistMult, ComplEx and RotatE with batched scoring against candidate sets.

Every model scores aligned triples (`score_hrt`) and a batch of queries against many candidate
entities at once (`score_t` for (h, r, ?), `score_h` for (?, r, t)). Index tensors:
- h, r, t of shape (B,) with candidates None (all entities) or (N,)  -> scores (B, N);
- h, r, t of shape (C, B) with candidates (C, N) (one set per chunk)  -> scores (C, B, N).
Dot-product models and TransE-L2 score a query batch with one matrix product; TransE-L1 uses cdist
and RotatE a blocked broadcast, or with ``compile_distances`` one fused torch.compile kernel each.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F


def l1_distances(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """sum_k |q_k - c_k| of every query (..., B, D) with every candidate (..., N, D) -> (..., B, N)."""
    return (q.unsqueeze(-2) - c.unsqueeze(-3)).abs().sum(-1)


def modulus_sum(diff: torch.Tensor) -> torch.Tensor:
    """sum_k |diff_k| over complex coordinates (real halves first, imaginary second)."""
    dr, di = _split(diff)
    return torch.sqrt(dr * dr + di * di + 1e-12).sum(-1)


def modulus_distances(q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """modulus_sum(q - c) of every query (..., B, D) with every candidate (..., N, D) -> (..., B, N)."""
    return modulus_sum(q.unsqueeze(-2) - c.unsqueeze(-3))


@functools.cache
def compiled(function):
    """``torch.compile`` of a distance function, once per process. Inductor fuses the broadcast, the
    difference and the sum into one loop: the (B, N, D) difference is never stored, where eager PyTorch
    writes it out (RotatE) or runs cdist's generic kernel (TransE-L1). Measured on this project's
    2-core CPU, forward and backward, 256 queries x 256 candidates: L1 1.7x faster than cdist at
    D = 500, RotatE 5.6x faster than eager. Needs a C++ compiler; the first call compiles (~1 min)."""
    return torch.compile(function, dynamic=None)


class KGEModel(nn.Module):
    #: entity/relation rows have this many reals per dimension (2 for complex models)
    width = 1

    def __init__(self, num_entities: int, num_relations: int, dim: int, sparse: bool = False):
        super().__init__()
        self.num_entities, self.num_relations, self.dim = num_entities, num_relations, dim
        self.entity = nn.Embedding(num_entities, dim * self.width, sparse=sparse)
        self.relation = nn.Embedding(num_relations, self.relation_width() * dim, sparse=sparse)

    def relation_width(self) -> int:
        return self.width

    # --- model-specific pieces -------------------------------------------------------------
    def query_t(self, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def query_h(self, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def match(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """q (..., B, D) against candidates c (..., N, D) -> (..., B, N)."""
        raise NotImplementedError

    def pair(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """q (..., D) against aligned c (..., D) -> (...)."""
        raise NotImplementedError

    def constrain(self, rows: torch.Tensor) -> torch.Tensor | None:
        """Entity rows brought back into the model's constraints; None where it has none."""
        return None

    @torch.no_grad()
    def post_step(self, rows: torch.Tensor | None = None) -> None:
        """Constraints applied after each optimizer step (to entity `rows` only when given)."""
        w = self.entity.weight
        if rows is None:
            constrained = self.constrain(w)
            if constrained is not None:
                w.copy_(constrained)
        else:
            constrained = self.constrain(w.index_select(0, rows))
            if constrained is not None:
                w.index_copy_(0, rows, constrained)

    # --- public scoring --------------------------------------------------------------------
    def _cands(self, cands: torch.Tensor | None) -> torch.Tensor:
        return self.entity.weight if cands is None else self.entity(cands)

    def score_hrt(self, h, r, t) -> torch.Tensor:
        return self.pair(self.query_t(self.entity(h), self.relation(r)), self.entity(t))

    def score_t(self, h, r, cands: torch.Tensor | None = None) -> torch.Tensor:
        return self.match(self.query_t(self.entity(h), self.relation(r)), self._cands(cands))

    def score_h(self, r, t, cands: torch.Tensor | None = None) -> torch.Tensor:
        return self.match(self.query_h(self.relation(r), self.entity(t)), self._cands(cands))


class TransE(KGEModel):
    """score = gamma - ||h + r - t||_p."""

    def __init__(self, num_entities, num_relations, dim, p: int = 2, gamma: float = 0.0,
                 normalize_entities: bool = True, sparse: bool = False, compile_distances: bool = False):
        super().__init__(num_entities, num_relations, dim, sparse)
        self.p, self.gamma, self.normalize_entities = p, gamma, normalize_entities
        self.compile_distances = compile_distances
        nn.init.xavier_uniform_(self.entity.weight)   # as PyKEEN's TransE
        nn.init.xavier_uniform_(self.relation.weight)
        with torch.no_grad():
            self.relation.weight.copy_(F.normalize(self.relation.weight, dim=-1))
        self.post_step()

    def query_t(self, h, r):
        return h + r

    def query_h(self, r, t):
        return t - r  # ||h + r - t|| = ||h - (t - r)||

    def match(self, q, c):
        if self.p == 1:
            if c.dim() < q.dim():
                c = c.expand(*q.shape[:-2], *c.shape)
            if self.compile_distances:
                return self.gamma - compiled(l1_distances)(q, c)
            return self.gamma - torch.cdist(q, c, p=1)
        # ||q||^2 - 2 q.c + ||c||^2 : one matrix product
        sq = (q * q).sum(-1, keepdim=True) - 2 * q @ c.transpose(-1, -2) + (c * c).sum(-1).unsqueeze(-2)
        return self.gamma - sq.clamp_min(1e-12).sqrt()

    def pair(self, q, c):
        return self.gamma - torch.linalg.vector_norm(q - c, ord=self.p, dim=-1)

    def constrain(self, rows):
        return F.normalize(rows, dim=-1) if self.normalize_entities else None


class DistMult(KGEModel):
    """score = <h, r, t>."""

    def __init__(self, num_entities, num_relations, dim, sparse: bool = False, **_):
        super().__init__(num_entities, num_relations, dim, sparse)
        nn.init.xavier_uniform_(self.entity.weight)
        nn.init.xavier_uniform_(self.relation.weight)

    def query_t(self, h, r):
        return h * r

    def query_h(self, r, t):
        return r * t

    def match(self, q, c):
        return q @ c.transpose(-1, -2)

    def pair(self, q, c):
        return (q * c).sum(-1)


def _split(x):
    d = x.shape[-1] // 2
    return x[..., :d], x[..., d:]


class ComplEx(DistMult):
    """score = Re(<h, r, conj(t)>); rows hold [real | imaginary] halves."""

    width = 2

    def query_t(self, h, r):
        (hr, hi), (rr, ri) = _split(h), _split(r)
        return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], -1)  # h*r, then Re(q conj t) = q.t

    def query_h(self, r, t):
        (rr, ri), (tr, ti) = _split(r), _split(t)
        pr, pi = rr * tr + ri * ti, ri * tr - rr * ti  # p = r * conj(t); Re(h p) = h_re p_re - h_im p_im
        return torch.cat([pr, -pi], -1)


class RotatE(KGEModel):
    """score = gamma - sum_k |h_k * r_k - t_k| with |r_k| = 1 (relations are phases)."""

    width = 2

    def relation_width(self):
        return 1

    def __init__(self, num_entities, num_relations, dim, gamma: float = 12.0, max_elements: int = 1 << 24,
                 sparse: bool = False, compile_distances: bool = False, **_):
        super().__init__(num_entities, num_relations, dim, sparse)
        self.gamma, self.max_elements = gamma, max_elements
        self.compile_distances = compile_distances
        bound = (gamma + 2.0) / dim
        nn.init.uniform_(self.entity.weight, -bound, bound)
        nn.init.uniform_(self.relation.weight, -math.pi, math.pi)

    def _rot(self, x, phase, conj=False):
        xr, xi = _split(x)
        cr, ci = torch.cos(phase), torch.sin(phase)
        if conj:
            ci = -ci
        return torch.cat([xr * cr - xi * ci, xr * ci + xi * cr], -1)

    def query_t(self, h, r):
        return self._rot(h, r)

    def query_h(self, r, t):
        return self._rot(t, r, conj=True)  # |h r - t| = |h - t conj(r)|

    def match(self, q, c):
        # not a matrix product: broadcast in candidate blocks so memory stays bounded (compiled, the
        # difference is not stored at all, but the blocks keep memory bounded should a shape not fuse)
        n = c.shape[-2]
        per = max(1, self.max_elements // max(1, q[..., 0].numel() * q.shape[-1]))
        distances = compiled(modulus_distances) if self.compile_distances else modulus_distances
        outs = [distances(q, c[..., s:s + per, :]) for s in range(0, n, per)]
        return self.gamma - torch.cat(outs, -1)

    def pair(self, q, c):
        return self.gamma - modulus_sum(q - c)


def build_model(cfg, num_entities: int, num_relations: int) -> KGEModel:
    sparse = False   # cfg.sparse: the trainer gathers rows itself (RowOptimizer); tables stay dense
    if cfg.model == "transe":
        return TransE(num_entities, num_relations, cfg.dim, p=cfg.p, gamma=cfg.gamma,
                      normalize_entities=cfg.normalize_entities, sparse=sparse,
                      compile_distances=cfg.compile_distances)
    if cfg.model == "distmult":
        return DistMult(num_entities, num_relations, cfg.dim, sparse=sparse)
    if cfg.model == "complex":
        return ComplEx(num_entities, num_relations, cfg.dim, sparse=sparse)
    if cfg.model == "rotate":
        return RotatE(num_entities, num_relations, cfg.dim, gamma=cfg.gamma, sparse=sparse,
                      compile_distances=cfg.compile_distances)
    raise ValueError(f"unknown model {cfg.model!r}")
