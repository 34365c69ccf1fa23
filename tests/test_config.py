"""Typed configuration: YAML, defaults, overrides and clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from kgpipe.config import ApiKeyConfig, Config, ConfigError, IngestConfig, load_config

REPO = Path(__file__).resolve().parents[1]


def test_shipped_local_config_loads_and_equals_defaults_where_it_is_silent():
    config = load_config(REPO / "configs" / "local.yaml")
    assert config.ingest.inputs == ["embedded:enwiki-sample", "embedded:news-sample"]
    assert config.ingest.direct_running_mode == "multi_processing" and config.ingest.direct_num_workers == 2
    assert config.ingest.pages_per_split == IngestConfig().pages_per_split


def test_overrides_are_typed():
    config = load_config(None, ["ingest.direct_num_workers=4", "warehouse=/data/wh", "ingest.inputs=[a, b]"])
    assert config.ingest.direct_num_workers == 4 and config.warehouse == "/data/wh"
    assert config.ingest.inputs == ["a", "b"]


@pytest.mark.parametrize("override, message", [
    ("ingest.direct_num_workers=0", "greater than or equal to 1"),
    ("ingest.no_such_key=1", "no_such_key"),
    ("ingest.direct_running_mode=fast", "direct_running_mode"),
    ("nothing", "section.key=value"),
])
def test_bad_settings_are_rejected_with_the_field_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_stage_section_is_its_own_type():
    config = Config()
    assert isinstance(config.ingest, IngestConfig)
    assert "warehouse" not in IngestConfig.model_fields


def test_unreadable_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


DIGEST = "ab" * 32


def test_serve_api_keys_are_named_scoped_digests_or_bare_digests():
    config = load_config(None, ["serve.api_keys=[{name: ops, sha256: %s, scopes: [read, admin]}, %s]"
                                % (DIGEST.upper(), DIGEST)])
    entry, bare = config.serve.api_keys
    assert entry == ApiKeyConfig(name="ops", sha256=DIGEST, scopes=["read", "admin"]) and bare == DIGEST
    assert ApiKeyConfig(name="web", sha256=DIGEST).scopes == ["read"]   # read unless given more
    assert Config.model_validate(config.model_dump()).serve.api_keys == config.serve.api_keys   # to workers


@pytest.mark.parametrize("entry, message", [
    ("plain-text-key", "sha256 hex digests"),
    ("{name: ops, sha256: plain-text-key}", "api_keys.0.entry.sha256"),
    ("{name: ops, sha256: %s, scopes: [write]}" % DIGEST, "api_keys.0.entry.scopes.0"),
    ("{name: ops, sha256: %s, scopes: []}" % DIGEST, "at least 1 item"),
    ("{name: 'o p s', sha256: %s}" % DIGEST, "api_keys.0.entry.name"),
    ("{name: ops, sha256: %s, rate_limit_per_second: -1}" % DIGEST, "rate_limit_per_second"),
])
def test_bad_api_keys_name_the_entry_and_its_field(entry, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"serve.api_keys=[{entry}]"])
