"""The command line: stages, manifest, summary."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgpipe.cli import main
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.stages import PIPELINE


def test_ingest_writes_tables_and_a_manifest(tmp_path: Path, capsys):
    wh = tmp_path / "wh"
    rc = main(["--quiet", "--set", "ingest.direct_running_mode=in_memory", "ingest",
               "--input", str(NEWS_SAMPLE), "--warehouse", str(wh)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "documents" in out and " 8 rows" in out and "seen 8 = documents 8" in out
    manifest = json.loads((wh / "_manifests" / "latest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["run_id"] in out
    assert {"run_id", "git", "packages", "config", "stages", "started_at", "finished_at"} <= set(manifest)
    stage = manifest["stages"]["ingest"]
    assert stage["outputs"] == {"documents": 8, "redirects": 0, "links": 0, "infobox": 0, "rejects": 0}
    assert stage["seconds"] > 0 and manifest["packages"]["apache-beam"]
    per_input = stage["inputs"]["per_input"][str(NEWS_SAMPLE)]
    assert per_input["pages_seen"] == 8 and per_input["rejects"] == 0
    assert (wh / "_manifests" / f"{manifest['run_id']}.json").exists()
    # and the same figures for Prometheus' textfile collector
    metrics = (wh / "_metrics" / "kgpipe.prom").read_text()
    assert 'kgpipe_stage_rows{stage="ingest",table="documents"} 8.0' in metrics
    assert "kgpipe_run_success 1.0" in metrics


def test_run_executes_every_stage_with_config_inputs(tmp_path: Path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"warehouse: {tmp_path / 'wh'}\ningest:\n  inputs: ['{NEWS_SAMPLE}']\n"
                      "  direct_running_mode: in_memory\n")
    assert main(["--quiet", "--config", str(config), "run"]) == 0
    manifest = json.loads((tmp_path / "wh" / "_manifests" / "latest.json").read_text())
    assert list(manifest["stages"]) == list(PIPELINE)
    stages = manifest["stages"]
    assert stages["extract"]["outputs"]["triples_raw"] > 0
    assert stages["resolve"]["outputs"]["entities"] > 0 and stages["resolve"]["outputs"]["edges"] > 0
    # every entity mention of the stories is resolved; analyze covers every entity
    assert stages["resolve"]["outputs"]["mention_entities"] == stages["resolve"]["details"]["entity_mentions"]
    assert stages["analyze"]["outputs"]["entity_stats"] == stages["resolve"]["outputs"]["entities"]
    assert "inferred_edges" in stages["reason"]["outputs"]


def test_bad_config_value_is_a_clear_error(tmp_path: Path, capsys):
    assert main(["--set", "ingest.direct_num_workers=-1", "ingest", "--warehouse", str(tmp_path)]) == 2
    assert "direct_num_workers" in capsys.readouterr().err


def test_eval_kge_prints_one_json_line(tmp_path: Path, capsys):
    dataset = tmp_path / "tiny"
    dataset.mkdir()
    ring = [(f"e{i}", "next", f"e{(i + 1) % 12}") for i in range(12)]
    for split, rows in (("train", ring[:10]), ("valid", ring[10:11]), ("test", ring[11:])):
        (dataset / f"{split}.txt").write_text("".join(f"{h}\t{r}\t{t}\r\n" for h, r, t in rows))
    assert main(["eval", "kge", "--dataset", str(dataset), "--model", "rotate", "--epochs", "2", "--dim", "8",
                 "--kge", "num_threads=1"]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    result = json.loads(line)
    assert result["model"] == "rotate" and result["settings"]["dim"] == 8 and result["epochs_run"] == 2
    assert 0 < result["test_mrr"] <= 1 and result["test_num_ranks"] == 2  # head and tail side of one triple
    assert {"test_hits@1", "test_hits@3", "test_hits@10", "train_seconds", "triples_per_second", "device"} <= set(result)
    assert main(["eval", "kge", "--dataset", str(dataset), "--kge", "no_such_setting=1"]) == 2
    assert "invalid trainer settings" in capsys.readouterr().err
    ckpt = tmp_path / "rotate.pt"
    assert main(["eval", "kge", "--dataset", str(dataset), "--model", "rotate", "--epochs", "1", "--dim", "8",
                 "--checkpoint", str(ckpt), "--kge", "num_threads=1"]) == 0
    assert ckpt.exists()
    capsys.readouterr()
    assert main(["eval", "kge", "--dataset", str(dataset), "--model", "transe", "--epochs", "2", "--dim", "8",
                 "--checkpoint", str(ckpt)]) == 2
    assert "other settings: model='rotate' (now 'transe')" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["label", "select", "--n", "0"], "--n must be at least 1"),
    (["label", "import", "no-such-file.json"], "run `kgpipe label select` first"),
    (["eval", "linking", "--holdout-fraction", "2"], "--holdout-fraction must be between 0 and 1"),
    (["eval", "qa"], "cannot load the graph"),
    (["eval", "entities"], "eval entities needs the documents table"),
    (["ask", "Who founded Apple?"], "cannot load the graph"),
    (["eval", "re", "--webnlg", "x", "--extractor", "nope"], "unknown extractor 'nope'"),
    (["serve", "--unknown-option"], "serve does not take --unknown-option"),
    (["analyze"], "analyze needs the entities table"),
])
def test_every_command_ends_a_user_error_the_same_way(tmp_path: Path, capsys, argv, message):
    assert main(["--set", f"warehouse={tmp_path / 'wh'}", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kgpipe: error: ") and message in err, err
