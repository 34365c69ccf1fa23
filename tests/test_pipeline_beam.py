"""The composite Beam transform under TestPipeline, and the stage end to end on small inputs."""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from kgpipe.ingest.inputs import plan_splits
from kgpipe.stages import StageContext
from kgpipe.warehouse import Warehouse
from pipelines.ingest import (
    AccountingError,
    IngestSplits,
    check_accounting,
    local_runner,
    pipeline_options,
    run_stage,
)
from tests.dumpfactory import dump_bytes, page_xml


@pytest.fixture
def small_inputs(tmp_path: Path) -> list[Path]:
    dump = tmp_path / "wiki.xml"
    dump.write_bytes(dump_bytes([
        page_xml("Grace Hopper", "'''Grace Hopper''' was a [[United States Navy|US Navy]] officer.", 1),
        page_xml("Hopper", "#REDIRECT [[Grace Hopper]]", 2, redirect="Grace Hopper"),
        page_xml("Category:Computing", "[[Category:Science]]", 3, ns=14),
        page_xml("Broken", "x", 4).replace("<ns>", "<nz>"),
    ]))
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps({"id": "n1", "url": "https://n.example/1", "text": "Hopper retired in 1986."})
                    + "\nnot json\n")
    return [dump, feed]


def offline_test_pipeline() -> TestPipeline:
    return TestPipeline(runner=local_runner(PipelineOptions()))   # no attempt to download Prism


def _table(out, name: str, fn):
    return (out | f"Only_{name}" >> beam.Filter(lambda element, n=name: element[0] == n)
            | f"Project_{name}" >> beam.Map(lambda element: fn(element[1])))


def test_ingest_transform_routes_every_record(small_inputs, cfg):
    splits = plan_splits(small_inputs, cfg)
    with offline_test_pipeline() as p:
        out = p | beam.Create(splits) | IngestSplits(cfg)
        assert_that(_table(out, "documents", lambda d: (d["source_kind"], d["title"], d["text"])),
                    equal_to([("wiki", "Grace Hopper", "Grace Hopper was a US Navy officer."),
                              ("news", None, "Hopper retired in 1986.")]), label="documents")
        assert_that(_table(out, "redirects", lambda r: (r["from_title"], r["to_title"])),
                    equal_to([("Hopper", "Grace Hopper")]), label="redirects")
        assert_that(_table(out, "links", lambda r: (r["anchor"], r["target_title"])),
                    equal_to([("US Navy", "United States Navy")]), label="links")
        assert_that(_table(out, "rejects", lambda r: r["reason"]),
                    equal_to(["malformed_xml", "invalid_json"]), label="rejects")
        assert_that(_table(out, "stats", lambda s: (Path(s["input"]).name, s["seen"])),
                    equal_to([("wiki.xml", 4), ("feed.jsonl", 2)]), label="stats")


def test_shards_of_one_compressed_file_together_read_every_page(tmp_path: Path, cfg):
    dump = tmp_path / "w.xml.gz"
    dump.write_bytes(gzip.compress(dump_bytes([page_xml(f"P{i}", f"Text {i}.", i + 1) for i in range(9)])))
    splits = plan_splits([dump], cfg.model_copy(update={"shards_per_compressed_file": 3}))
    assert len(splits) == 3
    with offline_test_pipeline() as p:
        out = p | beam.Create(splits) | IngestSplits(cfg)
        assert_that(_table(out, "stats", lambda s: (s["seen"], s["documents"])), equal_to([(3, 3)] * 3),
                    label="stats")
        assert_that(_table(out, "documents", lambda d: d["native_id"]),
                    equal_to([str(i + 1) for i in range(9)]), label="documents")


def test_stage_writes_schema_exact_tables_atomically_and_reruns_identically(small_inputs, tmp_path: Path, cfg):
    warehouse = Warehouse(tmp_path / "wh")
    first = run_stage(cfg, StageContext(warehouse, "run-1", str(tmp_path / "cache")), [str(p) for p in small_inputs])
    assert first.outputs == {"documents": 2, "redirects": 1, "links": 1, "infobox": 0, "rejects": 2}
    per_input = {Path(k).name: v for k, v in first.inputs["per_input"].items()}
    assert (per_input["wiki.xml"]["pages_seen"], per_input["wiki.xml"]["skipped_by_rule"]) == (4, 1)
    for name in ("documents", "redirects", "links", "rejects"):
        assert warehouse.table_path(name).is_symlink()
        assert Warehouse.check_schema(name, warehouse.table_path(name)) == first.outputs[name]
    ids_first = sorted(warehouse.read("documents", ["doc_id"]).column("doc_id").to_pylist())
    old_files = sorted(warehouse.table_path("documents").resolve().glob("*.parquet"))

    second = run_stage(cfg, StageContext(warehouse, "run-2", str(tmp_path / "cache")), [str(p) for p in small_inputs])
    assert second.outputs == first.outputs
    assert sorted(warehouse.read("documents", ["doc_id"]).column("doc_id").to_pylist()) == ids_first
    assert warehouse.table_path("documents").resolve().name == "run-2"
    # the previous version stays readable for readers that opened it before the swap
    assert sum(pq.read_metadata(f).num_rows for f in old_files) == 2
    assert not (tmp_path / "wh" / "_staging").exists()


def test_local_runs_never_try_to_fetch_the_prism_runner(small_inputs, tmp_path: Path, cfg, monkeypatch):
    # DirectRunner downloads Prism first; its job server leaves an empty beam-temp* folder when that fails
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    record = run_stage(cfg, StageContext(Warehouse(tmp_path / "wh"), "run-1", str(tmp_path / "cache")),
                       [str(p) for p in small_inputs])
    assert record.outputs["documents"] == 2
    assert not list(system_tmp.glob("beam-temp*"))
    assert local_runner(pipeline_options(cfg, ["--runner=PortableRunner"])) is None   # others stay Beam's


def test_accounting_check_catches_lost_records():
    stats = [{"input": "x", "seen": 3, "documents": 1, "redirects": 0, "links": 0, "skipped": {}, "rejects": {"a": 1},
              "infobox_rows": 2, "infobox": {"seen": 2, "facts": 1, "unmapped": 1, "unlinked": 0, "unreadable": 0}}]
    counts = {"documents": 1, "redirects": 0, "links": 0, "infobox": 2, "rejects": 1}
    with pytest.raises(AccountingError, match="3 records seen but 2"):
        check_accounting(stats, counts)
    stats[0]["seen"] = 2
    with pytest.raises(AccountingError, match="documents: wrote 0"):
        check_accounting(stats, {**counts, "documents": 0})
    with pytest.raises(AccountingError, match="infobox: wrote 1"):
        check_accounting(stats, {**counts, "infobox": 1})
    stats[0]["infobox"]["facts"] = 0
    with pytest.raises(AccountingError, match="2 infobox parameters seen but 1"):
        check_accounting(stats, counts)


def test_schema_check_rejects_wrong_columns_and_nulls_in_required_columns(tmp_path: Path):
    import pyarrow as pa

    from kgpipe.warehouse import SchemaMismatch
    from schemas import arrow_schema
    good = {"input_ref": "f:1", "stage": "ingest", "reason": "r", "detail": None, "native_id": None,
            "title": None, "excerpt": None}
    folder = tmp_path / "rejects"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([good], schema=arrow_schema("rejects")), folder / "a.parquet")
    assert Warehouse.check_schema("rejects", folder) == 1
    # a writer that cannot declare non-null columns (Spark) is held to them through null counts
    loose = pa.schema([f.with_nullable(True) for f in arrow_schema("rejects")])
    pq.write_table(pa.Table.from_pylist([good | {"reason": None}], schema=loose), folder / "b.parquet")
    with pytest.raises(SchemaMismatch, match="1 nulls in non-null column reason"):
        Warehouse.check_schema("rejects", folder)
    (folder / "b.parquet").unlink()
    pq.write_table(pa.table({"input_ref": ["x"]}), folder / "c.parquet")
    with pytest.raises(SchemaMismatch, match="has columns"):
        Warehouse.check_schema("rejects", folder)


def test_ingest_rerun_keeps_rejects_of_later_stages(small_inputs, tmp_path: Path, cfg):
    import pyarrow as pa

    from schemas import arrow_schema
    warehouse = Warehouse(tmp_path / "wh")
    run_stage(cfg, StageContext(warehouse, "run-1", str(tmp_path)), [str(p) for p in small_inputs])
    # a later stage's reject row, committed as that stage would
    staged = tmp_path / "staged"
    staged.mkdir()
    later = {"input_ref": "doc#s3", "stage": "extract", "reason": "sentence_too_long", "detail": None,
             "native_id": None, "title": None, "excerpt": None}
    pq.write_table(pa.Table.from_pylist([later], schema=arrow_schema("rejects")), staged / "x.parquet")
    warehouse.carry_rejects("extract", staged)
    warehouse.commit("rejects", staged, "extract-1")
    record = run_stage(cfg, StageContext(warehouse, "run-2", str(tmp_path)), [str(p) for p in small_inputs])
    stages = sorted((r["stage"], r["reason"]) for r in warehouse.read("rejects").to_pylist())
    assert stages == [("extract", "sentence_too_long"), ("ingest", "invalid_json"), ("ingest", "malformed_xml")]
    assert record.outputs["rejects"] == 3 and record.rejects == 2
