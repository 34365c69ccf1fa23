"""``kgpipe``: run the pipeline's stages from the command line.

    kgpipe [--config FILE] [--set section.key=value ...] COMMAND [options]

Commands: ``fetch`` (cache the embedded default input and the GraphFrames jar),
``run`` (every stage in order), and one command per stage (``ingest``). Options
a command does not know are passed to the engine (Beam pipeline options).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from kgpipe.config import Config, ConfigError, load_config
from kgpipe.datasets import ENWIKI_SAMPLE, GRAPHFRAMES_JAR, FetchError, fetch
from kgpipe.graph.export import ExportError
from kgpipe.graph.reason import RuleError
from kgpipe.ingest.dumps import InputError
from kgpipe.manifest import COMMITTED, RunManifest, StageRecord, new_run_id
from kgpipe.metrics import write_metrics
from kgpipe.serve.store import StoreError
from kgpipe.stages import ON_DEMAND, STAGES, StageContext, stage_function
from kgpipe.submit import SubmitError, runs_on_cluster, submit_stage
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
    run = sub.add_parser("run", help="run every stage in order; a rerun after a failed or killed run resumes "
                                     "after the stages that run committed")
    run.add_argument("--warehouse", help="root folder of the Parquet tables")
    run.add_argument("--master", help="Spark master URL: submit the Spark stages to this cluster with spark-submit "
                                      "(spark://, yarn, k8s://); ingest, index and single-process train run here")
    run.add_argument("--deploy-mode", choices=["client", "cluster"], default="client",
                     help="with --master: where the drivers run (default client)")
    run.add_argument("--no-resume", action="store_true", help="run every stage even after a failed run")
    run.add_argument("--from", dest="from_stage", choices=list(STAGES), metavar="STAGE",
                     help="start at this stage (the earlier stages' tables must exist); implies --no-resume")
    submit = sub.add_parser("submit", help="run one stage as a Spark application with spark-submit "
                                           "(code zip, GraphFrames jar and configuration shipped)")
    submit.add_argument("stage", choices=[s for s in [*STAGES, *ON_DEMAND] if s != "ingest"])
    submit.add_argument("--master", help="spark://HOST:PORT, yarn or k8s://https://HOST:PORT (default: spark.master)")
    submit.add_argument("--deploy-mode", choices=["client", "cluster"], default="client")
    submit.add_argument("--warehouse", help="root folder of the Parquet tables")
    submit.add_argument("--dry-run", action="store_true", help="print the spark-submit command line, run nothing")
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
    serve = sub.add_parser("serve", help="HTTP service (FastAPI, uvicorn) over <warehouse>/indexes/CURRENT: search, "
                                         "entity cards, similar, predict, recommend, ask")
    serve.add_argument("--warehouse", help="warehouse root whose indexes/CURRENT bundle is served")
    serve.add_argument("--host", help="address to listen on (default: serve.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: serve.port, 8000)")
    serve.add_argument("--insecure-no-auth", action="store_true",
                       help="serve without API keys (otherwise the service refuses to start without any)")
    ask = sub.add_parser("ask", help="answer an English question from the graph, with citations and reasoning")
    ask.add_argument("question", help='the question, e.g. "Where was Marie Curie born?"')
    ask.add_argument("--warehouse", help="warehouse root (its indexes/CURRENT bundle), indexes folder or bundle")
    ask.add_argument("--json", dest="as_json", action="store_true", help="print the whole answer as JSON")
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
    relations.add_argument("--relation-model", metavar="PATH",
                           help="also score kgpipe with this relation classifier (kgpipe label train) next to "
                                "kgpipe without it, on the entries the model was not trained on")
    linking = kinds.add_parser("linking", help="entity-linking accuracy on held-out wiki link anchors")
    linking.add_argument("--warehouse", help="warehouse with documents, links, redirects and mentions")
    linking.add_argument("--holdout-fraction", type=float, default=0.1, metavar="F",
                         help="share of link anchors hidden from the alias evidence (default 0.1)")
    linking.add_argument("--seed", type=int, default=0, help="which links are held out")
    qa_eval = kinds.add_parser("qa", help="question-answering accuracy on a JSONL file of questions and answers")
    qa_eval.add_argument("--questions", metavar="FILE",
                         help="JSONL, one {\"question\", \"answers\": [...]} per line (default: the shipped "
                              "kgpipe/data/qa/default-questions.jsonl)")
    qa_eval.add_argument("--warehouse", help="warehouse root (its indexes/CURRENT bundle), indexes folder or bundle")
    qa_eval.add_argument("--details", metavar="FILE", help="also write one JSON line per question here")
    kge = kinds.add_parser("kge", help="train and evaluate embeddings on a train/valid/test TSV dataset")
    kge.add_argument("--dataset", required=True, metavar="PATH", help="folder or .tar.gz of train/valid/test")
    for flag, kind in (("--model", str), ("--epochs", int), ("--dim", int), ("--lr", float), ("--loss", str),
                       ("--num-negs", int), ("--batch-size", int), ("--device", str), ("--seed", int)):
        kge.add_argument(flag, type=kind)
    kge.add_argument("--checkpoint", metavar="FILE",
                     help="save the trainer's state here (after an epoch, at most once a minute, and at the "
                          "end); when FILE exists, continue from it (same settings; a larger --epochs trains on)")
    kge.add_argument("--kge", dest="kge_overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="any other trainer setting (see kgpipe/embed/config.py), e.g. sampler=bernoulli")
    label = sub.add_parser("label", help="active learning: choose facts for humans to label, import the labels, "
                                         "train the relation classifier")
    label_commands = label.add_subparsers(dest="label_command", required=True)
    select = label_commands.add_parser("select", help="write Label Studio tasks for the candidates most worth "
                                                      "labelling")
    select.add_argument("--n", type=int, default=50, help="tasks to write (default 50)")
    select.add_argument("--strategy", choices=["uncertainty", "margin", "diversity", "random"],
                        help="default: label.strategy")
    select.add_argument("--warehouse", help="root folder of the Parquet tables")
    label_import = label_commands.add_parser("import", help="validate a Label Studio export or plain JSONL and "
                                                            "merge it into the labels table")
    label_import.add_argument("file", metavar="FILE")
    label_import.add_argument("--warehouse", help="root folder of the Parquet tables")
    label_train = label_commands.add_parser("train", help="fit the relation classifier on the labels")
    label_train.add_argument("--warehouse", help="root folder of the Parquet tables")
    for name in [*STAGES, *ON_DEMAND]:
        # set by `kgpipe run --master` on the stages it submits (kgpipe/submit.py): the run's id, and
        # where the job leaves its stage record instead of writing a run manifest of its own
        stage = sub.choices[name]
        stage.add_argument("--run-id", help=argparse.SUPPRESS)
        stage.add_argument("--record", help=argparse.SUPPRESS)
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


#: what an exception from the output path looks like, in Python's words and in Spark's (Java's)
_STORAGE_ERRORS = re.compile(r"[^\n]*(No space left on device|Disk quota exceeded|Permission denied|"
                             r"Read-only file system|AccessDeniedException|Mkdirs failed to create)[^\n]*")


def _storage_error(exc: BaseException) -> str | None:
    """A one-line reason where ``exc`` (or what caused it, a Spark job's Java exception included)
    is a full disk, a quota or a permission problem; None otherwise."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                                      errno.EROFS):
            return str(exc)
        match = _STORAGE_ERRORS.search(str(exc))
        if match:
            return match.group(0).strip()
        exc = exc.__cause__ or exc.__context__
    return None


def _comparable(config: dict) -> dict:
    """What a run computes depends on every section but ``spark`` (where it runs)."""
    return {key: value for key, value in config.items() if key != "spark"}


def _previous_run(warehouse: Warehouse) -> dict | None:
    """The newest run manifest in the warehouse (any command), or None."""
    newest = None
    for path in (warehouse.root / "_manifests").glob("*.json"):
        if path.name == "latest.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable manifest %s: %s", path, exc)
            continue
        if newest is None or str(data.get("started_at")) > str(newest.get("started_at")):
            newest = data
    return newest


def _alive(previous: dict) -> bool:
    """Whether the process of a manifest that says ``running`` still runs (this host only)."""
    if previous.get("host") != socket.gethostname() or not previous.get("pid"):
        return False
    try:
        os.kill(int(previous["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResumeError(Exception):
    pass


def _resume(warehouse: Warehouse, config: Config, args, names: list[str]) -> tuple[list[str], list[StageRecord]]:
    """``kgpipe run`` after a failed or killed run: the stages still to run and the records of the
    ones the failed run committed (status ``resumed``).

    The previous run is the newest manifest of the warehouse; it is resumed when it was a ``run``
    that did not succeed and its configuration (all but the ``spark`` section) equals ours. The
    stages it committed, in plan order, are not run again. Tables the interrupted stage had
    already swapped in (their version is that run's id) are rolled back to the versions they
    replaced, so the stage reruns on the warehouse as it was before it, and the staging folder the
    killed run left behind is removed (readers never saw it: tables are links to complete versions).
    """
    if args.no_resume or args.from_stage:
        return (names[names.index(args.from_stage):] if args.from_stage else names), []
    previous = _previous_run(warehouse)
    if not previous or "plan" not in previous or previous.get("status") == "succeeded":
        return names, []
    run_id = previous["run_id"]
    if previous.get("status") == "running" and _alive(previous):
        raise ResumeError(f"run {run_id} (pid {previous['pid']}) is still running on {warehouse.root}; "
                          "wait for it to end")
    if _comparable(previous.get("config") or {}) != _comparable(config.model_dump()):
        log.warning("not resuming run %s: its configuration differs; running every stage", run_id)
        return names, []
    stages = previous.get("stages") or {}
    resumed: list[StageRecord] = []
    for name in names:
        record = stages.get(name)
        if not record or record.get("status") not in COMMITTED:
            break
        record = StageRecord(**record)
        record.details = {**record.details, "resumed_from": record.details.get("resumed_from", run_id)}
        record.status = "resumed"
        resumed.append(record)
    # version folders are named by run id (run_id.2, .3 when several stages of the run commit one
    # table, as they all do rejects): the run's versions that no committed stage recorded are the
    # interrupted stage's, undone newest first
    committed = {(table, Path(path).name) for record in stages.values() if record.get("status") in COMMITTED
                 for table, path in (record.get("versions") or {}).items()}
    for table in warehouse.tables():
        current = warehouse.current_version(table)
        while current and (current == run_id or current.startswith(f"{run_id}.")) \
                and (table, current) not in committed:
            try:
                current = warehouse.rollback(table, current)
                log.warning("resume: %s was committed by the interrupted stage of run %s; back to %s",
                            table, run_id, current or "no table")
            except FileNotFoundError as exc:
                log.warning("resume: cannot roll %s back (%s); the rerun replaces it", table, exc)
                break
    warehouse.discard_staging(run_id)
    if resumed:
        log.warning("resuming run %s (%s): %s committed, starting at %s", run_id, previous.get("status"),
                    ", ".join(r.name for r in resumed), names[len(resumed)] if len(resumed) < len(names) else "-")
    return names[len(resumed):], resumed


def _run_stages(config: Config, args, names: list[str], engine_args: list[str]) -> int:
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    try:
        warehouse.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"kgpipe: error: cannot create the warehouse {warehouse.root}: {exc}", file=sys.stderr)
        return 2
    # a stage submitted by `kgpipe run --master` runs under that run's id and hands back its record
    record_file = getattr(args, "record", None)
    is_run = args.command == "run"
    manifest = RunManifest(run_id=getattr(args, "run_id", None) or new_run_id(),
                           command=" ".join(["kgpipe", *sys.argv[1:]]), config=config.model_dump(),
                           plan=list(names) if is_run else None)
    master = getattr(args, "master", None) if is_run else None
    if is_run:
        try:
            names, resumed = _resume(warehouse, config, args, names)
        except ResumeError as exc:
            print(f"kgpipe: error: {exc}", file=sys.stderr)
            return 2
        manifest.stages.extend(resumed)
    ctx = StageContext(warehouse, manifest.run_id, config.cache_dir, engine_args, config.spark)
    name = names[0] if names else "-"
    try:
        if not record_file:
            warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        for name in names:
            log.info("stage %s: starting", name)
            started = time.monotonic()
            if master and runs_on_cluster(name, config):
                record = submit_stage(name, config, master, args.deploy_mode, manifest.run_id, args.quiet)
            else:
                kwargs = {"inputs": args.input} if name == "ingest" and getattr(args, "input", None) else {}
                record = stage_function(name)(getattr(config, name), ctx, **kwargs)
            manifest.stages.append(record)
            log.info("stage %s: committed in %.1fs", name, time.monotonic() - started)
            if not record_file:
                warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
        if record_file:
            path = Path(record_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(vars(manifest.stages[-1]), default=str), encoding="utf-8")
            os.replace(tmp, path)
        manifest.status = "succeeded"
    except (InputError, FetchError, FileExistsError, FileNotFoundError, RuleError, ExportError, StoreError,
            SubmitError) as exc:
        manifest.status = "failed"
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        reason = _storage_error(exc)
        if reason is None:
            raise
        manifest.status = "failed"
        # the stage wrote only under _staging (discarded) and never swapped a table link
        print(f"kgpipe: error: stage {name} cannot write its output under {warehouse.root}: {reason}; "
              "the tables keep their previous versions", file=sys.stderr)
        return 2
    finally:
        if manifest.status == "running":
            manifest.status = "failed"
        manifest.finished_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if not record_file:
            try:
                warehouse.write_json_atomic(f"_manifests/{manifest.run_id}.json", manifest.as_dict())
                if manifest.status == "succeeded":
                    warehouse.write_json_atomic("_manifests/latest.json", manifest.as_dict())
                write_metrics(manifest.as_dict(),
                              config.metrics_textfile or warehouse.root / "_metrics" / "kgpipe.prom")
            except OSError as exc:
                # a full disk must not hide the stage's own message behind a traceback
                print(f"kgpipe: warning: cannot write the run manifest or metrics: {exc}", file=sys.stderr)
    if not record_file:
        _print_summary(manifest, warehouse)
    return 0


def _evaluate_kge(args) -> int:
    import yaml

    from kgpipe.embed import KGEConfig, train_and_evaluate
    from kgpipe.embed.train import CheckpointMismatch
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
    try:
        result = train_and_evaluate(args.dataset, cfg, checkpoint=args.checkpoint)
    except CheckpointMismatch as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
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


def _load_graph(config: Config):
    """The KnowledgeGraph of ``config.warehouse``, or None after printing why it cannot be loaded."""
    from kgpipe.serve.index import BundleError
    from kgpipe.serve.kg import KnowledgeGraph
    try:
        return KnowledgeGraph.load(config.warehouse)
    except (BundleError, StoreError, FileNotFoundError) as exc:
        print(f"kgpipe: error: cannot load the graph from {config.warehouse}: {exc}", file=sys.stderr)
        return None


def _ask(config: Config, args) -> int:
    from kgpipe.serve.qa import QuestionError, answer, json_ready
    kg = _load_graph(config)
    if kg is None:
        return 2
    try:
        result = answer(kg, args.question)
    except QuestionError as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    if args.as_json:
        print(json.dumps(json_ready(result), ensure_ascii=False, indent=2))
        return 0
    print(f"Answer: {result['answer']}")
    if result["text"]:
        print(result["text"])
    for citation in result["citations"]:
        print(f"  [{citation['id']}] {citation['title'] or citation['doc_id']}"
              f"{' <' + citation['url'] + '>' if citation['url'] else ''}: {citation['sentence_text']}")
    print("Reasoning:")
    for step in result["reasoning"]:
        print(f"  - {step}")
    return 0


def _evaluate_qa(config: Config, args) -> int:
    from kgpipe.evaluate.qa import DEFAULT_QUESTIONS, evaluate_qa
    from kgpipe.serve.qa import QuestionError
    kg = _load_graph(config)
    if kg is None:
        return 2
    details: list | None = [] if args.details else None
    try:
        result = evaluate_qa(kg, args.questions or DEFAULT_QUESTIONS, details)
    except QuestionError as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    if details is not None:
        with open(args.details, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in details)
    print(json.dumps(result, sort_keys=True))
    return 0


def _evaluate(config: Config, args) -> int:
    if args.evaluation == "qa":
        return _evaluate_qa(config, args)
    if args.evaluation == "kge":
        return _evaluate_kge(args)
    if args.evaluation == "linking":
        return _evaluate_linking(config, args)
    from kgpipe.evaluate.ner import evaluate_ner
    from kgpipe.evaluate.relations import EXTRACTORS, evaluate_re
    from kgpipe.extract.nlp import load_nlp
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    if args.evaluation == "ner":
        result = evaluate_ner(args.conll, nlp)
    else:
        if args.extractor not in EXTRACTORS:
            print(f"kgpipe: error: unknown extractor {args.extractor!r}; one of {', '.join(EXTRACTORS)}",
                  file=sys.stderr)
            return 2
        result = evaluate_re(args.webnlg, EXTRACTORS[args.extractor](nlp))
        if args.relation_model:
            from kgpipe.evaluate.relations import evaluate_re_with_model
            from kgpipe.extract.relation_model import LabelError, RelationModel
            try:
                model = RelationModel.load(args.relation_model)
            except (FileNotFoundError, LabelError) as exc:
                print(f"kgpipe: error: {exc}", file=sys.stderr)
                return 2
            result["relation_model"] = evaluate_re_with_model(
                args.webnlg, nlp, model, args.relation_model, keep_rejected=config.extract.relation_keep_rejected,
                add_pairs=config.extract.relation_add_pairs, threshold=config.extract.relation_threshold)
    print(json.dumps(result, sort_keys=True))
    return 0


def _label(config: Config, args) -> int:
    """``kgpipe label select|import|train``: one JSON line (jobs/label.py)."""
    from jobs.label import import_labels, select_tasks, train_model
    from kgpipe.extract.relation_model import LabelError
    try:
        if args.label_command == "select":
            if args.n < 1:
                print("kgpipe: error: --n must be at least 1", file=sys.stderr)
                return 2
            result = select_tasks(config, args.n, args.strategy or config.label.strategy)
        elif args.label_command == "import":
            result = import_labels(config, args.file)
        else:
            result = train_model(config)
    except (LabelError, FileNotFoundError) as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


def _serve(config: Config, args, unknown: list[str]) -> int:
    if unknown:
        print(f"kgpipe: error: serve does not take {' '.join(unknown)}", file=sys.stderr)
        return 2
    from kgpipe.serve.api import AuthConfigError, serve
    try:
        serve(config, config.warehouse, insecure_no_auth=args.insecure_no_auth)
    except AuthConfigError as exc:
        print(f"kgpipe: error: {exc}", file=sys.stderr)
        return 2
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


#: command flags that are shorthands for configuration settings
FLAG_SETTINGS = {"warehouse": "warehouse", "runner": "ingest.runner", "format": "export.format",
                 "out": "export.out", "master": "spark.master", "host": "serve.host", "port": "serve.port"}


def main(argv: list[str] | None = None) -> int:
    # torch's OpenMP threads spin between steps unless told otherwise, and must be told before
    # torch loads: spinning threads starve Spark's and Beam's workers on the same cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args, engine_args = _parser().parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)   # which CPU build it tried, at INFO
    # a command's own flags win over --set
    overrides = list(args.overrides) + [f"{setting}={getattr(args, flag)}" for flag, setting in FLAG_SETTINGS.items()
                                        if getattr(args, flag, None)]
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
    if args.command == "label":
        return _label(config, args)
    if args.command == "ask":
        return _ask(config, args)
    if args.command == "serve":
        return _serve(config, args, engine_args)
    with _sigterm_as_exit(args.command in ("run", "submit")):
        if args.command == "submit":
            from kgpipe.submit import submit as spark_submit
            try:
                return spark_submit(args.stage, config, args.master or config.spark.master, args.deploy_mode,
                                    quiet=args.quiet, dry_run=args.dry_run)
            except SubmitError as exc:
                print(f"kgpipe: error: {exc}", file=sys.stderr)
                return 2
        names = list(STAGES) if args.command == "run" else [args.command]
        return _run_stages(config, args, names, engine_args)


@contextlib.contextmanager
def _sigterm_as_exit(wanted: bool):
    """A scheduler stops a task with SIGTERM: end like Ctrl-C, so the run manifest says failed and
    a spark-submit driver we started is stopped with us (kgpipe/submit.py). Only in the main
    thread, and the previous handler comes back afterwards (``main`` may be called in-process)."""
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

if __name__ == "__main__":
    sys.exit(main())
