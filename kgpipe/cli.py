"""``kgpipe``: run the pipeline's stages from the command line.

    kgpipe [--config FILE] [--set section.key=value ...] COMMAND [options]

Commands: ``fetch`` (cache the embedded default input and the GraphFrames jar),
``run`` (every stage in order), and one command per stage (``ingest``). Options
a command does not know are passed to the engine (Beam pipeline options).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from kgpipe.config import Config, ConfigError, load_config
from kgpipe.datasets import ENWIKI_SAMPLE, GRAPHFRAMES_JAR, FetchError, fetch
from kgpipe.dumps import InputError
from kgpipe.export import ExportError
from kgpipe.manifest import RunManifest, new_run_id
from kgpipe.metrics import write_metrics
from kgpipe.reasoning import RuleError
from kgpipe.stages import STAGES, StageContext, stage_function
from kgpipe.warehouse import Warehouse

log = logging.getLogger("kgpipe")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgpipe", description="Wikipedia and news to a knowledge graph.")
    parser.add_argument("--config", help="YAML configuration (default: built-in defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one configuration field, e.g. ingest.direct_num_workers=4")
    parser.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="cache the embedded default input and the GraphFrames jar")
    run = sub.add_parser("run", help="run every stage in order")
    run.add_argument("--warehouse", help="root folder of the Parquet tables")
    ingest = sub.add_parser("ingest", help="Beam: dumps and news files -> documents, redirects, links, rejects")
    ingest.add_argument("--input", nargs="+", metavar="PATH",
                        help="dump files (.xml, .xml.bz2, multistream + index), JSONL news files, "
                             "folders of text articles; default: ingest.inputs")
    ingest.add_argument("--warehouse", help="root folder of the Parquet tables")
    ingest.add_argument("--runner", help="Beam runner (DirectRunner, DataflowRunner, FlinkRunner, ...)")
    extract = sub.add_parser("extract", help="Spark + spaCy: documents -> mentions, triples_raw")
    extract.add_argument("--warehouse", help="root folder of the Parquet tables")
    extract.add_argument("--master", help="Spark master URL (default: spark.master)")
    for name, text in (("resolve", "Spark + GraphFrames: mentions, triples_raw, links -> entities, edges"),
                       ("analyze", "GraphFrames: PageRank, degrees, components, communities -> entity_stats"),
                       ("reason", "apply the YAML rules to edges -> inferred_edges with explanations"),
                       ("train", "PyTorch: entity-to-entity edges -> embeddings, relation_embeddings, "
                                 "models/<run_id> (GPU when present; train.num_processes > 1: TorchDistributor)"),
                       ("index", "FAISS: embeddings -> indexes/<run_id> bundle (index, id map, recall@10), "
                                 "switched in through indexes/CURRENT")):
        stage = sub.add_parser(name, help=text)
        stage.add_argument("--warehouse", help="root folder of the Parquet tables")
    export = sub.add_parser("export", help="write the graph for other tools: neo4j-admin CSVs, N-Triples, GraphML")
    export.add_argument("--warehouse", help="root folder of the Parquet tables")
    export.add_argument("--format", choices=["neo4j", "ntriples", "graphml"], help="default: export.format")
    export.add_argument("--out", metavar="DIR", help="output folder (default: exports/<format> in the warehouse)")
    evaluate = sub.add_parser("eval", help="score extraction against gold data; prints one JSON line")
    kinds = evaluate.add_subparsers(dest="evaluation", required=True)
    ner = kinds.add_parser("ner", help="entity-level NER scores on a CoNLL-2003 file (IOB1 or IOB2)")
    ner.add_argument("--conll", required=True, metavar="FILE")
    relations = kinds.add_parser("re", help="triple scores on WebNLG XML (a file or a folder)")
    relations.add_argument("--webnlg", required=True, metavar="PATH")
    relations.add_argument("--extractor", default="kgpipe", help="kgpipe, all_pairs or textacy_svo")
    linking = kinds.add_parser("linking", help="entity-linking accuracy on held-out wiki link anchors")
    linking.add_argument("--warehouse", help="warehouse with documents, links, redirects and mentions")
    linking.add_argument("--holdout-fraction", type=float, default=0.1, metavar="F",
                         help="share of link anchors hidden from the alias evidence (default 0.1)")
    linking.add_argument("--seed", type=int, default=0, help="which links are held out")
    kge = kinds.add_parser("kge", help="train and evaluate embeddings on a train/valid/test TSV dataset")
    kge.add_argument("--dataset", required=True, metavar="PATH", help="folder or .tar.gz of train/valid/test")
    for flag, kind in (("--model", str), ("--epochs", int), ("--dim", int), ("--lr", float), ("--loss", str),
                       ("--num-negs", int), ("--batch-size", int), ("--device", str), ("--seed", int)):
        kge.add_argument(flag, type=kind)
    kge.add_argument("--kge", dest="kge_overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="any other trainer setting (see kgpipe/kge/config.py), e.g. sampler=bernoulli")
    return parser


def _print_summary(manifest: RunManifest, warehouse: Warehouse) -> None:
    print(f"run {manifest.run_id}: {manifest.status}; manifest in {warehouse.root / '_manifests'}")
    for stage in manifest.stages:
        print(f"  stage {stage.name}: {stage.seconds:.1f}s")
        for table, rows in stage.outputs.items():
            print(f"    {table:<20} {rows:>10,} rows")
        for path, row in stage.inputs.get("per_input", {}).items():
            print(f"    input {path}: seen {row['pages_seen']} = documents {row['documents']}"
                  f" + redirects {row['redirects']} + skipped {row['skipped_by_rule']}"
                  f" + rejects {row['rejects']}")


def _run_stages(config: Config, args, names: list[str], engine_args: list[str]) -> int:
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    warehouse.root.mkdir(parents=True, exist_ok=True)
    manifest = RunManifest(run_id=new_run_id(), command=" ".join(["kgpipe", *sys.argv[1:]]),
                           config=config.model_dump())
    ctx = StageContext(warehouse, manifest.run_id, config.cache_dir, engine_args, config.spark)
    try:
        for name in names:
            log.info("stage %s: starting", name)
            started = time.monotonic()
            kwargs = {"inputs": args.input} if name == "ingest" and getattr(args, "input", None) else {}
            record = stage_function(name)(getattr(config, name), ctx, **kwargs)
            manifest.stages.append(record)
            log.info("stage %s: committed in %.1fs", name, time.monotonic() - started)
            warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        manifest.status = "succeeded"
    except (InputError, FetchError, FileExistsError, FileNotFoundError, RuleError, ExportError) as exc:
        manifest.status = "failed"
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if manifest.status == "running":
            manifest.status = "failed"
        manifest.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        if manifest.status == "succeeded":
            warehouse.write_json_atomic("_manifests/latest.json", manifest.as_dict())
        write_metrics(manifest.as_dict(), config.metrics_textfile or warehouse.root / "_metrics" / "kgpipe.prom")
    _print_summary(manifest, warehouse)
    return 0


def _evaluate_kge(args) -> int:
    import yaml

    from kgpipe.kge import KGEConfig, train_and_evaluate
    settings = {name: getattr(args, name) for name in ("model", "epochs", "dim", "lr", "loss", "num_negs",
                                                        "batch_size", "device", "seed")
                if getattr(args, name) is not None}
    for item in args.kge_overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            print(f"kgpipe: error: --kge expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        settings[key.strip()] = yaml.safe_load(raw)
    try:
        cfg = KGEConfig(**settings)
    except ValueError as exc:
        print(f"kgpipe: error: invalid trainer settings: {exc}", file=sys.stderr)
        return 2
    result = train_and_evaluate(args.dataset, cfg)
    result.pop("history", None)
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


def _evaluate_linking(config: Config, args) -> int:
    from jobs.resolve import evaluate_linking
    from jobs.spark import spark_session
    if not 0.0 < args.holdout_fraction < 1.0:
        print("kgpipe: error: --holdout-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    for table in ("documents", "links", "mentions"):
        if not warehouse.exists(table):
            print(f"kgpipe: error: eval linking needs the {table} table in {warehouse.root}", file=sys.stderr)
            return 2
    spark = spark_session(config.spark, app_suffix="-eval-linking", cache_dir=config.cache_dir)
    result = evaluate_linking(spark, warehouse, config.resolve, args.holdout_fraction, args.seed)
    print(json.dumps(result, sort_keys=True))
    return 0


def _evaluate(config: Config, args) -> int:
    if args.evaluation == "kge":
        return _evaluate_kge(args)
    if args.evaluation == "linking":
        return _evaluate_linking(config, args)
    from kgpipe.evaluation import EXTRACTORS, evaluate_ner, evaluate_re
    from kgpipe.extraction import load_nlp
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    if args.evaluation == "ner":
        result = evaluate_ner(args.conll, nlp)
    else:
        if args.extractor not in EXTRACTORS:
            print(f"kgpipe: error: unknown extractor {args.extractor!r}; one of {', '.join(EXTRACTORS)}",
                  file=sys.stderr)
            return 2
        result = evaluate_re(args.webnlg, EXTRACTORS[args.extractor](nlp))
    print(json.dumps(result, sort_keys=True))
    return 0


def submit(stage: str, argv: list[str] | None = None) -> int:
    """A job file run by ``spark-submit jobs/<stage>.py [options]``: the same as ``kgpipe
    [--config FILE] [--set KEY=VALUE] [--quiet] <stage> [options]``, global options anywhere."""
    argv = list(sys.argv[1:] if argv is None else argv)
    global_options, stage_options = [], []
    while argv:
        option = argv.pop(0)
        if option in ("--config", "--set") and argv:
            global_options += [option, argv.pop(0)]
        elif option == "--quiet":
            global_options.append(option)
        else:
            stage_options.append(option)
    return main([*global_options, stage, *stage_options])


def main(argv: list[str] | None = None) -> int:
    # torch's OpenMP threads spin between steps unless told otherwise, and must be told before
    # torch loads: spinning threads starve Spark's and Beam's workers on the same cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args, engine_args = _parser().parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    overrides = list(args.overrides)
    if getattr(args, "warehouse", None):
        overrides.append(f"warehouse={args.warehouse}")
    if getattr(args, "runner", None):
        overrides.append(f"ingest.runner={args.runner}")
    if getattr(args, "format", None):
        overrides.append(f"export.format={args.format}")
    if getattr(args, "out", None):
        overrides.append(f"export.out={args.out}")
    if getattr(args, "master", None):
        overrides.append(f"spark.master={args.master}")
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    if args.command == "fetch":
        try:
            for artifact in (ENWIKI_SAMPLE, GRAPHFRAMES_JAR):
                print(fetch(artifact, config.cache_dir))
        except FetchError as exc:
            print(f"kgpipe: error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "eval":
        return _evaluate(config, args)
    names = list(STAGES) if args.command == "run" else [args.command]
    return _run_stages(config, args, names, engine_args)


if __name__ == "__main__":
    sys.exit(main())
