"""Written dates, read the one way the whole project reads them: infobox values (kgpipe/ingest/infobox.py)
and the dates of a lead sentence's parenthesis (kgpipe/extract/patterns.py). Standard library only."""
from __future__ import annotations

import re
from datetime import date

MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                      "september", "october", "november", "december"], 1)}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9
_BC = re.compile(r"(?:c\.\s*|circa\s+)?(?P<y>\d{1,4})\s*(?P<era>BC|BCE|AD|CE)\b", re.IGNORECASE)
_ISO = re.compile(r"(?P<y>\d{4})(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?)?\b")
_DMY = re.compile(r"(?P<d>\d{1,2})\s+(?P<mon>[A-Za-z]+)\.?,?\s+(?P<y>\d{3,4})\b")
_MDY = re.compile(r"(?P<mon>[A-Za-z]+)\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{3,4})\b")
_MY = re.compile(r"(?P<mon>[A-Za-z]+)\.?\s+(?P<y>\d{3,4})\b")
_YEAR = re.compile(r"(?:c\.\s*|circa\s+)?(?P<y>\d{3,4})(?:s)?\b")


def iso_date(year: int, month: int | None = None, day: int | None = None) -> str | None:
    """``YYYY-MM-DD`` / ``YYYY-MM`` / ``YYYY``; None for a day, month or year that does not exist."""
    if not 1 <= year <= 9999:
        return None
    if month is None:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}"
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def date_at(text: str, pos: int = 0) -> tuple[str, int] | None:
    """(ISO value, end offset) of the written date that starts at ``text[pos]``: ``1 April 1947``,
    ``April 1, 1947``, ``1947-04-01``, ``April 1947``, ``1947``, ``384 BC`` (value ``384 BC``); None
    when none starts there."""
    m = _BC.match(text, pos)
    if m:
        era = m["era"].upper()
        return (f"{int(m['y'])} BC" if era in ("BC", "BCE") else iso_date(int(m["y"]))), m.end()
    for pattern in (_ISO, _DMY, _MDY, _MY):
        m = pattern.match(text, pos)
        if m:
            groups = m.groupdict()
            month = int(groups["m"]) if groups.get("m") else MONTHS.get((groups.get("mon") or "").casefold())
            if "mon" in groups and month is None:
                continue
            day = int(groups["d"]) if groups.get("d") else None
            value = iso_date(int(groups["y"]), month, day)
            return (value, m.end()) if value else None
    m = _YEAR.match(text, pos)
    if m:
        value = iso_date(int(m["y"]))
        return (value, m.end()) if value else None
    return None


def date_from_text(text: str) -> str | None:
    """The ISO value of the written date at the start of ``text`` (see :func:`date_at`)."""
    found = date_at(text.strip().lstrip("(").strip())
    return found[0] if found else None
