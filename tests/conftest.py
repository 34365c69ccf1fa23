"""Shared fixtures. Real data comes from ../shared/data (never copied into the repo)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgpipe.config import IngestConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ENWIKI = SHARED_DATA / "wiki" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
ELWIKI_DIR = SHARED_DATA / "wiki" / "elwikivoyage-multistream"
ELWIKI = ELWIKI_DIR / "pages-articles-p2566p2583.multistream.xml.bz2"
ELWIKI_INDEX = ELWIKI_DIR / "pages-articles-p2566p2583.multistream-index.xml.bz2"
BBC = SHARED_DATA / "news" / "bbc-fulltext.tar.gz"


def need_shared(path: Path) -> Path:
    """The shared data file, or a skip with the reason; under CI its absence is a failure."""
    if path.exists():
        return path
    message = f"{path} is missing: the real-data tests need ../shared/data beside the repo"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def enwiki() -> Path:
    return need_shared(ENWIKI)


@pytest.fixture
def elwiki() -> Path:
    need_shared(ELWIKI_INDEX)
    return need_shared(ELWIKI)


@pytest.fixture
def cfg() -> IngestConfig:
    """In-process settings: tests stay fast and deterministic; the multi-process path has its own tests."""
    return IngestConfig(direct_running_mode="in_memory", direct_num_workers=1, excerpt_chars=200)


@pytest.fixture(scope="session")
def spark():
    """One small local Spark session for the whole test run (few shuffle partitions, no UI)."""
    pytest.importorskip("pyspark")
    from jobs.spark import spark_session
    from kgpipe.config import SparkConfig
    session = spark_session(SparkConfig(master="local[2]", shuffle_partitions=2,
                                        conf={"spark.ui.enabled": "false"}), app_suffix="-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
