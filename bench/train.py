"""kgpipe.embed vs PyKEEN on FB15k-237, same model and settings, on this CPU.

TransE (L2 distance, entity rows renormalised to unit length as PyKEEN's TransE does), dim 100,
margin ranking loss (margin 1), 64 uniform head/tail corruptions per positive, Adam, batch 1024,
5 epochs, 2 threads, lr 0.01. kgpipe shares each chunk's 64 negatives across the chunk's 256
positives (PyTorch-BigGraph; its default --chunk-size: 64 measured 25% slower here, 1024 lost MRR) and by default updates only touched rows (lazy Adam, cfg.sparse;
--dense for full-table Adam); PyKEEN's basic sampler draws independent negatives, dense Adam.
Both are timed for training only (positive triples/s, the median of --rounds rounds that
alternate which library goes first, since the box is shared) and for the filtered evaluation of
the whole test set (both sides, once, on the last round's models).

PyKEEN is a benchmark-only dependency: .venv/bin/pip install pykeen==1.11.1

    .venv/bin/python bench/train.py            # full: 5 epochs
    .venv/bin/python bench/train.py --quick    # 1 epoch (timings comparable, MRRs under-trained)

OMP_WAIT_POLICY=PASSIVE is set (before torch loads) for both sides: on a shared 2-core box,
spinning OpenMP workers make every small multi-threaded op hundreds of times slower.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from kgpipe.embed.config import KGEConfig  # noqa: E402
from kgpipe.embed.data import load_dataset  # noqa: E402
from kgpipe.embed.evaluate import evaluate  # noqa: E402
from kgpipe.embed.train import Trainer  # noqa: E402

SPEED_TARGET = 10.0
EVAL_TARGET = 10.0
FB15K237 = Path(__file__).resolve().parents[2] / "shared" / "data" / "kg" / "FB15k-237.tar.gz"


def train_pykeen(data, args):
    from pykeen.models import TransE
    from pykeen.training import SLCWATrainingLoop
    from pykeen.triples import TriplesFactory

    torch.manual_seed(args.seed)
    tf = TriplesFactory(mapped_triples=data.train,
                        entity_to_id={e: i for i, e in enumerate(data.entities)},
                        relation_to_id={r: i for i, r in enumerate(data.relations)})
    model = TransE(triples_factory=tf, embedding_dim=args.dim, scoring_fct_norm=2, random_seed=args.seed)
    optimizer = torch.optim.Adam(model.get_grad_params(), lr=args.lr)
    loop = SLCWATrainingLoop(model=model, triples_factory=tf, optimizer=optimizer,
                             negative_sampler="basic",
                             negative_sampler_kwargs=dict(num_negs_per_pos=args.negs,
                                                          corruption_scheme=("head", "tail")))
    start = time.perf_counter()
    loop.train(triples_factory=tf, num_epochs=args.epochs, batch_size=args.batch_size, use_tqdm=False,
               use_tqdm_batch=False)
    return model, time.perf_counter() - start


def evaluate_pykeen(model, data, args) -> dict:
    from pykeen.evaluation import RankBasedEvaluator
    evaluator = RankBasedEvaluator(filtered=True)
    start = time.perf_counter()
    res = evaluator.evaluate(model, data.test, batch_size=args.eval_batch_size, use_tqdm=False,
                             additional_filter_triples=[data.train, data.valid])
    return {"test_mrr": float(res.get_metric("both.realistic.inverse_harmonic_mean_rank")),
            "test_hits@10": float(res.get_metric("both.realistic.hits_at_10")),
            "eval_seconds": time.perf_counter() - start}


def train_kgpipe(data, args):
    cfg = KGEConfig(model="transe", dim=args.dim, p=2, gamma=0.0, normalize_entities=True, loss="margin",
                    margin=1.0, num_negs=args.negs, chunk_size=args.chunk_size, sampler="uniform",
                    optimizer="adam", sparse=not args.dense, lr=args.lr, batch_size=args.batch_size,
                    epochs=args.epochs, eval_every=0, eval_batch_size=args.eval_batch_size, seed=args.seed,
                    num_threads=args.threads, device="cpu")
    trainer = Trainer(cfg, data)
    trainer.fit()
    return trainer, trainer.train_seconds


def evaluate_kgpipe(trainer, data, args) -> dict:
    res = evaluate(trainer.model, data.test, data.known(), args.eval_batch_size, trainer.device)
    return {"test_mrr": res["mrr"], "test_hits@10": res["hits@10"], "eval_seconds": res["seconds"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=FB15K237)
    ap.add_argument("--quick", action="store_true", help="1 epoch instead of 5")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=2,
                    help="training rounds per library, alternating which goes first; speeds are medians")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--negs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--chunk-size", type=int, default=256,
                    help="kgpipe: positives sharing one set of negatives (the trainer's default)")
    ap.add_argument("--dense", action="store_true",
                    help="kgpipe: dense Adam over whole tables (default: lazy row-wise Adam, cfg.sparse)")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--eval-batch-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pykeen", action="store_true")
    ap.add_argument("--json", type=Path, help="write both results here")
    args = ap.parse_args(argv)
    args.epochs = args.epochs or (1 if args.quick else 5)
    torch.set_num_threads(args.threads)
    if not args.dataset.exists():
        print(f"{args.dataset} is missing (../shared/data beside the repo)", file=sys.stderr)
        return 2
    data = load_dataset(args.dataset)
    print(f"FB15k-237: {len(data.train)} train / {len(data.valid)} valid / {len(data.test)} test triples, "
          f"{data.num_entities} entities, {data.num_relations} relations; epochs={args.epochs}"
          f"{' (--quick)' if args.quick else ''}, threads={args.threads}, rounds={args.rounds}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}", flush=True)

    trainers = {"kgpipe": train_kgpipe} if args.skip_pykeen else {"kgpipe": train_kgpipe, "PyKEEN": train_pykeen}
    speeds: dict[str, list[float]] = {name: [] for name in trainers}
    models = {}
    positives = args.epochs * len(data.train)
    for round_ in range(args.rounds):
        # the box is shared: alternating the order spreads load changes over both sides
        for name in (list(trainers) if round_ % 2 == 0 else list(trainers)[::-1]):
            models[name], seconds = trainers[name](data, args)
            speeds[name].append(positives / seconds)
            print(f"round {round_ + 1} {name:<6}: {positives / seconds:,.0f} positive triples/s "
                  f"({seconds:.1f} s train)", flush=True)
    results = {}
    for name, evaluate_fn in (("kgpipe", evaluate_kgpipe), ("PyKEEN", evaluate_pykeen)):
        if name in models:
            results[name] = {"triples_per_second": statistics.median(speeds[name]), "rounds": speeds[name],
                             **evaluate_fn(models[name], data, args)}
            r = results[name]
            print(f"{name:<6}: {r['triples_per_second']:,.0f} positive triples/s (median), filtered test MRR "
                  f"{r['test_mrr']:.4f} Hits@10 {r['test_hits@10']:.4f}, evaluation {r['eval_seconds']:.2f} s",
                  flush=True)
    if args.skip_pykeen:
        return 0
    ours, theirs = results["kgpipe"], results["PyKEEN"]
    speed = ours["triples_per_second"] / theirs["triples_per_second"]
    per_round = [a / b for a, b in zip(speeds["kgpipe"], speeds["PyKEEN"])]
    evals = theirs["eval_seconds"] / ours["eval_seconds"]
    mrr_ok = ours["test_mrr"] >= theirs["test_mrr"]
    print(f"training speed ratio kgpipe/PyKEEN {speed:.2f}x (per round: "
          f"{', '.join(f'{x:.2f}x' for x in per_round)}; target >= {SPEED_TARGET:.0f}x), "
          f"MRR {'not lower' if mrr_ok else 'LOWER'} than PyKEEN's; evaluation speed ratio {evals:.2f}x "
          f"(target >= {EVAL_TARGET:.0f}x)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "kgpipe": ours, "pykeen": theirs}, indent=2))
    met = speed >= SPEED_TARGET and mrr_ok and evals >= EVAL_TARGET
    scope = f"{args.epochs}-epoch{' --quick' if args.quick else ''}"
    print(f"On this {args.threads}-thread CPU ({scope} run) kgpipe trained {speed:.1f}x PyKEEN's positive "
          f"triples/s with MRR {ours['test_mrr']:.4f} vs {theirs['test_mrr']:.4f} and evaluated "
          f"{evals:.1f}x faster: target {'met' if met else 'not met'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
