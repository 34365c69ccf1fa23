"""Cached artifacts: resolution of embedded inputs and of the GraphFrames jar (no downloads here)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from kgpipe.config import EMBEDDED_NEWS, Config
from kgpipe.datasets import (
    ENWIKI_SAMPLE,
    GRAPHFRAMES_JAR,
    NEWS_SAMPLE,
    FetchError,
    cached_path,
    fetch,
    graphframes_jar,
    resolve_inputs,
)


def test_news_sample_ships_with_the_package_and_paths_pass_through(tmp_path: Path):
    assert resolve_inputs([EMBEDDED_NEWS, "some/file.xml"], tmp_path) == [NEWS_SAMPLE, Path("some/file.xml")]


def test_cached_artifact_with_the_right_checksum_is_used_without_download(tmp_path: Path, enwiki: Path):
    # the shared English sample is byte-identical to the file in gensim's wheel (same sha256)
    cached_path(ENWIKI_SAMPLE, tmp_path).write_bytes(enwiki.read_bytes())
    assert fetch(ENWIKI_SAMPLE, tmp_path) == tmp_path / ENWIKI_SAMPLE.file_name


def test_graphframes_jar_location_is_configuration(tmp_path: Path):
    with pytest.raises(FetchError, match="kgpipe fetch"):
        graphframes_jar(None, tmp_path)
    own = tmp_path / "gf.jar"
    with zipfile.ZipFile(own, "w") as jar:
        jar.writestr("graphframes/__init__.py", "")
    assert graphframes_jar(str(own), tmp_path) == own


def test_set_up_cached_the_graphframes_jar_with_its_python_package():
    """Set-up (`kgpipe fetch`) ran before the tests; the jar also carries the graphframes Python code."""
    cached = cached_path(GRAPHFRAMES_JAR, Config().cache_dir)
    if not cached.exists():
        pytest.skip(f"{cached} not cached: run `kgpipe fetch` (infra/setup.sh does)")
    with zipfile.ZipFile(graphframes_jar(None, Config().cache_dir)) as jar:
        names = set(jar.namelist())
    assert "graphframes/graphframe.py" in names
    assert any(n.startswith("org/graphframes/") and n.endswith(".class") for n in names)
