"""Files a setting names: one shipped in ``kgpipe/data`` (``embedded:<name>``) or a path of the user's."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any


def read_setting_file(setting: str, embedded: str, filename: str, what: str, setting_name: str,
                      error: type[Exception]) -> tuple[str, str]:
    """(text, source) of the file ``setting`` names: ``kgpipe/data/<filename>`` when it is ``embedded``, else
    the path. Another ``embedded:`` name raises ``error``; a missing path raises FileNotFoundError naming the
    setting that points at it."""
    if setting == embedded:
        return (resources.files("kgpipe") / "data" / filename).read_text("utf-8"), setting
    if setting.startswith("embedded:"):
        raise error(f"unknown embedded {what} {setting!r}; the packaged one is {embedded!r}")
    path = Path(setting)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found ({setting_name})")
    return path.read_text("utf-8"), str(path)


def yaml_mapping(text: str, source: str, error: type[Exception], expected: str = "a mapping") -> dict[str, Any]:
    """The YAML mapping of a setting file's ``text`` (empty: ``{}``); ``error`` naming ``source`` when it is
    not YAML or not a mapping (``expected`` says what should be there)."""
    import yaml
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{source}: expected {expected}, found {type(data).__name__}")
    return data
