"""kgpipe.kge vs PyKEEN on FB15k-237, same model and settings, on this CPU.

TransE (L2 distance, entity rows renormalised to unit length as PyKEEN's TransE does), dim 100,
margin ranking loss (margin 1), 64 uniform head/tail corruptions per positive, Adam, batch 1024,
5 epochs, 2 threads, lr 0.01. kgpipe shares each chunk's 64 negatives across the chunk's 64
positives (PyTorch-BigGraph) and by default updates only touched rows (lazy Adam, cfg.sparse;
--dense for full-table Adam); PyKEEN's basic sampler draws independent negatives, dense Adam.
Both are timed for training only (positive triples/s) and for the filtered evaluation of the
whole test set (both sides).

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
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from kgpipe.kge import KGEConfig, load_dataset, train_and_evaluate  # noqa: E402

SPEED_TARGET = 10.0
EVAL_TARGET = 10.0
FB15K237 = Path(__file__).resolve().parents[2] / "shared" / "data" / "kg" / "FB15k-237.tar.gz"


def run_pykeen(data, args) -> dict:
    from pykeen.evaluation import RankBasedEvaluator
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
    train_seconds = time.perf_counter() - start
    evaluator = RankBasedEvaluator(filtered=True)
    start = time.perf_counter()
    res = evaluator.evaluate(model, data.test, batch_size=args.eval_batch_size, use_tqdm=False,
                             additional_filter_triples=[data.train, data.valid])
    eval_seconds = time.perf_counter() - start
    return {
        "test_mrr": float(res.get_metric("both.realistic.inverse_harmonic_mean_rank")),
        "test_hits@10": float(res.get_metric("both.realistic.hits_at_10")),
        "train_seconds": train_seconds,
        "triples_per_second": args.epochs * len(data.train) / train_seconds,
        "eval_seconds": eval_seconds,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=FB15K237)
    ap.add_argument("--quick", action="store_true", help="1 epoch instead of 5")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--negs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--chunk-size", type=int, default=64)
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
          f"{' (--quick)' if args.quick else ''}, threads={args.threads}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}", flush=True)

    cfg = KGEConfig(model="transe", dim=args.dim, p=2, gamma=0.0, normalize_entities=True, loss="margin",
                    margin=1.0, num_negs=args.negs, chunk_size=args.chunk_size, sampler="uniform",
                    optimizer="adam", sparse=not args.dense, lr=args.lr, batch_size=args.batch_size,
                    epochs=args.epochs,
                    eval_every=0, eval_batch_size=args.eval_batch_size, seed=args.seed,
                    num_threads=args.threads, device="cpu")
    ours = train_and_evaluate(data, cfg)
    print(f"kgpipe : {ours['triples_per_second']:,.0f} positive triples/s "
          f"({ours['train_seconds']:.1f} s train), filtered test MRR {ours['test_mrr']:.4f} "
          f"Hits@10 {ours['test_hits@10']:.4f}, evaluation {ours['eval_seconds']:.2f} s", flush=True)
    if args.skip_pykeen:
        return 0
    theirs = run_pykeen(data, args)
    print(f"PyKEEN : {theirs['triples_per_second']:,.0f} positive triples/s "
          f"({theirs['train_seconds']:.1f} s train), filtered test MRR {theirs['test_mrr']:.4f} "
          f"Hits@10 {theirs['test_hits@10']:.4f}, evaluation {theirs['eval_seconds']:.2f} s", flush=True)
    speed = ours["triples_per_second"] / theirs["triples_per_second"]
    evals = theirs["eval_seconds"] / ours["eval_seconds"]
    mrr_ok = ours["test_mrr"] >= theirs["test_mrr"]
    print(f"training speed ratio kgpipe/PyKEEN {speed:.2f}x (target >= {SPEED_TARGET:.0f}x), "
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
