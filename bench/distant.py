"""Distant supervision against the rules alone and against human labels, on WebNLG 3.0 dev.

Relation classifiers (``kgpipe.extract.relation_model.RelationModel``) trained on
  * distant labels: ``kgpipe label distant``'s labels of a warehouse (the infobox facts of its articles
    matched to their prose; ``kgpipe/label/distant.py``), built here without committing anything;
  * human labels: ``--human`` candidates of the pool half of WebNLG dev labelled by the gold triples, the
    simulated annotator of ``bench/active_learning.py`` (same split, same oracle, same target relations);
  * both, a human label winning where both label one candidate (they never share a sentence here);
each applied by the extract stage's own path (``kgpipe eval re``'s ``kgpipe`` extractor with
``extract.relation_model`` set: vocabulary first, the classifier names free-text predicates and adds pairs),
scored on the test half with the ``pair``, ``strict`` and ``canonical`` protocols next to the rules alone.

    .venv/bin/python bench/distant.py --warehouse DIR [--webnlg ../shared/data/webnlg/release_v3.0_en_dev]
        [--human 200] [--seed 0]

The last line states canonical F1 of distant + human labels, its ratio to the rules alone, and whether the
issue's target (canonical F1 >= 0.40) is met.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from active_learning import DEFAULT_WEBNLG, build_pool, oracle  # noqa: E402

from kgpipe.config import Config, ExtractConfig  # noqa: E402
from kgpipe.evaluate.relations import kgpipe_extractor, score_re, webnlg_key  # noqa: E402
from kgpipe.extract.relation_model import NO_RELATION, RelationModel, features_for_text  # noqa: E402
from kgpipe.label.distant import distant_labels  # noqa: E402
from kgpipe.warehouse import Warehouse  # noqa: E402

PROTOCOLS = ("pair", "strict", "canonical")
TARGET_CANONICAL_F1 = 0.40


def _scores(nlp, entries, model_path: str | None) -> dict:
    extractor = kgpipe_extractor(nlp, ExtractConfig(relation_model=model_path))
    return score_re([(extractor(e.text), e.triples) for e in entries], PROTOCOLS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", required=True, help="a warehouse that resolve has written")
    parser.add_argument("--webnlg", type=Path, default=DEFAULT_WEBNLG)
    parser.add_argument("--human", type=int, default=200, help="simulated human labels (pool candidates)")
    parser.add_argument("--top-relations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.webnlg.exists():
        print(f"bench: error: WebNLG data not found at {args.webnlg}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    from kgpipe.extract.nlp import load_nlp
    config = Config(warehouse=args.warehouse)
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    distant, counts = distant_labels(Warehouse(args.warehouse), config, nlp)
    distant_features = features_for_text(nlp, [(r["sentence_text"], (r["subject_start"], r["subject_end"]),
                                                (r["object_start"], r["object_end"]), r["extracted_predicate"])
                                               for r in distant])
    distant_set = [(f, r["relation"]) for f, r in zip(distant_features, distant) if f is not None]

    entries, _, candidates, _, is_test, _ = build_pool(args.webnlg, nlp, None)
    pool_entries = [e for e in entries if not is_test[webnlg_key(e)]]
    test_entries = [e for e in entries if is_test[webnlg_key(e)]]
    relations = [p for p, _ in Counter(t[1] for e in pool_entries for t in e.triples).most_common(args.top_relations)]
    labels = oracle(candidates, entries, set(relations))
    pool = [(c.features, y) for c, y in zip(candidates, labels) if not is_test[c.key]]
    human_set = random.Random(args.seed).sample(pool, min(args.human, len(pool)))
    print(f"distant labels from {args.warehouse}: {counts['positives']} positive, {counts['negatives']} negative "
          f"({counts['sentences']} sentences of {counts['documents_with_facts']} articles); human labels: "
          f"{len(human_set)} of {len(pool):,} pool candidates "
          f"({sum(y != NO_RELATION for _, y in human_set)} with a relation); test half: {len(test_entries)} entries")

    results = {"rules alone": _scores(nlp, test_entries, None)}
    with tempfile.TemporaryDirectory() as folder:
        for name, examples in (("distant", distant_set), ("human", human_set),
                               ("distant + human", distant_set + human_set)):
            targets = sorted(set(relations) | {y for _, y in examples} - {NO_RELATION})
            model = RelationModel(targets).fit([f for f, _ in examples], [y for _, y in examples])
            path = str(model.save(Path(folder) / f"{name.replace(' ', '')}.joblib"))
            results[name] = _scores(nlp, test_entries, path)
    print(f"{'labels':<18}" + "".join(f"{p + ' P/R/F1':>26}" for p in PROTOCOLS))
    for name, scores in results.items():
        print(f"{name:<18}" + "".join(f"{scores[p]['precision']:>10.3f}{scores[p]['recall']:>8.3f}"
                                      f"{scores[p]['f1']:>8.3f}" for p in PROTOCOLS))
    print(f"({time.perf_counter() - started:.0f}s)")
    both, rules = results["distant + human"]["canonical"]["f1"], results["rules alone"]["canonical"]["f1"]
    met = "met" if both >= TARGET_CANONICAL_F1 else "not met"
    print(f"distant + human labels: canonical F1 {both:.3f} vs rules alone {rules:.3f} "
          f"({both / max(rules, 1e-9):.2f}x); target canonical F1 >= {TARGET_CANONICAL_F1}: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
