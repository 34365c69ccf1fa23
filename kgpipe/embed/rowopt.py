"""Row-wise lazy Adam / Adagrad for embedding tables: only the rows a step touches are read and written.

The trainer gathers each table's distinct rows once (torch.unique), computes their dense gradient
and hands (table, rows, grad, current values) here; no sparse tensors, no coalescing, no full-table
passes. The update itself is torch's fused single-pass Adam/Adagrad kernel (the one behind
``torch.optim.Adam(fused=True)``) applied to the gathered rows; a constraint such as TransE's unit
length is applied before the one write-back. Lazy Adam keeps a global step for bias correction, as
torch.optim.SparseAdam does.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def _fused(kind: str, device: torch.device) -> Callable | None:
    """torch's fused kernel for `kind` where this build has it for `device`, else None."""
    fn = getattr(torch, "_fused_adam_" if kind == "adam" else "_fused_adagrad_", None)
    if fn is None:
        return None
    try:   # a tiny call on the device proves the signature this code uses
        w, g, s, s2 = (torch.full((1, 1), x, device=device) for x in (1.0, 1.0, 0.0, 0.0))
        step = torch.tensor(1.0, device=device)
        if kind == "adam":
            fn([w], [g], [s], [s2], [], [step], lr=0.1, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8,
               amsgrad=False, maximize=False)
        else:
            fn([w], [g], [s], [step], lr=0.1, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False)
    except (RuntimeError, TypeError, NotImplementedError):
        return None
    return fn


class RowOptimizer:
    def __init__(self, tables: list[torch.Tensor], kind: str = "adam", lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, lr_scales: list[float] | None = None):
        self.tables, self.kind, self.lr, self.betas, self.eps = tables, kind, lr, betas, eps
        self.lr_scales = lr_scales or [1.0] * len(tables)   # table i steps at lr * lr_scales[i]
        self.step_count = 0
        if kind == "adam":
            self.state = [{"exp_avg": torch.zeros_like(w), "exp_avg_sq": torch.zeros_like(w)} for w in tables]
        elif kind == "adagrad":
            self.state = [{"sum": torch.zeros_like(w)} for w in tables]
        else:
            raise ValueError(kind)
        self.fused = _fused(kind, tables[0].device)

    @torch.no_grad()
    def step(self, updates: list[tuple], project: dict[int, Callable] | None = None) -> None:
        """updates: (table index, distinct row ids, their gradient rows[, their current values]).

        Current values, where the caller already gathered them, are updated in place instead of
        being gathered again. ``project[i](rows) -> rows | None`` constrains table i's new rows.
        """
        self.step_count += 1
        step = torch.tensor(float(self.step_count), device=self.tables[0].device)
        for i, rows, grad, *current in updates:
            table, st = self.tables[i], self.state[i]
            w = current[0] if current and current[0] is not None else table.index_select(0, rows)
            grad = grad.contiguous()
            if self.kind == "adam":
                m, v = st["exp_avg"].index_select(0, rows), st["exp_avg_sq"].index_select(0, rows)
                self._adam(w, grad, m, v, step, self.lr * self.lr_scales[i])
                st["exp_avg"].index_copy_(0, rows, m)
                st["exp_avg_sq"].index_copy_(0, rows, v)
            else:
                s = st["sum"].index_select(0, rows)
                self._adagrad(w, grad, s, step, self.lr * self.lr_scales[i])
                st["sum"].index_copy_(0, rows, s)
            constrained = project[i](w) if project and i in project else None
            table.index_copy_(0, rows, w if constrained is None else constrained)

    def _adam(self, w, grad, m, v, step, lr: float) -> None:
        b1, b2 = self.betas
        if self.fused is not None:
            self.fused([w], [grad], [m], [v], [], [step], lr=lr, beta1=b1, beta2=b2,
                       weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        m.lerp_(grad, 1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        bc1 = 1 - b1 ** self.step_count
        bc2 = 1 - b2 ** self.step_count
        w.addcdiv_(m, (v / bc2).sqrt_().add_(self.eps), value=-lr / bc1)

    def _adagrad(self, w, grad, s, step, lr: float) -> None:
        if self.fused is not None:
            self.fused([w], [grad], [s], [step], lr=lr, lr_decay=0.0, weight_decay=0.0,
                       eps=1e-10, maximize=False)
            return
        s.addcmul_(grad, grad)
        w.addcdiv_(grad, s.sqrt().add_(1e-10), value=-lr)

    def zero_grad(self, set_to_none: bool = True) -> None:  # gradients live on per-step leaves
        pass

    def state_dict(self) -> dict:
        return {"state": {i: dict(st) for i, st in enumerate(self.state)}, "step": self.step_count,
                "kind": self.kind, "lr": self.lr}

    def load_state_dict(self, sd: dict) -> None:
        self.step_count = sd["step"]
        self.lr = sd.get("lr", self.lr)   # a decayed rate resumes decayed
        for i, st in sd["state"].items():
            for k, v in st.items():
                self.state[int(i)][k].copy_(v)
