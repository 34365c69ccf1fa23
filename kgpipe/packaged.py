"""Files a setting names: one shipped in ``kgpipe/data`` (``embedded:<name>``) or a path of the user's."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


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
