"""Gradient exchange between training processes (torch.distributed), shaped for the trainer's updates.

Why not DistributedDataParallel: the trainer scores through the model's pieces (query, match, pair)
rather than one ``forward()``, which DDP needs to hook, and DDP all-reduces every parameter's full
gradient: for embedding tables that is the whole table every step although a step touches a few
thousand rows. Instead:

- lazy row-wise optimizer (``cfg.sparse``): every process all-gathers the (row ids, gradient rows)
  of the others and sums them per row, so each applies the identical update to the union of rows;
- dense optimizer: one all-reduce (sum) of all gradients, flattened into one buffer.

Each process divides its loss by the global batch size, so the summed gradient is the gradient of
the mean loss over the global batch: the same optimisation as one process on that batch. Sums are
formed in rank order without atomics, so the replicas stay bit-identical on every device.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def allgather_rows(rows: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted union of every process's distinct `rows` and, per row, the sum of their gradient rows."""
    size = dist.get_world_size()
    count = torch.tensor([len(rows)], dtype=torch.int64, device=rows.device)
    counts = [torch.zeros_like(count) for _ in range(size)]
    dist.all_gather(counts, count)
    counts = [int(c) for c in counts]
    longest = max(counts)
    # all_gather wants equal shapes: pad to the longest, cut after
    padded_rows = rows.new_zeros(longest)
    padded_rows[:len(rows)] = rows
    padded_grad = grad.new_zeros(longest, grad.shape[1])
    padded_grad[:len(rows)] = grad
    all_rows = [torch.empty_like(padded_rows) for _ in range(size)]
    all_grads = [torch.empty_like(padded_grad) for _ in range(size)]
    dist.all_gather(all_rows, padded_rows)
    dist.all_gather(all_grads, padded_grad)
    rows = torch.cat([r[:c] for r, c in zip(all_rows, counts)])
    grads = torch.cat([g[:c] for g, c in zip(all_grads, counts)])
    union, inverse = torch.unique(rows, return_inverse=True)
    # rows are distinct within a process: one slot per (process, row), summed in rank order
    owner = torch.repeat_interleave(torch.arange(size, device=rows.device),
                                    torch.tensor(counts, device=rows.device))
    slots = grads.new_zeros(size, len(union), grads.shape[1])
    slots[owner, inverse] = grads
    return union, slots.sum(0)


def allreduce_grads(params) -> None:
    """Sum every parameter's gradient over the processes (a missing gradient counts as zero)."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def allreduce_sum(value: float, device: torch.device) -> float:
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t)


def allreduce_max(value: float, device: torch.device) -> float:
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Start every replica from the same parameters."""
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src)


def gather_objects(obj) -> list:
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
