"""Negative-sampling trainer with chunk-shared negatives, checkpoints and early stopping."""
from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from kgpipe.errors import CommandError

from . import collective
from .config import KGEConfig
from .data import KGDataset, KnownTriples
from .evaluate import evaluate
from .models import KGEModel, build_model
from .rowopt import RowOptimizer

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def stream_seed(*key: int) -> int:
    """A 64-bit seed for one random stream of a run (independent streams per key)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0])


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def subsampling_weights(train: torch.Tensor, num_relations: int, start: int = 4) -> torch.Tensor:
    """Per training triple, 1 / sqrt(count(h, r) + count(t, r^-1)), each count starting at ``start`` (the
    RotatE code's subsampling): a triple whose head and relation recur in thousands of facts weighs less
    than a rare one, so the frequent entities of the long-tailed graphs do not dominate the loss. Scaled
    to mean 1, so the loss stays a per-positive mean and a shard of a distributed batch needs no
    global sum."""
    if len(train) == 0:
        return torch.ones(0)
    h, r, t = train.cpu().long().unbind(1)
    keys = torch.cat([h * (2 * num_relations) + r, t * (2 * num_relations) + num_relations + r])
    _, inverse, counts = torch.unique(keys, return_inverse=True, return_counts=True)
    frequency = counts[inverse[:len(train)]] + counts[inverse[len(train):]] + 2 * start
    weights = frequency.double().rsqrt()
    return (weights / weights.mean()).float()


def true_corruptions(batch: torch.Tensor, head: torch.Tensor, chunk_negs: torch.Tensor, chunk_size: int,
                     train: KnownTriples) -> torch.Tensor:
    """(B, N) bool: whether putting negative j of positive i's chunk (chunk_negs (C, N); chunks of
    chunk_size consecutive positives) in place of positive i's head (where head[i]) or tail gives a
    training triple. The positives' known answers are looked up once and marked in a table over the
    step's few distinct candidates, so the cost follows the batch, not the number of entities."""
    b, hd = batch.cpu().numpy(), head.cpu().numpy()
    hi, ti = np.flatnonzero(hd), np.flatnonzero(~hd)
    rows_h, cols_h = train.head_mask(b[hi, 1], b[hi, 2])
    rows_t, cols_t = train.tail_mask(b[ti, 0], b[ti, 1])
    rows, answers = np.concatenate([hi[rows_h], ti[rows_t]]), np.concatenate([cols_h, cols_t])
    candidates, slots = np.unique(chunk_negs.cpu().numpy(), return_inverse=True)
    where = np.minimum(np.searchsorted(candidates, answers), len(candidates) - 1)
    hit = candidates[where] == answers
    known = np.zeros((len(b), len(candidates)), dtype=bool)
    known[rows[hit], where[hit]] = True
    slots = slots.reshape(chunk_negs.shape)[np.arange(len(b)) // chunk_size]
    return torch.from_numpy(np.take_along_axis(known, slots, axis=1))


def bernoulli_head_probs(train: torch.Tensor, num_relations: int) -> torch.Tensor:
    """P(corrupt head | r) = tph / (tph + hpt) (Wang et al. 2014); 0.5 for unseen relations."""
    t = train.cpu().numpy()
    probs = torch.full((num_relations,), 0.5, dtype=torch.float32)
    if len(t) == 0:
        return probs
    r = t[:, 1]
    n_per_r = np.bincount(r, minlength=num_relations).astype(np.float64)
    hr = np.unique(t[:, 0] * num_relations + r) % num_relations   # distinct (h, r) per r
    rt = np.unique(t[:, 2] * num_relations + r) % num_relations   # distinct (r, t) per r
    n_hr = np.bincount(hr, minlength=num_relations).astype(np.float64)
    n_rt = np.bincount(rt, minlength=num_relations).astype(np.float64)
    seen = n_per_r > 0
    tph = np.divide(n_per_r, n_hr, out=np.ones_like(n_per_r), where=n_hr > 0)
    hpt = np.divide(n_per_r, n_rt, out=np.ones_like(n_per_r), where=n_rt > 0)
    p = tph / (tph + hpt)
    probs[torch.from_numpy(seen)] = torch.from_numpy(p[seen]).float()
    return probs


def make_optimizer(cfg: KGEConfig, model: KGEModel) -> torch.optim.Optimizer:
    """Adam or Adagrad, fused (one pass over the parameters) where this torch build supports it; the
    relation table steps at cfg.relation_lr_scale times the rate."""
    params = [{"params": [model.entity.weight]},
              {"params": [model.relation.weight], "lr": cfg.lr * cfg.relation_lr_scale}]
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.Adagrad
    try:
        return cls(params, lr=cfg.lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, lr=cfg.lr)


class CheckpointMismatch(CommandError, ValueError):
    """A checkpoint that this trainer cannot continue (other settings or process count)."""


# settings a checkpoint can be continued under: how long, where and how fast to run, and the fixed decay
# epochs still ahead, so that a long run still climbing at its rate can be given its decay when it levels off
RESUMABLE_CHANGES = frozenset({"epochs", "num_threads", "device", "eval_batch_size", "compile_distances",
                               "lr_decay_at"})


class Trainer:
    """Trains one model; in a torch.distributed group (see kgpipe.embed.collective) every process holds
    a replica, takes its share of each global batch and applies the same summed update."""

    def __init__(self, cfg: KGEConfig, dataset: KGDataset, model: KGEModel | None = None,
                 known: KnownTriples | None = None, device: torch.device | str | None = None):
        self.cfg, self.data = cfg, dataset
        self.rank, self.world_size = collective.world()
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.device = torch.device(device) if device is not None else resolve_device(cfg.device)
        seed_everything(cfg.seed)
        self.model = (model or build_model(cfg, dataset.num_entities, dataset.num_relations)).to(self.device)
        if self.world_size > 1:
            collective.broadcast_module(self.model)
        if cfg.sparse:   # lazy row-wise updates of the embedding tables
            self.optimizer = RowOptimizer([self.model.entity.weight, self.model.relation.weight],
                                          cfg.optimizer, lr=cfg.lr, lr_scales=[1.0, cfg.relation_lr_scale])
        else:
            self.optimizer = make_optimizer(cfg, self.model)
        # the epoch order is the same in every process; corruption sampling differs per process.
        # Together these two generators' states are the trainer's randomness.
        self.perm_gen = torch.Generator().manual_seed(stream_seed(cfg.seed))
        self.gen = torch.Generator().manual_seed(stream_seed(cfg.seed, self.rank + 1))
        self.head_probs = (bernoulli_head_probs(dataset.train, dataset.num_relations)
                           if cfg.sampler == "bernoulli" else None)
        self.weights = subsampling_weights(dataset.train, dataset.num_relations) if cfg.subsampling else None
        self.train_known = (KnownTriples(dataset.train, dataset.num_entities, dataset.num_relations)
                            if cfg.filter_negatives else None)
        self._known = known
        self.epoch = 0
        self.best_mrr = float("-inf")
        self.best_state: dict | None = None
        self.best_epoch = 0
        self.bad_evals = 0
        self.stopped = False
        self.history: list[dict] = []
        self.train_seconds = 0.0
        self.positives_seen = 0
        self.use_amp = cfg.amp_bf16 and self.device.type == "cuda"

    @property
    def known(self) -> KnownTriples:
        if self._known is None:
            self._known = self.data.known()
        return self._known

    # --- one step ----------------------------------------------------------------------
    def _loss(self, pos: torch.Tensor, neg: torch.Tensor, weights: torch.Tensor | None = None,
              keep: torch.Tensor | None = None) -> torch.Tensor:
        """Summed (weighted) loss of positive scores (...,) against their negatives' scores (..., N), of
        which only those where `keep` (..., N) is true count."""
        cfg = self.cfg
        pos, neg = pos.float(), neg.float()
        if cfg.loss == "margin":
            hinge = F.relu(cfg.margin - pos.unsqueeze(-1) + neg)
            per = (hinge.mean(-1) if keep is None
                   else (hinge * keep).sum(-1) / keep.sum(-1).clamp_min(1))
        else:
            logits = neg * cfg.adversarial_temperature
            if keep is not None:
                logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
            w = torch.softmax(logits, dim=-1).detach()
            if keep is not None:   # a positive whose negatives are all true has none
                w = w * keep
            per = -(F.logsigmoid(pos) + (w * F.logsigmoid(-neg)).sum(-1)) / 2
        return per.sum() if weights is None else (per * weights).sum()

    def step(self, batch: torch.Tensor, global_size: int | None = None,
             weights: torch.Tensor | None = None) -> float:
        """One optimizer step on positives (B, 3), optionally weighted per positive (B,); returns their
        summed loss / global_size (the mean loss per positive when this process has the whole batch).

        Each positive corrupts its head or its tail (uniform or Bernoulli). Positives of one side are
        cut into chunks of cfg.chunk_size; every chunk shares num_negs sampled entities, and all
        positives of a chunk are scored against all of them with one batched matrix product.
        Embedding rows are gathered once per step; with cfg.sparse only the distinct rows are gathered,
        and RowOptimizer updates just those. `global_size` is the batch size summed over the processes
        of a distributed run; a process may get an empty share and still takes part in the exchange.
        """
        cfg, m = self.cfg, self.model
        B = len(batch)
        scale = 1.0 / (global_size or B or 1)
        batch, idx, plan = self._sample(batch)
        self.optimizer.zero_grad(set_to_none=True)
        if cfg.sparse:
            urows, inv = torch.unique(idx, return_inverse=True)
            rrows, rinv = torch.unique(batch[:, 1], return_inverse=True)
            eleaf = m.entity.weight.detach().index_select(0, urows).requires_grad_()
            rleaf = m.relation.weight.detach().index_select(0, rrows).requires_grad_()
            ent, rel = (eleaf.index_select(0, inv), rleaf.index_select(0, rinv)) if B else (None, None)
        else:
            ent, rel = (m.entity(idx), m.relation(batch[:, 1])) if B else (None, None)
        loss = 0.0
        if B:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.use_amp):
                total = self._chunked_loss(ent, rel, B, plan,
                                           None if weights is None else weights.to(self.device))
            total = total * scale
            total.backward()
            loss = float(total.detach())
        if cfg.sparse:
            if self.world_size > 1:   # the union of every process's rows, gathered afresh
                updates = [(i, *collective.allgather_rows(rows, _grad(leaf)))
                           for i, rows, leaf in ((0, urows, eleaf), (1, rrows, rleaf))]
            else:   # the leaves hold these rows' current values: updated in place, written back once
                updates = [(0, urows, _grad(eleaf), eleaf.detach()), (1, rrows, _grad(rleaf), rleaf.detach())]
            self.optimizer.step(updates, project={0: m.constrain})
        else:
            if self.world_size > 1:
                collective.allreduce_grads(m.parameters())
            self.optimizer.step()
            m.post_step()
        return loss

    def _sample(self, batch: torch.Tensor):
        """Corruption side per positive and the sampled negatives.

        Returns the batch on the device, the entity indices to gather (heads, tails, negatives) and
        the plan: which positives corrupt their head, the number of chunks, and with filter_negatives
        which (positive, negative) pairs are not training triples (B, num_negs).
        """
        cfg, B = self.cfg, len(batch)
        if self.head_probs is None:
            head = torch.rand(B, generator=self.gen) < 0.5
        else:
            head = torch.rand(B, generator=self.gen) < self.head_probs[batch[:, 1]]
        n_chunks = -(-B // cfg.chunk_size)
        negs = torch.randint(self.data.num_entities, (n_chunks * cfg.num_negs,), generator=self.gen)
        keep = None
        if self.train_known is not None:
            keep = ~true_corruptions(batch, head, negs.view(n_chunks, cfg.num_negs), min(cfg.chunk_size, B),
                                     self.train_known).to(self.device)
        batch = batch.to(self.device)
        idx = torch.cat([batch[:, 0], batch[:, 2], negs.to(self.device)])
        return batch, idx, (head.to(self.device), n_chunks, keep)

    def _chunked_loss(self, ent: torch.Tensor, rel: torch.Tensor, B: int, plan,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
        """Summed loss of B positives given their gathered entity rows (heads, tails, negatives).

        Every model compares a query with candidate entities through the same ``match``, whichever
        side is corrupted (the tail query h∘r against candidate tails, the head query r∘t against
        candidate heads), so head- and tail-corrupted positives share chunks: one batched product
        per step instead of one per side and chunk size.
        """
        cfg, m = self.cfg, self.model
        head, n_chunks, keep = plan
        # split (not slicing): split's backward concatenates instead of zero-filling per slice
        H, T, N = torch.split(ent, [B, B, n_chunks * cfg.num_negs])
        N = N.view(n_chunks, cfg.num_negs, -1)
        qt = m.query_t(H, rel)
        pos = m.pair(qt, T)
        queries = torch.where(head.unsqueeze(-1), m.query_h(rel, T), qt)
        cs = min(cfg.chunk_size, B)
        full = B // cs
        sizes = [full * cs, B - full * cs] if full * cs < B else [B]
        loss = torch.zeros((), device=self.device)
        chunks = [full, 1][:len(sizes)]
        split_weights = torch.split(weights, sizes) if weights is not None else [None] * len(sizes)
        split_keep = torch.split(keep, sizes) if keep is not None else [None] * len(sizes)
        for q, p_, n_, w_, k_ in zip(torch.split(queries, sizes), torch.split(pos, sizes), torch.split(N, chunks),
                                     split_weights, split_keep):
            c = n_.shape[0]
            neg = m.match(q.reshape(c, -1, q.shape[-1]), n_)             # (c, positives per chunk, num_negs)
            loss = loss + self._loss(p_.view(c, -1), neg, None if w_ is None else w_.view(c, -1),
                                     None if k_ is None else k_.view(*neg.shape))
        return loss

    def train_epoch(self) -> float:
        """One pass in an order shared by all processes; each takes its slice of every global batch."""
        self.model.train()
        train = self.data.train
        perm = torch.randperm(len(train), generator=self.perm_gen)
        total, n = 0.0, 0
        start = time.perf_counter()
        for s in range(0, len(train), self.cfg.batch_size):
            ids = perm[s:s + self.cfg.batch_size]
            mine = ids.tensor_split(self.world_size)[self.rank] if self.world_size > 1 else ids
            total += self.step(train[mine], len(ids), None if self.weights is None else self.weights[mine]) * len(ids)
            n += len(ids)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        if self.world_size > 1:   # every process reports the same epoch
            total = collective.allreduce_sum(total, self.device)
            seconds = collective.allreduce_max(seconds, self.device)
        self.train_seconds += seconds
        self.positives_seen += n
        self.epoch += 1
        return total / max(n, 1)

    # --- loop with validation ----------------------------------------------------------
    def validate(self) -> dict:
        valid = self.data.valid
        if self.cfg.valid_max_triples:
            valid = valid[: self.cfg.valid_max_triples]
        return evaluate(self.model, valid, self.known, self.cfg.eval_batch_size, self.device)

    def fit(self, epochs: int | None = None, after_epoch: Callable[[Trainer], None] | None = None) -> list[dict]:
        """Train until `epochs` epochs in total (default cfg.epochs) or early stopping; keeps the best
        validated parameters when validation is on. `after_epoch(self)` runs after each epoch (to save a
        checkpoint, say)."""
        target = self.cfg.epochs if epochs is None else epochs
        while self.epoch < target and not self.stopped:
            loss = self.train_epoch()
            rec = {"epoch": self.epoch, "loss": loss}
            if self.epoch in self.cfg.lr_decay_at:
                self.scale_lr(self.cfg.lr_decay)
                rec["lr"] = self.lr
            if self.cfg.eval_every and self.epoch % self.cfg.eval_every == 0 and len(self.data.valid):
                m = self.validate()
                rec["valid_mrr"] = m["mrr"]
                if m["mrr"] > self.best_mrr:
                    self.best_mrr, self.best_epoch, self.bad_evals = m["mrr"], self.epoch, 0
                    self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                else:
                    self.bad_evals += 1
                    if self.bad_evals >= self.cfg.patience:
                        self.stopped = True
                    elif self.cfg.lr_decay < 1.0 and not self.cfg.lr_decay_at:
                        # smaller steps settle into the minimum the larger ones kept overshooting
                        self.scale_lr(self.cfg.lr_decay)
                        rec["lr"] = self.lr
            self.history.append(rec)
            if self.rank == 0:   # long runs (an hour on a CPU) show where they are
                log.info("epoch %d/%d: loss %.4f, %s positive triples/s so far%s", self.epoch, target, loss,
                         f"{self.positives_seen / max(self.train_seconds, 1e-9):,.0f}",
                         f", valid MRR {rec['valid_mrr']:.4f} (best {self.best_mrr:.4f} at epoch {self.best_epoch})"
                         if "valid_mrr" in rec else "")
            if after_epoch is not None:
                after_epoch(self)
        return self.history

    @property
    def lr(self) -> float:
        if isinstance(self.optimizer, RowOptimizer):
            return self.optimizer.lr
        return self.optimizer.param_groups[0]["lr"]

    def scale_lr(self, factor: float) -> None:
        if isinstance(self.optimizer, RowOptimizer):
            self.optimizer.lr *= factor
        else:
            for group in self.optimizer.param_groups:
                group["lr"] *= factor
        if self.rank == 0:
            log.info("learning rate now %.3g", self.lr)

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    # --- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path) -> None:
        """Everything needed to continue exactly. In a distributed run every process must call it
        (the sampling generators of all processes are gathered); process 0 writes the file."""
        gens = (collective.gather_objects(self.gen.get_state()) if self.world_size > 1
                else [self.gen.get_state()])
        if self.rank != 0:
            return
        state = {
            "cfg": self.cfg.model_dump(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "perm_gen": self.perm_gen.get_state(),
            "gen": gens,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            "best": (self.best_mrr, self.best_epoch, self.bad_evals, self.stopped, self.best_state),
            "history": copy.deepcopy(self.history),
            "counters": (self.train_seconds, self.positives_seen),
        }
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from `path`. The settings must equal this trainer's, except those that only say how
        long and where to run, and the decay epochs still ahead (RESUMABLE_CHANGES)."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        ours = self.cfg.model_dump()
        # a setting added after the checkpoint was written compares at its default, the value it trained with
        theirs = {**KGEConfig().model_dump(), **state["cfg"]}
        changed = sorted(k for k, v in theirs.items() if k not in RESUMABLE_CHANGES and ours.get(k) != v)
        if changed:
            raise CheckpointMismatch(f"{path} was trained with other settings: "
                             + ", ".join(f"{k}={theirs[k]!r} (now {ours.get(k)!r})" for k in changed))
        if len(state["gen"]) != self.world_size:
            raise CheckpointMismatch(f"{path} was written by {len(state['gen'])} training processes; resume it with "
                             f"as many (this run has {self.world_size})")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = state["epoch"]
        self.perm_gen.set_state(state["perm_gen"])
        self.gen.set_state(state["gen"][self.rank])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        self.best_mrr, self.best_epoch, self.bad_evals, self.stopped, self.best_state = state["best"]
        self.history = state["history"]
        self.train_seconds, self.positives_seen = state["counters"]


def _grad(leaf: torch.Tensor) -> torch.Tensor:
    """A leaf's gradient; zeros where this process's share of the batch was empty."""
    return leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
