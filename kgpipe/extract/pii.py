"""Length-preserving masking of personal identifiers in plain text.

:func:`mask_pii` finds e-mail addresses, phone numbers, IBANs, payment-card numbers,
IPv4 addresses and US social-security numbers and overwrites each with a mask of
*exactly the same length*, so every character offset computed on the unmasked text
(wiki link anchors, paragraph spans) stays valid on the masked text.

Mask format: ``[KIND]`` padded on the right with ``_`` to the span's length,
e.g. ``jane.doe@example.org`` (20 chars) -> ``[EMAIL]_____________``. A span
shorter than ``[KIND]`` keeps the brackets and truncates the word (``a@b.io`` ->
``[EMAI]``). The mask holds no digits and no letters except the kind word, so NER
sees at most one uppercase token per mask; the extractor drops entities that overlap
a masked span.

Kinds, and what keeps false positives out (dates, years, plain numbers, prices,
ISBNs and version numbers are never masked):

=========  ====================================================================
EMAIL      ``local@domain.tld`` (TLD of two or more letters)
IBAN       two letters, two check digits, 11-30 letters/digits (groups of four
           separated by single spaces allowed); the ISO 13616 mod-97 check must hold
CARD       13-19 digits, contiguous or in groups of four (Amex 4-6-5, Diners
           4-6-4), first digit 2-6 (Visa, Mastercard, Amex, Discover, ...) and a
           valid Luhn checksum; ISBN-13 (978/979...) therefore never matches
SSN        ``AAA-GG-SSSS`` with a valid area (not 000, 666, 9xx), group and serial
IPV4       four dot-separated octets 0-255, not part of a longer dotted run and
           not announced as a version (``v1.2.3.4``, ``version 1.2.3.4``)
PHONE      7-15 digits in one of these shapes: international ``+CC ...`` or
           ``00CC ...``; North American ``(555) 123-4567`` / ``555-123-4567`` /
           ``1-800-555-0199``; national numbers with a trunk ``0`` and at least
           eight digits (``020 7946 0958``, ``030 1234567``, ``(030) 12345678``,
           ``0171/1234567``); or any 7-15-digit group right after ``Tel``,
           ``Phone``, ``Fax``, ``Mobile`` or ``Call``. Dots are not separators
           here (dates like ``15.01.2020``), hyphenated year ranges and ISO dates
           have the wrong group shape, thousands separators (``1,500``) stop a match.
=========  ====================================================================

A numeric candidate right after an identifier keyword (ISBN, ISSN, OCLC, DOI, PMID,
arXiv, LCCN, Bibcode, version) is left alone. Earlier kinds in the table win
over later ones where candidates overlap.
"""
from __future__ import annotations

import re

__all__ = ["MASK_FILL", "mask_for", "mask_pii", "find_pii"]

MASK_FILL = "_"

# --------------------------------------------------------------------------- patterns

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w%+-]+(?:\.[\w%+-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w])")
_CARD = re.compile(
    r"(?<![\w.,/-])(?:"
    r"[2-6]\d{12,18}"                                   # contiguous
    r"|[2-6]\d{3}([ -])\d{4}\1\d{4}\1\d{1,7}"           # 4-4-4-x
    r"|3\d{3}([ -])\d{6}\2\d{4,5}"                      # Amex 4-6-5, Diners 4-6-4
    r")(?![\w]|[.,/-]\d)"
)
_SSN = re.compile(r"(?<![\w.,/-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w]|[.,/-]\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.])(?<!\d\.){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_PHONE = re.compile(
    r"(?<![\w+.,/-])(?:"
    # international: +CC, optional (area), 2-6 further groups
    r"\+\d{1,3}(?:[ .-]?\(\d{1,5}\))?(?:[ .-]?\d{1,5}){2,6}"
    # international with 00 prefix: groups must be separated
    r"|00[1-9]\d{0,2}(?:[ .-]?\(\d{1,5}\))?(?:[ .-]\d{1,5}){2,6}"
    # North American: optional 1-, (AAA) or AAA-, then 3-4
    r"|(?:1[ .-])?(?:\(\d{3}\)[ ]?|\d{3}([-. ]))\d{3}(?(1)\1|[-. ])\d{4}"
    # North American local number without area code: 555-1234 (hyphen only)
    r"|[2-9]\d{2}-\d{4}"
    # national with trunk 0: 0AAAA / (0AAAA) then 2-4 more groups
    r"|(?:\(0[1-9]\d{0,3}\)[ ]?|0[1-9]\d{0,3}[ /-]?)\d{2,8}(?:[ -]\d{2,4}){0,3}"
    r")(?![\w]|[.,/-]\d)"
)
_PHONE_KEYWORD = re.compile(
    r"\b(?:tel|telephone|phone|fax|mobile|mob|cell|call)\b\.?:?[ ]*"
    r"(\+?\(?\d[\d ()/-]{5,22}\d)(?![\w]|[.,/-]\d)",
    re.IGNORECASE,
)
_ID_KEYWORD = re.compile(
    r"(?:\b(?:isbn(?:-1[03])?|issn|oclc|doi|pmid|pmc|arxiv|lccn|bibcode|version|ver|v)\.?:?[ ]*$)",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- checks


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = "".join(str(int(ch, 36)) for ch in rearranged)
    except ValueError:
        return False
    return int(number) % 97 == 1


def _after_id_keyword(text: str, start: int) -> bool:
    """True when the candidate at ``start`` follows an identifier keyword (ISBN 0..., v1.2...)."""
    window = text[max(0, start - 24):start]
    nl = window.rfind("\n")
    if nl >= 0:
        window = window[nl + 1:]
    return bool(window) and _ID_KEYWORD.search(window) is not None


# --------------------------------------------------------------------------- API


def mask_for(kind: str, length: int) -> str:
    """Same-length mask: ``[KIND]`` padded with ``_`` or truncated (brackets kept)."""
    if length <= 0:
        return ""
    if length == 1:
        return MASK_FILL
    word = kind[: max(0, length - 2)]
    body = f"[{word}]"
    return body + MASK_FILL * (length - len(body))


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Spans (start, end, kind) of identifiers in ``text``, sorted and non-overlapping."""
    if not text:
        return []
    has_digit = any(ch.isdigit() for ch in text) if len(text) < 64 else _HAS_DIGIT.search(text) is not None
    if not has_digit and "@" not in text:
        return []
    found: list[tuple[int, int, str]] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    def add(s: int, e: int, kind: str) -> None:
        if s < e and free(s, e):
            found.append((s, e, kind))
            taken.append((s, e))

    if "@" in text:
        for m in _EMAIL.finditer(text):
            add(m.start(), m.end(), "EMAIL")
    if not has_digit:
        return sorted(found)
    for m in _IBAN.finditer(text):
        if _iban_ok(m.group()):
            add(m.start(), m.end(), "IBAN")
    for m in _CARD.finditer(text):
        d = _digits(m.group())
        if 13 <= len(d) <= 19 and _luhn_ok(d) and not _after_id_keyword(text, m.start()):
            add(m.start(), m.end(), "CARD")
    for m in _SSN.finditer(text):
        if not _after_id_keyword(text, m.start()):
            add(m.start(), m.end(), "SSN")
    for m in _IPV4.finditer(text):
        if not _after_id_keyword(text, m.start()):
            add(m.start(), m.end(), "IPV4")
    for m in _PHONE_KEYWORD.finditer(text):
        d = _digits(m.group(1))
        if 7 <= len(d) <= 15:
            add(m.start(1), m.end(1), "PHONE")
    for m in _PHONE.finditer(text):
        s, e = m.start(), m.end()
        d = _digits(m.group())
        if not 7 <= len(d) <= 15:
            continue
        if d[0] == "0" and not d.startswith("00") and len(d) < 8:
            continue  # trunk-0 national numbers: 0 + at least 7 digits
        if _after_id_keyword(text, s):
            continue
        add(s, e, "PHONE")
    return sorted(found)


_HAS_DIGIT = re.compile(r"\d")


def mask_pii(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Mask identifiers in ``text`` keeping its length; returns (masked text, [(start, end, kind)])."""
    spans = find_pii(text)
    if not spans:
        return text, []
    parts: list[str] = []
    pos = 0
    for s, e, kind in spans:
        parts.append(text[pos:s])
        parts.append(mask_for(kind, e - s))
        pos = e
    parts.append(text[pos:])
    masked = "".join(parts)
    assert len(masked) == len(text)
    return masked, spans
