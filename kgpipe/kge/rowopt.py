"""Row-wise lazy Adam / Adagrad for embedding tables: only the rows a step touches are read and written.

The trainer gathers each table's distinct rows once (torch.unique), computes their dense gradient
and hands (table, rows, grad) here; no sparse tensors, no coalescing, no full-table passes.
Lazy Adam keeps a global step for bias correction, as torch.optim.SparseAdam does.
"""
from __future__ import annotations

import torch


class RowOptimizer:
    def __init__(self, tables: list[torch.Tensor], kind: str = "adam", lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.tables, self.kind, self.lr, self.betas, self.eps = tables, kind, lr, betas, eps
        self.step_count = 0
        if kind == "adam":
            self.state = [{"exp_avg": torch.zeros_like(w), "exp_avg_sq": torch.zeros_like(w)} for w in tables]
        elif kind == "adagrad":
            self.state = [{"sum": torch.zeros_like(w)} for w in tables]
        else:
            raise ValueError(kind)

    @torch.no_grad()
    def step(self, updates: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
        """updates: (table index, distinct row ids, their gradient rows)."""
        self.step_count += 1
        for i, rows, grad in updates:
            w, st = self.tables[i], self.state[i]
            if self.kind == "adam":
                b1, b2 = self.betas
                m = st["exp_avg"].index_select(0, rows).lerp_(grad, 1 - b1)
                v = st["exp_avg_sq"].index_select(0, rows).mul_(b2).addcmul_(grad, grad, value=1 - b2)
                st["exp_avg"].index_copy_(0, rows, m)
                st["exp_avg_sq"].index_copy_(0, rows, v)
                bc1 = 1 - b1 ** self.step_count
                bc2 = 1 - b2 ** self.step_count
                denom = (v / bc2).sqrt_().add_(self.eps)
                w.index_copy_(0, rows, w.index_select(0, rows).addcdiv_(m, denom, value=-self.lr / bc1))
            else:
                s = st["sum"].index_select(0, rows).addcmul_(grad, grad)
                st["sum"].index_copy_(0, rows, s)
                w.index_copy_(0, rows, w.index_select(0, rows).addcdiv_(grad, s.sqrt().add_(1e-10), value=-self.lr))

    def zero_grad(self, set_to_none: bool = True) -> None:  # gradients live on per-step leaves
        pass

    def state_dict(self) -> dict:
        return {"state": {i: dict(st) for i, st in enumerate(self.state)}, "step": self.step_count,
                "kind": self.kind, "lr": self.lr}

    def load_state_dict(self, sd: dict) -> None:
        self.step_count = sd["step"]
        for i, st in sd["state"].items():
            for k, v in st.items():
                self.state[int(i)][k].copy_(v)
