"""Small hand-made warehouses for the graph stages: documents, links, redirects, mentions
and triples_raw written with the project's schemas, so a test states its input in a few lines."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kgpipe.ids import stable_id
from kgpipe.warehouse import Warehouse
from schemas import arrow_schema


def write_table(warehouse: Warehouse, name: str, rows: list[dict], version: str = "v1") -> None:
    staged = warehouse.root / "_hand" / name / version
    staged.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(name)), staged / "part-0.parquet")
    warehouse.commit(name, staged, version)


def document(doc_id: str, title: str, kind: str = "wiki", day: int = 1) -> dict:
    return {"doc_id": doc_id, "source": "enwiki" if kind == "wiki" else "news:test", "source_kind": kind,
            "native_id": doc_id, "revision_id": "1", "title": title, "url": None, "namespace": 0,
            "language": "en", "source_timestamp": datetime(2020, 1, day, tzinfo=timezone.utc),
            "text": "", "paragraphs": [], "input_ref": f"test:{doc_id}"}


def mention(doc_id: str, text: str, label: str, start: int, link: str | None = None, sentence: int = 0) -> dict:
    end = start + len(text)
    return {"mention_id": stable_id(doc_id, start, end), "doc_id": doc_id,
            "sentence_id": stable_id(doc_id, sentence), "sentence_index": sentence, "start": start, "end": end,
            "text": text, "label": label, "link_target": link, "origin": "link" if link else "ner"}


def link(doc_id: str, anchor: str, target: str, start: int) -> dict:
    return {"doc_id": doc_id, "anchor": anchor, "target_title": target, "target_fragment": None,
            "start": start, "end": start + len(anchor)}


def triple(subject: dict, predicate: str, obj: dict | str, confidence: float = 0.6,
           object_type: str | None = None, qualifiers: dict | None = None, sentence: int | None = None) -> dict:
    sentence = subject["sentence_index"] if sentence is None else sentence
    if isinstance(obj, dict):
        o_text, o_start, o_end, o_mid, o_type = obj["text"], obj["start"], obj["end"], obj["mention_id"], "entity"
    else:
        o_text, o_start = obj, subject["end"] + 10
        o_end, o_mid, o_type = o_start + len(obj), None, object_type or "string"
    return {"triple_id": stable_id(subject["mention_id"], predicate, o_start, o_end),
            "doc_id": subject["doc_id"], "sentence_index": sentence,
            "sentence_text": f"{subject['text']} {predicate} {o_text}.",
            "subject": subject["text"], "subject_start": subject["start"], "subject_end": subject["end"],
            "subject_mention_id": subject["mention_id"], "predicate": predicate, "surface_predicate": predicate,
            "object": o_text,
            "object_start": o_start, "object_end": o_end, "object_mention_id": o_mid, "object_type": o_type,
            "qualifiers": list((qualifiers or {}).items()), "extractor": "test", "extractor_version": "1",
            "confidence": confidence}


def make_warehouse(root: Path, documents: list[dict], mentions: list[dict], triples: list[dict],
                   links: list[dict] = (), redirects: list[tuple[str, str]] = (), version: str = "v1") -> Warehouse:
    """A warehouse holding one batch (as ingest and extract leave it)."""
    warehouse = Warehouse(root, keep_versions=5)
    write_table(warehouse, "documents", documents, version)
    write_table(warehouse, "links", list(links), version)
    write_table(warehouse, "redirects", [{"source": "enwiki", "from_title": f, "to_title": t, "to_fragment": None,
                                          "page_id": None, "input_ref": "test"} for f, t in redirects], version)
    write_table(warehouse, "mentions", mentions, version)
    write_table(warehouse, "triples_raw", triples, version)
    return warehouse
