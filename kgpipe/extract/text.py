"""Text preparation shared by extraction and its evaluation: offsets never move."""
from __future__ import annotations

import re
import unicodedata
from typing import Any, Iterable, Sequence

# controls (but not the characters we replace below by a space), line/paragraph
# separators, zero-width and bidi format characters, BOM, soft hyphen
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = re.compile(  # letters outside Basic Latin, Latin-1, Extended-A/B/C/D/Additional, fullwidth
    "[^\\W\\d_A-Za-z\u00aa\u00b5\u00ba\u00c0-\u024f\u1e00-\u1eff\u2c60-\u2c7f\ua720-\ua7ff"
    "\uff21-\uff3a\uff41-\uff5a]")
_BLANK_LINES = re.compile(r"\n\s*\n")
_SCRIPT_SAMPLE = 20_000


def prepare_text(text: str) -> str:
    """Replace control/format characters and line breaks by spaces, lone surrogates
    by U+FFFD; the result has the same length as ``text``."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def script_ratio(text: str) -> tuple[int, float]:
    """(letters, share of letters outside the Latin script) of ``text`` (first 20k chars)."""
    sample = text[:_SCRIPT_SAMPLE]
    letters = len(_LETTER.findall(sample))
    if not letters:
        return 0, 0.0
    return letters, len(_NON_LATIN.findall(sample)) / letters


def split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most ``limit`` chars at sentence-like boundaries."""
    out: list[tuple[int, int]] = []
    while end - start > limit:
        hi = start + limit
        cut = -1
        pos = text.rfind(". ", start, hi - 1)
        while pos > start:
            nxt = pos + 2
            while nxt < hi and text[nxt] == " ":
                nxt += 1
            if nxt < hi and text[nxt].isupper():
                cut = pos + 1
                break
            pos = text.rfind(". ", start, pos)
        if cut <= start:
            for ws in (" ", "\t", "\n", "\u3000"):
                p = text.rfind(ws, start + 1, hi)
                if p > cut:
                    cut = p
        if cut <= start:
            cut = hi
        out.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append((start, end))
    return out


def paragraph_spans(text: str, paragraphs: Iterable[Any]) -> list[tuple[int, int]]:
    n = len(text)
    spans: list[tuple[int, int]] = []
    for p in paragraphs or ():
        try:
            if isinstance(p, dict):
                s, e = int(p["start"]), int(p["end"])
            else:
                s, e = int(p[0]), int(p[1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        s, e = max(0, s), min(n, e)
        if s < e:
            spans.append((s, e))
    if not spans:
        pos = 0
        for m in _BLANK_LINES.finditer(text):
            spans.append((pos, m.start()))
            pos = m.end()
        spans.append((pos, n))
    spans.sort()
    merged: list[list[int]] = []
    for s, e in spans:  # overlapping spans are merged, never cut
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out: list[tuple[int, int]] = []
    for s, e in merged:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def language_ok(language: str | None, languages: Sequence[str]) -> bool:
    if not language:
        return True  # unknown: the script check decides
    primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    return primary in {l.strip().lower() for l in languages}


# ----------------------------------------------------------------------------- matching and names

_ARTICLES = frozenset({"a", "an", "the"})
#: letters NFKD does not decompose into a base letter plus accent
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss",
                       "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ı": "i", "þ": "th", "ð": "d"})


def match_tokens(text: str) -> tuple[str, ...]:
    """Normalised tokens: accents folded, lower case, punctuation/symbols -> space, no articles."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    chars = []
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category == "Mn":
            continue
        chars.append(ch.lower() if category[0] in "LN" else " ")
    return tuple(t for t in "".join(chars).split() if t not in _ARTICLES)


_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


_PROPERTY = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+")


def is_property(name: str) -> bool:
    """Whether ``name`` is written as a property of the vocabulary (camelCase: ``birthPlace``), not as a
    phrase of prose (``born in``)."""
    return bool(_PROPERTY.fullmatch(name))


def split_property(prop: str) -> str:
    """``birthPlace`` -> ``birth place``; ``associatedBand/associatedMusicalArtist`` too."""
    words: list[str] = []
    for part in re.split(r"[\s_/]+", prop):
        words.extend(_CAMEL.findall(part))
    return " ".join(w.lower() for w in words)
