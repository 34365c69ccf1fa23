"""``kgpipe``: the command line.

    kgpipe [--config FILE] [--set section.key=value ...] [--quiet | --verbose] COMMAND [options]

One command per stage (:data:`kgpipe.stages.STAGES`), ``run`` (the pipeline in order, resumable),
``submit`` (one stage as a Spark application), ``forget`` (documents removed on request), ``fetch``, ``serve``,
``ask``, ``eval`` and ``label``.
:data:`COMMANDS` maps each to its handler; stage running lives in :mod:`kgpipe.runner`. Any
:class:`~kgpipe.errors.CommandError` ends here as ``kgpipe: error: <message>`` with exit status 2; a run
that committed although an input could not be read in full exits with 3 (:data:`EXIT_DAMAGED_INPUT`).
Options a command does not define are an error (argparse's message, exit status 2), except where
its stages hand them to their engine and the engine knows them: Beam pipeline options for
``ingest`` and ``run``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from kgpipe import logs
from kgpipe.config import Config, load_config
from kgpipe.errors import CommandError
from kgpipe.runner import RunRequest, run_stages, sigterm_as_exit
from kgpipe.stages import PIPELINE, STAGES, Option, load_entry

#: ``kgpipe eval linking`` runs the resolve stage on Spark: its entry is named, as the stages' are, so
#: that the core never imports a job
LINKING_EVALUATION = "jobs.resolve:linking_accuracy"
#: command flags that are shorthands for configuration settings
FLAG_SETTINGS = {"warehouse": "warehouse", "runner": "ingest.runner", "format": "export.format",
                 "out": "export.out", "master": "spark.master", "host": "serve.host", "port": "serve.port"}
WAREHOUSE_HELP = "root folder of the Parquet tables"
#: exit status of a run whose stages all committed while an input, or a part of one, could not be read
#: (ingest's damage rejects): the data that was readable is in the tables, and a scheduler sees a failure
EXIT_DAMAGED_INPUT = 3


# --------------------------------------------------------------------------- the parser

def _add(parser: argparse.ArgumentParser, option: Option) -> None:
    parser.add_argument(option.flag, help=option.help, nargs=option.nargs, choices=option.choices,
                        metavar=option.metavar)


def _add_stage_commands(sub) -> None:
    run = sub.add_parser("run", help="run every stage in order; a rerun after a failed or killed run resumes "
                                     "after the stages that run committed")
    run.add_argument("--warehouse", help=WAREHOUSE_HELP)
    run.add_argument("--master", help="Spark master URL: submit the Spark stages to this cluster with spark-submit "
                                      "(spark://, yarn, k8s://); ingest, index and single-process train run here")
    run.add_argument("--deploy-mode", choices=["client", "cluster"], default="client",
                     help="with --master: where the drivers run (default client)")
    run.add_argument("--no-resume", action="store_true", help="run every stage even after a failed run")
    run.add_argument("--from", dest="from_stage", choices=list(PIPELINE), metavar="STAGE",
                     help="start at this stage (the earlier stages' tables must exist); implies --no-resume")
    # set by `kgpipe run --master` on the application it submits (jobs/run.py, kgpipe/submit.py): the stages
    # it runs, the run's id, and the folder where each stage leaves its record instead of a run manifest
    run.add_argument("--stages", help=argparse.SUPPRESS)
    run.add_argument("--run-id", help=argparse.SUPPRESS)
    run.add_argument("--record", help=argparse.SUPPRESS)
    submit = sub.add_parser("submit", help="run one stage as a Spark application with spark-submit "
                                           "(code zip, GraphFrames jar and configuration shipped)")
    submit.add_argument("stage", choices=[name for name, stage in STAGES.items() if stage.submittable])
    submit.add_argument("--master", help="spark://HOST:PORT, yarn or k8s://https://HOST:PORT (default: spark.master)")
    submit.add_argument("--deploy-mode", choices=["client", "cluster"], default="client")
    submit.add_argument("--warehouse", help=WAREHOUSE_HELP)
    submit.add_argument("--dry-run", action="store_true", help="print the spark-submit command line, run nothing")
    for stage in STAGES.values():
        command = sub.add_parser(stage.name, help=stage.help)
        command.add_argument("--warehouse", help=WAREHOUSE_HELP)
        for option in stage.options:
            _add(command, option)


def _add_forget_command(sub) -> None:
    forget = sub.add_parser("forget", help="remove documents on request (takedown, erasure) and everything derived "
                                           "from them from every table; the next run resolves and indexes again")
    forget.add_argument("--doc-id", dest="doc_ids", nargs="+", default=[], metavar="ID", help="documents.doc_id")
    forget.add_argument("--source", dest="sources", nargs="+", default=[], metavar="S",
                        help="every document of this documents.source (news:<site>, enwiki)")
    forget.add_argument("--url", dest="urls", nargs="+", default=[], metavar="U",
                        help="every document (revision) with this documents.url")
    forget.add_argument("--reason", default="", help="why (recorded in _forgotten.jsonl and the manifest)")
    forget.add_argument("--warehouse", help=WAREHOUSE_HELP)


def _add_service_commands(sub) -> None:
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


def _add_eval_commands(sub) -> None:
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
    qa_eval.add_argument("--mode", choices=["graph", "hybrid"], default="graph",
                         help="answering mode (default graph; hybrid adds vector search over the text index)")
    qa_eval.add_argument("--k", type=int, default=10, help="retrieved facts per question (evidence recall@k)")
    infobox = kinds.add_parser("infobox", help="infobox facts of a warehouse against values checked by hand")
    infobox.add_argument("--gold", metavar="FILE", help="JSONL, one {\"title\", \"predicate\", \"values\"} per "
                                                       "line (default: kgpipe/data/eval/infobox-gold.jsonl)")
    infobox.add_argument("--warehouse", help="warehouse with the infobox and documents tables")
    entities = kinds.add_parser("entities", help="resolved entities against the wiki: type agreement with "
                                                 "infobox classes, self-link accuracy, titles split into several "
                                                 "entities, the largest entities")
    entities.add_argument("--warehouse", help="warehouse with documents, mentions, mention_entities, entities "
                                              "(and infobox)")
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


def _add_label_commands(sub) -> None:
    label = sub.add_parser("label", help="active learning: choose facts for humans to label, import the labels, "
                                         "train the relation classifier")
    commands = label.add_subparsers(dest="label_command", required=True)
    select = commands.add_parser("select", help="write Label Studio tasks for the candidates most worth labelling")
    select.add_argument("--n", type=int, default=50, help="tasks to write (default 50)")
    select.add_argument("--strategy", choices=["uncertainty", "margin", "diversity", "random"],
                        help="default: label.strategy")
    select.add_argument("--warehouse", help=WAREHOUSE_HELP)
    imported = commands.add_parser("import", help="validate a Label Studio export or plain JSONL and merge it "
                                                  "into the labels table")
    imported.add_argument("file", metavar="FILE")
    imported.add_argument("--warehouse", help=WAREHOUSE_HELP)
    distant = commands.add_parser("distant", help="label the sentences of each article that name an infobox "
                                                  "fact's subject and object (distant supervision; human labels "
                                                  "win)")
    distant.add_argument("--warehouse", help=WAREHOUSE_HELP)
    train = commands.add_parser("train", help="fit the relation classifier on the labels")
    train.add_argument("--warehouse", help=WAREHOUSE_HELP)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kgpipe", description="Wikipedia and news to a knowledge graph.")
    top.add_argument("--config", help="YAML configuration (default: built-in defaults)")
    top.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override one configuration field, e.g. ingest.direct_num_workers=4")
    loudness = top.add_mutually_exclusive_group()
    loudness.add_argument("--quiet", action="store_true",
                          help="kgpipe's warnings and errors and the summary only: the engines (Spark, Beam, py4j) "
                               "log errors only, library warnings are dropped")
    loudness.add_argument("--verbose", action="store_true", help="kgpipe and the engines log at INFO")
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="cache the embedded default input and the GraphFrames jar")
    _add_stage_commands(sub)
    _add_forget_command(sub)
    _add_service_commands(sub)
    _add_eval_commands(sub)
    _add_label_commands(sub)
    return top


# --------------------------------------------------------------------------- commands

def _print_json(result: dict) -> int:
    print(json.dumps(result, sort_keys=True, default=str))
    return 0


def _fetch(config: Config, args, extra: list[str]) -> int:
    from kgpipe.datasets import ENWIKI_SAMPLE, GRAPHFRAMES_JAR, fetch
    for artifact in (ENWIKI_SAMPLE, GRAPHFRAMES_JAR):
        print(fetch(artifact, config.cache_dir))
    return 0


def _run(config: Config, args, extra: list[str]) -> int:
    """``kgpipe run`` and every stage command (``kgpipe ingest``, ...)."""
    is_run = args.command == "run"
    option = vars(args).get
    names = list(PIPELINE) if is_run else [args.command]
    if option("stages"):
        names = option("stages").split(",")
        unknown = [name for name in names if name not in STAGES]
        if unknown:
            raise CommandError(f"unknown stages {', '.join(unknown)}")
    request = RunRequest(command=" ".join(["kgpipe", *sys.argv[1:]]), names=names, is_run=is_run,
                         run_id=option("run_id"), record_folder=option("record"),
                         master=option("master") if is_run else None, deploy_mode=option("deploy_mode") or "client",
                         inputs=option("input"), engine_args=extra, no_resume=bool(option("no_resume")),
                         from_stage=option("from_stage"), log_flags=logs.flags(args.quiet, args.verbose))
    with sigterm_as_exit(is_run):
        manifest = run_stages(config, request)
    damaged = [path for record in manifest.stages for path in record.details.get("damaged_inputs", ())]
    if damaged and not request.record_folder:
        print(f"kgpipe: warning: committed, but {len(damaged)} input(s) could not be read in full (see their "
              f"unreadable_*, missing_from_stream, truncated_record and corrupt_gzip_member rejects): "
              f"{', '.join(damaged)}", file=sys.stderr)
        return EXIT_DAMAGED_INPUT
    return 0


def _forget(config: Config, args, extra: list[str]) -> int:
    """``kgpipe forget``: one JSON line, what was removed (kgpipe/forget.py)."""
    from kgpipe.forget import forget
    from kgpipe.manifest import new_run_id
    from kgpipe.warehouse import Warehouse
    result = forget(Warehouse(config.warehouse, config.keep_versions), new_run_id(), args.doc_ids, args.sources,
                    args.urls, args.reason, command=" ".join(["kgpipe", *sys.argv[1:]]), config=config.model_dump())
    if not result["doc_ids"]:
        print("kgpipe: warning: no document matched; nothing removed (the request is recorded, and ingest keeps "
              "what it names out)", file=sys.stderr)
    return _print_json(result)


def _submit(config: Config, args, extra: list[str]) -> int:
    from kgpipe.submit import submit
    with sigterm_as_exit():
        return submit(args.stage, config, args.master or config.spark.master, args.deploy_mode,
                      log_flags=logs.flags(args.quiet, args.verbose),
                      dry_run=args.dry_run)


def _serve(config: Config, args, extra: list[str]) -> int:
    from kgpipe.serve.api import serve
    serve(config, config.warehouse, insecure_no_auth=args.insecure_no_auth)
    return 0


def _load_graph(config: Config):
    from kgpipe.serve.kg import KnowledgeGraph
    try:
        return KnowledgeGraph.load(config.warehouse)
    except (CommandError, FileNotFoundError) as exc:
        raise CommandError(f"cannot load the graph from {config.warehouse}: {exc}") from exc


def _ask(config: Config, args, extra: list[str]) -> int:
    from kgpipe.serve import qa
    qa.configure(config.extract, config.ingest.infobox_mappings)
    result = qa.answer(_load_graph(config), args.question)
    if args.as_json:
        print(json.dumps(qa.json_ready(result), ensure_ascii=False, indent=2))
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


def _evaluate_ner(config: Config, args) -> dict:
    from kgpipe.evaluate.ner import evaluate_ner
    from kgpipe.extract.nlp import load_nlp
    return evaluate_ner(args.conll, load_nlp(config.extract.model, tuple(config.extract.disable)))


def _evaluate_re(config: Config, args) -> dict:
    from kgpipe.evaluate.relations import (
        EXTRACTORS,
        evaluate_re,
        evaluate_re_with_model,
    )
    from kgpipe.extract.nlp import load_nlp
    if args.extractor not in EXTRACTORS:
        raise CommandError(f"unknown extractor {args.extractor!r}; one of {', '.join(EXTRACTORS)}")
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    result = evaluate_re(args.webnlg, EXTRACTORS[args.extractor](nlp))
    if args.relation_model:
        if not Path(args.relation_model).is_file():
            raise CommandError(f"relation model {args.relation_model} not found (train one with `kgpipe label "
                               "train`)")
        result["relation_model"] = evaluate_re_with_model(args.webnlg, nlp, args.relation_model, config.extract)
    return result


def _evaluate_linking(config: Config, args) -> dict:
    if not 0.0 < args.holdout_fraction < 1.0:
        raise CommandError("--holdout-fraction must be between 0 and 1")
    return load_entry(LINKING_EVALUATION)(config, args.holdout_fraction, args.seed)


def _evaluate_qa(config: Config, args) -> dict:
    from kgpipe.evaluate.qa import DEFAULT_QUESTIONS, evaluate_qa
    from kgpipe.serve import qa
    qa.configure(config.extract, config.ingest.infobox_mappings)
    kg = _load_graph(config)
    details: list | None = [] if args.details else None
    result = evaluate_qa(kg, args.questions or DEFAULT_QUESTIONS, details, args.mode, args.k)
    if details is not None:
        with open(args.details, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in details)
    return result


def _evaluate_kge(config: Config, args) -> dict:
    import yaml

    from kgpipe.embed.api import train_and_evaluate
    from kgpipe.embed.config import KGEConfig
    settings = {name: getattr(args, name) for name in ("model", "epochs", "dim", "lr", "loss", "num_negs",
                                                        "batch_size", "device", "seed")
                if getattr(args, name) is not None}
    for item in args.kge_overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise CommandError(f"--kge expects KEY=VALUE, got {item!r}")
        settings[key.strip()] = yaml.safe_load(raw)
    try:
        cfg = KGEConfig(**settings)
    except ValueError as exc:
        raise CommandError(f"invalid trainer settings: {exc}") from exc
    result = train_and_evaluate(args.dataset, cfg, checkpoint=args.checkpoint)
    result.pop("history", None)
    return result


def _evaluate_infobox(config: Config, args) -> dict:
    from kgpipe.evaluate.infobox import DEFAULT_GOLD, evaluate_warehouse
    from kgpipe.warehouse import Warehouse
    return evaluate_warehouse(Warehouse(config.warehouse, config.keep_versions), args.gold or DEFAULT_GOLD)


def _evaluate_entities(config: Config, args) -> dict:
    from kgpipe.evaluate.entities import evaluate_warehouse
    from kgpipe.warehouse import Warehouse
    return evaluate_warehouse(Warehouse(config.warehouse, config.keep_versions))


EVALUATIONS: dict[str, Callable[[Config, argparse.Namespace], dict]] = {
    "ner": _evaluate_ner, "re": _evaluate_re, "linking": _evaluate_linking, "qa": _evaluate_qa, "kge": _evaluate_kge,
    "infobox": _evaluate_infobox, "entities": _evaluate_entities}


def _evaluate(config: Config, args, extra: list[str]) -> int:
    return _print_json(EVALUATIONS[args.evaluation](config, args))


def _label_select(config: Config, args) -> dict:
    from kgpipe.label.commands import select_tasks
    if args.n < 1:
        raise CommandError("--n must be at least 1")
    return select_tasks(config, args.n, args.strategy or config.label.strategy)


def _label_import(config: Config, args) -> dict:
    from kgpipe.label.commands import import_labels
    return import_labels(config, args.file)


def _label_distant(config: Config, args) -> dict:
    from kgpipe.label.commands import distant_command
    return distant_command(config)


def _label_train(config: Config, args) -> dict:
    from kgpipe.label.commands import train_model
    return train_model(config)


LABEL_COMMANDS: dict[str, Callable[[Config, argparse.Namespace], dict]] = {
    "select": _label_select, "import": _label_import, "distant": _label_distant,
    "train": _label_train}


def _label(config: Config, args, extra: list[str]) -> int:
    """``kgpipe label select|import|distant|train``: one JSON line (kgpipe/label/commands.py)."""
    try:
        return _print_json(LABEL_COMMANDS[args.label_command](config, args))
    except FileNotFoundError as exc:   # a tasks or label file named on the command line
        raise CommandError(str(exc)) from exc


#: command -> handler(config, parsed arguments, arguments for the engine); every stage command is `_run`'s
COMMANDS: dict[str, Callable[[Config, argparse.Namespace, list[str]], int]] = {
    "fetch": _fetch, "run": _run, "forget": _forget, "submit": _submit, "serve": _serve, "ask": _ask, "eval": _evaluate,
    "label": _label, **{name: _run for name in STAGES}}


def job_main(stage: str, argv: list[str] | None = None) -> int:
    """A job file run by ``spark-submit jobs/<stage>.py [options]``: the same as ``kgpipe
    [--config FILE] [--set KEY=VALUE] [--quiet|--verbose] <stage> [options]``, global options anywhere."""
    argv = list(sys.argv[1:] if argv is None else argv)
    global_options, stage_options = [], []
    while argv:
        option = argv.pop(0)
        if option in ("--config", "--set") and argv:
            global_options += [option, argv.pop(0)]
        elif option in ("--quiet", "--verbose"):
            global_options.append(option)
        else:
            stage_options.append(option)
    return main([*global_options, stage, *stage_options])


def unknown_arguments(command: str, extra: list[str]) -> list[str]:
    """Of the arguments ``command`` does not define, those no engine of its stages knows."""
    names = PIPELINE if command == "run" else (command,)
    checks = [STAGES[name].engine_arguments for name in names if name in STAGES and STAGES[name].engine_arguments]
    unknown = list(extra)
    for check in checks:
        unknown = load_entry(check)(unknown)
    return unknown


def main(argv: list[str] | None = None) -> int:
    # torch's OpenMP threads spin between steps unless told otherwise, and must be told before
    # torch loads: spinning threads starve Spark's and Beam's workers on the same cores
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    top = parser()
    args, extra = top.parse_known_args(argv)
    # a command's own flags win over --set
    overrides = list(args.overrides) + [f"{setting}={getattr(args, flag)}" for flag, setting in FLAG_SETTINGS.items()
                                        if getattr(args, flag, None)]
    with logs.configured(quiet=args.quiet, verbose=args.verbose):
        unknown = unknown_arguments(args.command, extra) if extra else []
        if unknown:
            top.error(f"unrecognized arguments: {' '.join(unknown)}")
        try:
            return COMMANDS[args.command](load_config(args.config, overrides), args, extra)
        except CommandError as exc:
            print(f"kgpipe: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
