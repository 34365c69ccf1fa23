"""Full-quality KGE runs: every dataset and model of the issue's quality table in one go.

Models and sizes follow the RotatE paper (Sun et al., ICLR 2019, Table 11: TransE with L1 distance and
RotatE, self-adversarial negative sampling, its code's subsampling weights, dim 1000 on FB15k-237 and
500 on WN18RR, gamma 9 / 6, temperature 1 / 0.5, 256 / 1024 negatives); it reports FB15k-237 MRR 0.332
(TransE) / 0.338 (RotatE) and WN18RR 0.226 / 0.476. The schedule is the one measured on this project's
CPU instead of the paper's 80,000-100,000 steps at lr 5e-5: lazy Adam at lr 0.001 (WN18RR TransE:
0.0003), validation every 5 epochs, the rate divided by 10 on a validation without improvement (FB15k-237
RotatE: after epoch 17, with negatives that are training triples left out), stop on the third. On the CPU
that schedule gave FB15k-237 TransE and RotatE (dim 500), WN18RR TransE and WN18RR RotatE (dim 250) their
targets (docs/train.md). ``--schedule paper`` runs the RotatE code's training instead (five times the epochs, a
GPU's work): its rate, its negatives without training triples, and its phase step for RotatE, pi * dim /
(gamma + 2) times the entity step (``relation_lr_scale``; at lr 5e-5, phases stepping at the entity rate
would hardly leave their start). Targets here: FB15k-237 TransE >= 0.31, RotatE >= 0.33; WN18RR TransE
>= 0.22, RotatE >= 0.47. Meant for a GPU; on a CPU ``--epoch-scale 0.01`` checks that it runs. On a GPU,
``filter_negatives`` still looks up each step's true negatives on the host (about 23 ms a step).

    .venv/bin/python bench/kge_quality.py [--data ../shared/data/kg] [--only fb15k-237:transe ...]

Prints one JSON line per run and a final table; the last line says whether every target was met.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kg"
#: dataset -> file name in ``--data``; model -> settings
COMMON = dict(subsampling=True, loss="adversarial", valid_max_triples=3000)
FB15K237 = dict(COMMON, gamma=9.0, adversarial_temperature=1.0, num_negs=256, batch_size=1024, dim=1000)
WN18RR = dict(COMMON, gamma=6.0, adversarial_temperature=0.5, num_negs=1024, batch_size=512, dim=500)
TRANSE = dict(model="transe", p=1, normalize_entities=False)
RUNS: dict[str, dict] = {
    "fb15k-237:transe": {"file": "FB15k-237.tar.gz", "target": 0.31, "settings": {**FB15K237, **TRANSE}},
    # with every sampled negative kept, validation peaked at 0.334 and the run tested 0.322; leaving out the
    # negatives that are training triples (and the decay after epoch 17) lifted both (docs/train.md)
    "fb15k-237:rotate": {"file": "FB15k-237.tar.gz", "target": 0.33, "settings": {**FB15K237, "model": "rotate"},
                         "measured": dict(filter_negatives=True, lr_decay_at=[17])},
    # lr 0.001 levelled off at valid 0.213 before its decay and tested 0.216; at 0.0003 validation
    # climbed to 0.2205 by epoch 65 and the run tested 0.223 (docs/train.md)
    "wn18rr:transe": {"file": "WN18RR.tar.gz", "target": 0.22, "settings": {**WN18RR, **TRANSE},
                      "measured": dict(lr=0.0003, epochs=100)},
    "wn18rr:rotate": {"file": "WN18RR.tar.gz", "target": 0.47, "settings": {**WN18RR, "model": "rotate"}},
}
#: the schedule measured on the CPU; a run's "measured" entry overrides it
MEASURED = dict(lr=0.001, epochs=80, eval_every=5, patience=3, lr_decay=0.1)


def paper_schedule(file: str) -> dict:
    """The RotatE code's: Adam at lr 5e-5 for 100,000 steps of 1024 (FB15k-237) or 80,000 of 512 (WN18RR),
    divided by 10 halfway, negatives that are training triples left out; validation only keeps the best
    parameters (no early stop). RotatE phases also step at its rate (rotate_code_phase_scale)."""
    epochs = 376 if file.startswith("FB15k-237") else 472
    return dict(lr=5e-5, epochs=epochs, lr_decay=0.1, lr_decay_at=[epochs // 2], eval_every=25, patience=1000,
                filter_negatives=True)


def rotate_code_phase_scale(settings: dict) -> float:
    """The RotatE code stores each relation phase divided by pi * dim / (gamma + 2); under Adam that is a
    phase rate this many times the entity rate (kgpipe's ``relation_lr_scale``)."""
    return math.pi * settings["dim"] / (settings["gamma"] + 2.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with FB15k-237.tar.gz and WN18RR.tar.gz")
    parser.add_argument("--only", nargs="+", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument("--schedule", choices=["measured", "paper"], default="measured",
                        help="measured: lr 0.001 for 80 epochs at most (WN18RR TransE: 0.0003, 100), lr / 10 on "
                             "a flat validation (what met the targets on the CPU); paper: the RotatE code's "
                             "376-472 epochs at lr 5e-5")
    parser.add_argument("--epoch-scale", type=float, default=1.0, help="multiply every run's epochs (CPU smoke: 0.01)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="override a trainer setting in every run, e.g. amp_bf16=true")
    args = parser.parse_args()

    import yaml

    from kgpipe.embed.api import train_and_evaluate
    from kgpipe.embed.config import KGEConfig
    extra = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.extra)}
    results = {}
    for name in args.only:
        run = RUNS[name]
        path = args.data / run["file"]
        if not path.exists():
            print(f"bench/kge_quality.py: {path} is missing", file=sys.stderr)
            return 2
        schedule = ({**MEASURED, **run.get("measured", {})} if args.schedule == "measured"
                    else paper_schedule(run["file"]))
        settings = {**run["settings"], **schedule, "device": args.device, "sparse": True, **extra}
        if args.schedule == "paper" and settings["model"] == "rotate":
            settings.setdefault("relation_lr_scale", rotate_code_phase_scale(settings))
        settings["epochs"] = max(1, round(settings["epochs"] * args.epoch_scale))
        if settings.get("lr_decay_at"):   # the schedule's step scales with the epochs
            settings["lr_decay_at"] = [max(1, round(e * args.epoch_scale)) for e in settings["lr_decay_at"]]
        result = train_and_evaluate(path, KGEConfig(**settings))
        result.pop("history", None)
        results[name] = result
        print(json.dumps({"run": name, **result}, sort_keys=True, default=str), flush=True)
    print(f"{'run':<18} {'MRR':>7} {'H@1':>6} {'H@10':>6} {'target':>7} {'train s':>8} {'triples/s':>11} device")
    met = True
    for name, r in results.items():
        ok = r["test_mrr"] >= RUNS[name]["target"]
        met &= ok
        print(f"{name:<18} {r['test_mrr']:7.4f} {r['test_hits@1']:6.3f} {r['test_hits@10']:6.3f} "
              f"{RUNS[name]['target']:7.2f} {r['train_seconds']:8.1f} {r['triples_per_second']:11,.0f} {r['device']}"
              f"{'' if ok else '  below target'}")
    scale = "" if args.epoch_scale == 1.0 else f" at {args.epoch_scale}x the epochs"
    print(f"KGE quality{scale}: {sum(r['test_mrr'] >= RUNS[n]['target'] for n, r in results.items())} of "
          f"{len(results)} runs reach their filtered-MRR target: {'targets met' if met else 'targets NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
