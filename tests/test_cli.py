"""The command line: stages, manifest, summary."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgpipe.cli import main, parser
from kgpipe.datasets import NEWS_SAMPLE
from kgpipe.stages import PIPELINE
from tests.sparkcluster import reference_run, session_inputs


def test_ingest_writes_tables_and_a_manifest(tmp_path: Path, capsys):
    wh = tmp_path / "wh"
    rc = main(["--quiet", "--set", "ingest.direct_running_mode=in_memory", "ingest",
               "--input", str(NEWS_SAMPLE), "--warehouse", str(wh), "--direct_num_workers=1"])   # a Beam option
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


def test_run_executes_every_stage_with_config_inputs(tmp_path_factory):
    # the run the cluster tests compare with: three wiki pages and the news sample, inputs from the configuration
    warehouse = reference_run(session_inputs(tmp_path_factory))
    manifest = json.loads((warehouse.root / "_manifests" / "latest.json").read_text())
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
    (["analyze"], "analyze needs the entities table"),
])
def test_every_command_ends_a_user_error_the_same_way(tmp_path: Path, capsys, argv, message):
    assert main(["--set", f"warehouse={tmp_path / 'wh'}", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kgpipe: error: ") and message in err, err


def _every_command(top: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """A complete command line of each command and subcommand (required arguments filled in)."""
    subparsers = [action for action in top._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        required = [[*action.option_strings[:1], (action.choices and next(iter(action.choices))) or "x"]
                    for action in top._actions if action.required or (not action.option_strings and action.nargs != 0)]
        return [[*prefix, *(part for argument in required for part in argument)]]
    return [argv for name, sub in subparsers[0].choices.items() for argv in _every_command(sub, (*prefix, name))]


COMMAND_LINES = _every_command(parser())


def test_every_command_and_subcommand_is_walked():
    commands = {tuple(argv[:2]) if argv[0] in ("eval", "label") else (argv[0],) for argv in COMMAND_LINES}
    assert {("run",), ("submit",), ("ingest",), ("resolve",), ("serve",), ("ask",), ("eval", "qa"),
            ("eval", "linking"), ("label", "select")} <= commands
    assert len(COMMAND_LINES) == len(set(map(tuple, COMMAND_LINES))) >= 20


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=" ".join)
def test_a_mistyped_option_is_an_error_on_every_command(tmp_path: Path, capsys, argv):
    """Nothing runs: ``kgpipe resolve --warehose /data/wh`` must not resolve the default warehouse."""
    with pytest.raises(SystemExit) as exit_:
        main(["--set", f"warehouse={tmp_path / 'wh'}", *argv, "--warehose", str(tmp_path / "other")])
    assert exit_.value.code == 2
    assert "kgpipe: error: unrecognized arguments: --warehose" in capsys.readouterr().err
    assert not (tmp_path / "wh").exists() and not (tmp_path / "other").exists()


def test_only_beam_options_pass_through_ingest_and_run(capsys):
    from pipelines.ingest import unknown_beam_options
    assert unknown_beam_options(["--direct_num_workers=2", "--runner", "DirectRunner", "--save_main_session",
                                 "--typo-flag", "1", "stray"]) == ["--typo-flag", "1", "stray"]
    with pytest.raises(SystemExit):
        main(["run", "--direct_num_worker", "2"])   # Beam's options are not abbreviated either
    assert "unrecognized arguments: --direct_num_worker 2" in capsys.readouterr().err


def test_quiet_is_quiet_even_from_beam_worker_processes(tmp_path: Path):
    """Two Beam worker processes (multi_processing) log before they know the pipeline's level, and
    Beam warns through the root logger when it is imported: under --quiet none of it is printed."""
    result = subprocess.run([sys.executable, "-m", "kgpipe.cli", "--quiet", "ingest", "--input", str(NEWS_SAMPLE),
                             "--warehouse", str(tmp_path / "wh"), "--direct_running_mode=multi_processing",
                             "--direct_num_workers=2"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "seen 8 = documents 8" in result.stdout
    assert result.stderr == ""


QUIET_SPARK = """
from jobs.spark import spark_session
from kgpipe import logs
from kgpipe.config import SparkConfig
with logs.configured(quiet=True):
    session = spark_session(SparkConfig(master="local[1]", conf={"spark.ui.enabled": "false"}))
    assert session.range(10).count() == 10
    session.stop()
"""


def test_quiet_is_quiet_from_a_local_spark_session():
    """A pyspark driver is Spark's shell to Spark: without a configuration it warns about the native
    Hadoop library and the hostname and announces its log level before kgpipe can say anything."""
    result = subprocess.run([sys.executable, "-c", QUIET_SPARK], capture_output=True, text=True, timeout=300,
                            check=False, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
