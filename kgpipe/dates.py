"""Written dates, read the one way the whole project reads them: a date that starts at a position
(:func:`date_at`: infobox values, kgpipe/ingest/infobox.py, and the dates of a lead sentence's parenthesis,
kgpipe/extract/patterns.py) and a text that is one calendar date (:func:`date_key`: answer matching and the
literal objects of edges). Standard library only, but for python-dateutil in :func:`date_key`."""
from __future__ import annotations

import re
from datetime import date, datetime

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
_WRITTEN_YEAR = re.compile(r"(?<![\d,.])\d{3,4}(?![\d,.])")
#: era markers written around a year: "384 BC", "AD 14" (the extract stage's NER reads them too)
ERAS = ("BC", "BCE", "AD", "CE", "B.C.", "B.C.E.", "A.D.", "C.E.")
#: eras written before the year
ERAS_BEFORE = ("AD", "A.D.")
_ERA = "|".join(re.escape(e) for e in sorted(ERAS, key=len, reverse=True))
_ERA_YEAR = re.compile(rf"(?:(?P<year>\d{{1,4}})\s*(?P<era>{_ERA})"
                       rf"|(?P<era_before>{'|'.join(re.escape(e) for e in ERAS_BEFORE)})\s*(?P<year_after>\d{{1,4}}))",
                       re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"[-+]?\d[\d,]*(\.\d+)?\s*(thousand|million|billion|trillion)?", re.IGNORECASE)


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


def date_key(text: str) -> tuple[int, int | None, int | None] | None:
    """(year, month or None, day or None) of a calendar date written in any common English or ISO form
    (python-dateutil); None when the text is not a date with a year (``Tuesday``, ``the 1780s``, ``1,500``).
    Which fields were written is found by parsing with two different defaults."""
    from dateutil import parser as dateparser
    text = (text or "").strip()
    era = _ERA_YEAR.fullmatch(text)
    if era:   # "384 BC", "AD 14": a year dateutil cannot hold; before Christ counts down (384 BC = -384)
        year = int(era.group("year") or era.group("year_after"))
        return (-year if (era.group("era") or era.group("era_before") or "").upper().startswith("B") else year,
                None, None)
    bare_number = _PLAIN_NUMBER.fullmatch(text) and not re.fullmatch(r"\d{3,4}", text)
    if not text or not _WRITTEN_YEAR.search(text) or bare_number:
        return None
    try:
        a = dateparser.parse(text, default=datetime(1, 1, 1))
        b = dateparser.parse(text, default=datetime(2, 2, 2))
    except (ValueError, OverflowError):
        return None
    if a.year != b.year:
        return None
    return a.year, (a.month if a.month == b.month else None), (a.day if a.day == b.day else None)
