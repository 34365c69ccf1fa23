"""Active-learning commands over a warehouse: ``kgpipe label select | import | train``.

No Spark: the tables involved are small (a sample of sentences, a few thousand labels), so
pyarrow reads them and the rules in ``kgpipe/label/`` do the rest.

select
    Sentences holding at least two mentions or one ``triples_raw`` fact are sampled by a
    stable hash (``label.max_sentences``). Each sampled sentence is re-parsed inside the very
    paragraph piece the extract stage parsed (``kgpipe.extract.documents.prepare_document``: same cleaning,
    PII masks and paragraph cuts, so offsets agree), and ``sentence_pairs`` turns its
    ``triples_raw`` facts and mention pairs into candidates. Candidates already issued in an
    earlier tasks file or already labelled are left out. Probabilities come from the trained
    model at ``label.model_path`` when there is one (else the cold-start rule); entities of
    the arguments (``mentions`` -> ``mention_entities``) and their pagerank (``entity_stats``)
    give representativeness. Writes ``tasks-<run_id>.jsonl`` / ``.json`` and
    ``label_config.xml`` into ``label.tasks_dir``.
import
    Validates a Label Studio export or plain JSONL against the issued tasks and the target
    relations and merges it into the ``labels`` table (by ``label_id``); a file that changes
    nothing commits nothing.
train
    One example per labelled task (majority relation), features from a fresh parse of each
    sentence, fits ``RelationModel`` and saves it to ``label.model_path``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kgpipe.config import Config
from kgpipe.extract.relation_model import (
    NO_RELATION,
    LabelError,
    RelationModel,
    arg_label,
    features_for_text,
    pair_features,
    sentence_pairs,
)
from kgpipe.ids import stable_id
from kgpipe.label.candidates import (
    ArgSpan,
    Candidate,
    load_relations,
    parse_sentences,
    task_id_for,
)
from kgpipe.label.selection import select
from kgpipe.label.studio import (
    is_distant,
    label_config_xml,
    label_rows,
    label_studio_task,
    merge_labels,
    parse_label_file,
    read_tasks,
    training_examples,
)
from kgpipe.manifest import new_run_id
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema

log = logging.getLogger(__name__)
TABLE = "labels"


def tasks_dir(config: Config) -> Path:
    return Path(config.label.tasks_dir) if config.label.tasks_dir else Path(config.warehouse) / "labeling" / "tasks"


def model_path(config: Config) -> Path:
    if config.label.model_path:
        return Path(config.label.model_path)
    return Path(config.warehouse) / "labeling" / "relation_model.joblib"


def _task_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("tasks-*.jsonl"))


def _read_labels(warehouse: Warehouse) -> list[dict]:
    return warehouse.read(TABLE).to_pylist() if warehouse.exists(TABLE) else []


# --------------------------------------------------------------------------- select


def _sample_sentences(warehouse: Warehouse, limit: int, seed: int) -> dict[tuple[str, int], int]:
    """(doc_id, sentence_index) -> a character offset inside the sentence (document coordinates). Sentences
    of the text only: an infobox parameter's line (negative index) is no prose to label."""
    anchors: dict[tuple[str, int], int] = {}
    counts: dict[tuple[str, int], int] = defaultdict(int)
    mentions = warehouse.read("mentions", ["doc_id", "sentence_index", "start"]).to_pydict()
    for doc_id, index, start in zip(mentions["doc_id"], mentions["sentence_index"], mentions["start"]):
        if index < 0:
            continue
        key = (doc_id, index)
        counts[key] += 1
        anchors[key] = min(anchors.get(key, start), start)
    triples = warehouse.read("triples_raw", ["doc_id", "sentence_index", "subject_start"]).to_pydict()
    for doc_id, index, start in zip(triples["doc_id"], triples["sentence_index"], triples["subject_start"]):
        if index < 0:
            continue
        key = (doc_id, index)
        counts[key] += 2
        anchors[key] = min(anchors.get(key, start), start)
    eligible = [k for k, n in counts.items() if n >= 2]
    eligible.sort(key=lambda k: stable_id("label-sample", seed, k[0], k[1]))
    return {k: anchors[k] for k in eligible[:limit]}


def _triples_by_sentence(warehouse: Warehouse, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], list]:
    from pyarrow import compute as pc
    doc_ids = sorted({d for d, _ in wanted})
    table = warehouse.dataset("triples_raw").to_table(
        columns=["doc_id", "sentence_index", "subject", "subject_start", "subject_end", "predicate", "object",
                 "object_start", "object_end", "object_type", "confidence"],
        filter=pc.field("doc_id").isin(doc_ids))
    out: dict[tuple[str, int], list] = defaultdict(list)
    for row in table.to_pylist():
        key = (row["doc_id"], row["sentence_index"])
        if key in wanted:
            out[key].append(row)
    return out


def _entities_by_doc(warehouse: Warehouse, doc_ids: list[str]) -> dict[str, list[tuple[int, int, str]]]:
    """Per document: (start, end, entity_id) of its resolved mentions (empty before resolve)."""
    if not (warehouse.exists("mention_entities") and doc_ids):
        return {}
    from pyarrow import compute as pc
    mentions = warehouse.dataset("mentions").to_table(columns=["mention_id", "doc_id", "start", "end"],
                                                      filter=pc.field("doc_id").isin(doc_ids)).to_pylist()
    linked = warehouse.dataset("mention_entities").to_table(columns=["mention_id", "entity_id"],
                                                            filter=pc.field("doc_id").isin(doc_ids)).to_pydict()
    entity_of = dict(zip(linked["mention_id"], linked["entity_id"]))
    out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for m in mentions:
        if m["mention_id"] in entity_of:
            out[m["doc_id"]].append((m["start"], m["end"], entity_of[m["mention_id"]]))
    return out


def _pagerank(warehouse: Warehouse) -> dict[str, float]:
    if not warehouse.exists("entity_stats"):
        return {}
    table = warehouse.read("entity_stats", ["entity_id", "pagerank"]).to_pydict()
    return dict(zip(table["entity_id"], table["pagerank"]))


def build_candidates(warehouse: Warehouse, config: Config, nlp) -> tuple[list[Candidate], dict]:
    """Candidates of the sampled sentences (module docstring), with features and entity ids."""
    from kgpipe.extract.patterns import Triple
    for table in ("documents", "mentions", "triples_raw"):
        if not warehouse.exists(table):
            raise FileNotFoundError(f"label select needs the {table} table in {warehouse.root}: "
                                    "run `kgpipe ingest` and `kgpipe extract` first")
    sampled = _sample_sentences(warehouse, config.label.max_sentences, config.label.seed)
    doc_ids = sorted({d for d, _ in sampled})
    triples = _triples_by_sentence(warehouse, set(sampled))
    entities = _entities_by_doc(warehouse, doc_ids)
    sentences = parse_sentences(warehouse, config, nlp, sampled)
    stats = {"sentences_sampled": len(sampled), "sentences_not_found": len(sampled) - len(sentences)}
    candidates: list[Candidate] = []
    for (doc_id, index), (piece_start, sent) in sorted(sentences.items()):
        rows = triples.get((doc_id, index), [])
        rule_triples = [Triple(subject=r["subject"], subject_start=r["subject_start"] - piece_start,
                               subject_end=r["subject_end"] - piece_start, predicate=r["predicate"],
                               object=r["object"], object_start=r["object_start"] - piece_start,
                               object_end=r["object_end"] - piece_start, object_type=r["object_type"],
                               qualifiers={}, confidence=r["confidence"]) for r in rows]
        for s, o, t in sentence_pairs(sent, rule_triples):
            ss, se = s.start_char - sent.start_char, s.end_char - sent.start_char
            os_, oe = o.start_char - sent.start_char, o.end_char - sent.start_char
            ids = tuple(dict.fromkeys(
                eid for a, b in ((s.start_char, s.end_char), (o.start_char, o.end_char))
                for ms, me, eid in entities.get(doc_id, ()) if ms < b + piece_start and a + piece_start < me))
            candidates.append(Candidate(
                task_id=task_id_for(doc_id, index, sent.text, (ss, se), (os_, oe)), doc_id=doc_id,
                sentence_index=index, text=sent.text,
                subject=ArgSpan(ss, se, s.text, arg_label(s)), object=ArgSpan(os_, oe, o.text, arg_label(o)),
                extracted_predicate=t.predicate if t is not None else None,
                confidence=t.confidence if t is not None else None,
                features=pair_features(s, o, t.predicate if t is not None else None), entity_ids=ids))
    stats["candidates"] = len(candidates)
    return candidates, stats


def select_tasks(config: Config, n: int, strategy: str) -> dict:
    from kgpipe.extract.nlp import load_nlp
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    relations = load_relations(config.label.relations)
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    candidates, stats = build_candidates(warehouse, config, nlp)
    folder = tasks_dir(config)
    issued = set(read_tasks(_task_files(folder))) if folder.is_dir() else set()
    labelled = {row["task_id"] for row in _read_labels(warehouse)}
    fresh = [c for c in candidates if c.task_id not in issued and c.task_id not in labelled]
    stats["already_issued_or_labelled"] = len(candidates) - len(fresh)
    path = model_path(config)
    model = RelationModel.load(path) if path.is_file() else None
    probabilities = model.predict_proba([c.features for c in fresh]) if (model and fresh) else None
    chosen = select(fresh, n, strategy, probabilities, pagerank=_pagerank(warehouse),
                    centrality_weight=config.label.centrality_weight, seed=config.label.seed)
    run_id = new_run_id()
    tasks = []
    for i in chosen:
        c = fresh[i]
        if probabilities is not None:
            label, p, _ = model.decide(probabilities[i:i + 1])[0]
            proposed, score = (label if label in relations else NO_RELATION), p
        else:
            proposed = c.extracted_predicate if c.extracted_predicate in relations else NO_RELATION
            score = c.confidence
        tasks.append(label_studio_task(c, relations, proposed, score,
                                       model_version=f"kgpipe-{'model' if model else 'rules'}-{run_id}"))
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / f"tasks-{run_id}.jsonl"
    with open(jsonl, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(task, ensure_ascii=False) + "\n" for task in tasks)
    (folder / f"tasks-{run_id}.json").write_text(json.dumps(tasks, ensure_ascii=False, indent=1), "utf-8")
    (folder / "label_config.xml").write_text(label_config_xml(relations), "utf-8")
    return {"command": "label select", "strategy": strategy, "tasks": len(tasks), "file": str(jsonl),
            "label_studio_json": str(folder / f"tasks-{run_id}.json"),
            "label_config": str(folder / "label_config.xml"), "model": str(path) if model else None,
            "pool": len(fresh), **stats}


# --------------------------------------------------------------------------- import


def import_labels(config: Config, file: str) -> dict:
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    folder = tasks_dir(config)
    files = _task_files(folder) if folder.is_dir() else []
    if not files:
        raise LabelError(f"no tasks in {folder}: run `kgpipe label select` first")
    tasks = read_tasks(files)
    relations = load_relations(config.label.relations)
    labels, counts = parse_label_file(file, tasks, relations)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = label_rows(labels, tasks, Path(file).name, now)
    merged, changes = merge_labels(_read_labels(warehouse), rows)
    result = {"command": "label import", "file": str(file), **counts, **changes, "total_labels": len(merged)}
    if not (changes["added"] or changes["updated"]):
        return {**result, "status": "unchanged"}
    return {**result, **_commit_labels(warehouse, merged)}


# --------------------------------------------------------------------------- distant


def distant_command(config: Config) -> dict:
    """``kgpipe label distant``: the infobox facts' labels (kgpipe/label/distant.py) replace the earlier distant
    rows of the ``labels`` table; human labels stay as they are."""
    from kgpipe.extract.nlp import load_nlp
    from kgpipe.label.distant import distant_labels
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    rows, counts = distant_labels(warehouse, config, nlp)
    kept = [row for row in _read_labels(warehouse) if not is_distant(row)]
    merged, changes = merge_labels(kept, rows)
    result = {"command": "label distant", **counts, "human_labels": len(kept), "total_labels": len(merged)}
    return {**result, **_commit_labels(warehouse, merged)}


def _commit_labels(warehouse: Warehouse, rows: list[dict]) -> dict:
    run_id = new_run_id()
    staging = warehouse.staging_dir(run_id) / TABLE
    staging.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(TABLE)), staging / "part-0.parquet")
        warehouse.check_schema(TABLE, staging)
        warehouse.commit(TABLE, staging, run_id)
    finally:
        warehouse.discard_staging(run_id)
    return {"status": "committed", "version": run_id}


# --------------------------------------------------------------------------- train


def train_model(config: Config) -> dict:
    from kgpipe.extract.nlp import load_nlp
    warehouse = Warehouse(config.warehouse, config.keep_versions)
    rows = _read_labels(warehouse)
    if not rows:
        raise LabelError(f"no labels in {warehouse.root}: run `kgpipe label import FILE` first")
    # distant labels name properties of the vocabulary (birthPlace), which become target relations
    relations = load_relations(config.label.relations)
    examples = training_examples(rows)
    relations += sorted({e["relation"] for e in examples if is_distant(e)} - set(relations) - {NO_RELATION})
    unknown = sorted({e["relation"] for e in examples} - set(relations) - {NO_RELATION})
    if unknown:
        raise LabelError(f"labels use relations that label.relations no longer lists: {unknown}")
    nlp = load_nlp(config.extract.model, tuple(config.extract.disable))
    features = features_for_text(nlp, [(e["sentence_text"], (e["subject_start"], e["subject_end"]),
                                         (e["object_start"], e["object_end"]), e["extracted_predicate"])
                                        for e in examples])
    kept = [(f, e) for f, e in zip(features, examples) if f is not None]
    model = RelationModel(relations, C=config.label.C, threshold=config.label.threshold, seed=config.label.seed)
    model.fit([f for f, _ in kept], [e["relation"] for _, e in kept], train_keys=[e["task_id"] for _, e in kept])
    model.meta = {"trained_by": "kgpipe label train", "warehouse": str(warehouse.root)}
    path = model.save(model_path(config))
    return {"command": "label train", "model": str(path), "labels": len(rows), "examples": len(kept),
            "distant_examples": sum(is_distant(e) for _, e in kept),
            "skipped_unaligned_spans": len(examples) - len(kept), **model.describe()}
