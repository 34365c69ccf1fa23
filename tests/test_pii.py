"""Tests for kgpipe.extract.pii: length-preserving masking of personal identifiers."""
from __future__ import annotations

import pytest

from kgpipe.extract.pii import find_pii, mask_for, mask_pii


def masked(text: str) -> list[tuple[str, str]]:
    """(surface, kind) of every masked span; checks the invariants on the way."""
    out, spans = mask_pii(text)
    assert len(out) == len(text)
    pos = 0
    for s, e, kind in spans:
        assert pos <= s < e <= len(text)
        assert out[s:e] == mask_for(kind, e - s)
        assert out[pos:s] == text[pos:s]  # nothing else changed
        pos = e
    assert out[pos:] == text[pos:]
    return [(text[s:e], kind) for s, e, kind in spans]


# --------------------------------------------------------------------------- mask format


def test_mask_format():
    assert mask_for("EMAIL", 20) == "[EMAIL]_____________"
    assert mask_for("EMAIL", 7) == "[EMAIL]"
    assert mask_for("EMAIL", 6) == "[EMAI]"
    assert mask_for("PHONE", 3) == "[P]"
    assert mask_for("PHONE", 1) == "_"
    assert mask_for("PHONE", 0) == ""
    for n in range(1, 40):
        m = mask_for("IPV4", n)
        assert len(m) == n
        # no letters or digits other than (a prefix of) the kind word
        assert "IPV4".startswith("".join(ch for ch in m if ch.isalnum()))


def test_offsets_after_mask_stay_valid():
    text = "Write to jane.doe@example.org about Paris or call +44 20 7946 0958 today."
    out, spans = mask_pii(text)
    assert len(out) == len(text)
    i = text.index("Paris")
    assert out[i:i + 5] == "Paris"
    assert out.endswith(" today.")
    assert [k for _, _, k in spans] == ["EMAIL", "PHONE"]
    assert out == ("Write to [EMAIL]_____________ about Paris or call [PHONE]_________ today.")


def test_no_pii_returns_same_object():
    text = "Marie Curie was born in Warsaw in 1867."
    out, spans = mask_pii(text)
    assert out is text and spans == []
    assert mask_pii("") == ("", [])


# --------------------------------------------------------------------------- positives


@pytest.mark.parametrize("text,expected", [
    ("Contact jane.doe@example.org for tickets.", [("jane.doe@example.org", "EMAIL")]),
    ("Mail j_smith+news@mail.co.uk, or press@bbc.co.uk.",
     [("j_smith+news@mail.co.uk", "EMAIL"), ("press@bbc.co.uk", "EMAIL")]),
    ("Short one: a@b.io!", [("a@b.io", "EMAIL")]),
])
def test_emails(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize("number", [
    "+1 (555) 123-4567", "+44 20 7946 0958", "+49 30 1234567", "+33 1 42 68 53 00",
    "+30 210 3251111", "0044 20 7946 0958",
    "(555) 123-4567", "555-123-4567", "555.123.4567", "1-800-555-0199", "555-1234",
    "020 7946 0958", "030 1234567", "(030) 12345678", "0171/1234567", "07700 900123",
])
def test_phone_numbers(number):
    assert masked(f"For bookings call {number} before noon.") == [(number, "PHONE")]


def test_phone_after_keyword():
    assert masked("Tel: 1234567. Fax 7654321") == [("1234567", "PHONE"), ("7654321", "PHONE")]


@pytest.mark.parametrize("iban", [
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "DE89 3704 0044 0532 0130 00",
    "FR14 2004 1010 0505 0001 3M02 606",
])
def test_ibans(iban):
    assert masked(f"Transfer to {iban} by Friday.") == [(iban, "IBAN")]


def test_iban_needs_valid_checksum():
    assert masked("Transfer to GB83 WEST 1234 5698 7654 32 by Friday.") == []


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005",
    "6011 0009 9013 9424",
])
def test_cards(card):
    assert masked(f"Paid with card {card} yesterday.") == [(card, "CARD")]


def test_card_needs_luhn():
    assert masked("Paid with card 4111 1111 1111 1112 yesterday.") == []


def test_ipv4_and_ssn():
    assert masked("Requests from 192.168.1.10 and 8.8.8.8 failed.") == [
        ("192.168.1.10", "IPV4"), ("8.8.8.8", "IPV4")]
    assert masked("His SSN 078-05-1120 leaked.") == [("078-05-1120", "SSN")]
    assert masked("Invalid SSNs: 000-12-3456, 666-12-3456, 900-12-3456.") == []


# --------------------------------------------------------------------------- negatives


@pytest.mark.parametrize("text", [
    "In 1999 the ticket cost $1,500 and 200 million people watched.",
    "The war lasted from 1914-1918 and ended on 1918-11-11.",
    "The First World War (1914–1918) ended on 11 November 1918.",
    "Dates: 15.01.2020, 01/02/2020, 2020-01-15, 01.02.2020, 31/12/1999.",
    "ISBN 978-0-19-852663-6, ISBN 0-306-40615-2, ISBN 0306406152, ISBN 9780306406157.",
    "ISBN-13: 9783161484100 and ISSN 0317-8471.",
    "Python 3.11.4, version 1.2.3.4, v10.0.0.1 and Windows 10.0.19041.1 were tested.",
    "The population was 1 234 567 and the area 12,345,678 km2 (3.14159 rad, 0.5%).",
    "It sold 1,000,000 copies for €12.99 each; revenue was 2.5 billion.",
    "Coordinates 51.5074 N, 0.1278 W; elevation 1234 m.",
    "Short numbers like 12345 or Tel 12345 stay.",
    "Order 4111111111111112 fails the Luhn check; 1234567890123 is not a card.",
    "ISO 9001, A4 paper, COVID-19, F-16, B-52, 9/11, 24/7, pages 100-200.",
    "Apollo 11 landed on 20 July 1969 at 20:17 UTC.",
    "The score was 3-1 and the temperature 21.5 °C.",
])
def test_not_masked(text):
    assert find_pii(text) == []
    assert mask_pii(text)[0] == text


def test_overlapping_kinds_one_span():
    # an SSN-shaped number is not also a phone; an e-mail with digits is one e-mail
    assert masked("SSN 123-45-6789.") == [("123-45-6789", "SSN")]
    assert masked("Write to info2024@shop-555-1234.com now.") == [("info2024@shop-555-1234.com", "EMAIL")]


def test_never_raises_on_odd_input():
    for text in ["\x00\x01@@@", "@", "+" * 50, "9" * 5000, "\ud800 x@y.zz", "١٢٣٤٥٦٧٨٩٠"]:
        out, _ = mask_pii(text)
        assert len(out) == len(text)
