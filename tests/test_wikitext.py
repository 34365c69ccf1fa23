"""Tests for kgpipe.ingest.wikitext: wikitext -> clean text, paragraphs and link offsets."""
from __future__ import annotations

import bz2
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kgpipe.ingest import wikitext
from kgpipe.ingest.wikitext import (
    CleanText,
    Namespaces,
    Paragraph,
    WikiLink,
    clean_wikitext,
    normalize_title,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wiki"
ENWIKI = DATA / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
ELWIKIVOYAGE = DATA / "elwikivoyage-multistream" / "pages-articles-p2566p2583.multistream.xml.bz2"


# --------------------------------------------------------------------------- helpers


def check_invariants(ct: CleanText) -> None:
    """Offsets of links and paragraphs are exact; paragraphs tile the text."""
    text = ct.text
    for link in ct.links:
        assert text[link.start:link.end] == link.anchor, link
        assert link.anchor and link.anchor == link.anchor.strip(), link
        assert link.target, link
    for a, b in zip(ct.links, ct.links[1:]):
        assert a.end <= b.start
    pieces = []
    for p in ct.paragraphs:
        seg = text[p.start:p.end]
        assert seg and seg == seg.strip(), p
        assert "\n\n" not in seg
        assert p.kind in ("heading", "text", "list_item")
        pieces.append(seg)
    assert "\n\n".join(pieces) == text


def clean(s: str, ns: Namespaces | None = None) -> CleanText:
    ct = clean_wikitext(s, ns)
    check_invariants(ct)
    return ct


def links(ct: CleanText) -> list[tuple[str, str, str | None]]:
    return [(l.anchor, l.target, l.fragment) for l in ct.links]


def paras(ct: CleanText) -> list[tuple[str, str, str, int]]:
    return [(ct.text[p.start:p.end], p.kind, p.section, p.level) for p in ct.paragraphs]


# --------------------------------------------------------------------------- titles & namespaces


def test_normalize_title():
    assert normalize_title("political_philosophy") == "Political philosophy"
    assert normalize_title("  state   (polity) ") == "State (polity)"
    assert normalize_title("Simon Critchley#Infinitely Demanding") == "Simon Critchley"
    assert normalize_title("AT&amp;T") == "AT&T"
    assert normalize_title(":Foo") == "Foo"
    assert normalize_title("αθήνα") == "Αθήνα"
    assert normalize_title("éire") == "Éire"
    assert normalize_title("Foo%20bar") == "Foo bar"
    assert normalize_title("") == ""


def test_namespaces_english_default():
    ns = Namespaces.english_default()
    assert ns.namespace_of("Category:Foo") == (14, "Foo")
    assert ns.namespace_of("category:Foo") == (14, "Foo")
    assert ns.namespace_of("Image:X.png") == (6, "X.png")
    assert ns.namespace_of("File:X.png") == (6, "X.png")
    assert ns.namespace_of("WP:NPOV") == (4, "NPOV")
    assert ns.namespace_of("User_talk:Bob") == (3, "Bob")
    assert ns.namespace_of(":Category:Foo") == (14, "Foo")
    assert ns.namespace_of("Star Trek: Voyager") == (0, "Star Trek: Voyager")
    assert ns.namespace_of("Foo") == (0, "Foo")
    assert Namespaces.english_default() is ns


def test_namespaces_localized_keep_canonical_names():
    ns = Namespaces({6: ("Αρχείο",), 14: ("Κατηγορία",)})
    assert ns.namespace_of("Αρχείο:Χ.jpg") == (6, "Χ.jpg")
    assert ns.namespace_of("αρχείο:Χ.jpg") == (6, "Χ.jpg")
    assert ns.namespace_of("Κατηγορία:Πόλεις") == (14, "Πόλεις")
    # MediaWiki accepts the canonical English names on every wiki
    assert ns.namespace_of("File:X.jpg") == (6, "X.jpg")
    assert ns == Namespaces({6: ("Αρχείο",), 14: ("Κατηγορία",)})
    hash(ns)


# --------------------------------------------------------------------------- removed markup


def test_templates_nested_and_multiline_infobox_removed():
    src = (
        "{{Infobox person\n"
        "| name = Ada {{small|Lovelace}}\n"
        "| caption = {{nowrap|A [[portrait]]}}\n"
        "| birth_date = {{birth date|1815|12|10}}\n"
        "}}\n"
        "{{Use dmy dates|date=May 2015}}\n"
        "'''Ada Lovelace''' was an English [[mathematician]]."
        "{{#if:{{{x|}}}|yes|no}} {{{param|default}}}"
    )
    ct = clean(src)
    assert ct.text == "Ada Lovelace was an English mathematician."
    assert links(ct) == [("mathematician", "Mathematician", None)]
    assert paras(ct) == [("Ada Lovelace was an English mathematician.", "text", "", 0)]


def test_tables_and_extension_tags_removed():
    src = (
        "Before.\n"
        "{| class=\"wikitable\"\n|-\n! Header\n|-\n| [[cell]] || ''b''\n|}\n"
        "After <math>x^2</math> the <gallery>\nX.jpg|caption\n</gallery>"
        "end<syntaxhighlight lang=python>print(1)</syntaxhighlight>."
        "<score>c d e</score><timeline>x</timeline>\n__TOC__ __NOTOC__\n<references/>"
    )
    ct = clean(src)
    assert ct.text == "Before.\n\nAfter the end."
    assert ct.links == ()


def test_file_links_with_nested_links_removed_entirely():
    ct = clean("[[File:X.jpg|thumb|A [[cat]] on a [[mat]]]] The [[cat]]s sat."
               "[[Image:Y.png|left|200px|[[dog]]]]")
    assert ct.text == "The cats sat."
    assert links(ct) == [("cats", "Cat", None)]
    # localized file namespace (key 6) and Media (key -2)
    el = Namespaces({6: ("Αρχείο",), -2: ("Μέσο",), 14: ("Κατηγορία",)})
    ct = clean("[[Αρχείο:Χ.jpg|μικρό|λεζάντα [[Αθήνα]]]] Η [[Αθήνα]]. [[Μέσο:Ήχος.ogg]]", el)
    assert ct.text == "Η Αθήνα."
    assert links(ct) == [("Αθήνα", "Αθήνα", None)]


def test_references_inline_named_self_closing():
    src = (
        "Anarchism is a philosophy.<ref>{{cite book|title=X}} See [[Foo]].</ref> "
        "It is old<ref name=\"old\">Old, p. 3</ref>, and new<ref name=old/> .\n"
        "Last<ref group=note>n</ref> ; fin<ref name=a />."
    )
    ct = clean(src)
    assert ct.text == "Anarchism is a philosophy. It is old, and new. Last; fin."
    assert ct.links == ()
    assert "<ref" not in ct.text


def test_comments_and_magic_words_removed():
    ct = clean("A<!-- hidden [[x]] --> B __NOTOC__\n<!-- one\nline -->\nC")
    assert ct.text == "A B C"


def test_categories_and_interwiki_dropped():
    src = (
        "Text [[wikt:polis|polis]] and [[s:Author:Plato|Plato's works]].\n"
        "[[Category:Cities]]\n[[Category:Greece|Athens]]\n"
        "[[de:Athen]][[fr:Athènes]] [[:fr:Athènes]] [[zh-yue:雅典]] [[wikt:polis]]"
    )
    ct = clean(src)
    assert ct.text == "Text polis and Plato's works."
    assert ct.links == ()
    # a line holding only category / interlanguage links does not split a paragraph
    assert clean("One\n[[Category:X]] [[Category:Y]]\n[[de:Z]]\ntwo.").text == "One two."


def test_visible_category_and_other_namespace_links_emit_no_wikilink():
    src = ("See [[:Category:Greek cities]], [[:Category:Greek cities|cities]], "
           "[[Wikipedia:Manual of Style|the MoS]], [[Help:Contents]] and [[#Local|below]].")
    ct = clean(src)
    assert ct.text == ("See Category:Greek cities, cities, the MoS, Help:Contents and below.")
    assert ct.links == ()


# --------------------------------------------------------------------------- kept text and links


def test_piped_links_trail_fragments_and_pipe_trick():
    src = ("The [[political_philosophy|philosophy]] of [[bus]]es, [[Simon Critchley#Infinitely Demanding"
           "|Infinitely Demanding]], [[Foo (band)|]], [[ state  (polity) ]] and [[foo|bar]]'s.")
    ct = clean(src)
    assert ct.text == ("The philosophy of buses, Infinitely Demanding, Foo, state (polity) and bar's.")
    assert links(ct) == [
        ("philosophy", "Political philosophy", None),
        ("buses", "Bus", None),
        ("Infinitely Demanding", "Simon Critchley", "Infinitely Demanding"),
        ("Foo", "Foo (band)", None),
        ("state (polity)", "State (polity)", None),
        ("bar", "Foo", None),
    ]


def test_anchor_with_markup_cleaned_recursively():
    src = "A [[Afghan (ethnonym)|'''''Afghan'''''{{ref|x}}]] and [[Foo|<small>small</small> &amp; big]]."
    ct = clean(src)
    assert ct.text == "A Afghan and small & big."
    assert links(ct) == [("Afghan", "Afghan (ethnonym)", None), ("small & big", "Foo", None)]


def test_unicode_greek_and_accents():
    src = ("Ο Πειραιάς είναι λιμάνι της [[Αθήνα|Αθήνας]]. Στην [[Ελλάδα]]ς "
           "τα [[café]]s και το [[São_Paulo]].")
    ct = clean(src)
    assert ct.text == "Ο Πειραιάς είναι λιμάνι της Αθήνας. Στην Ελλάδας τα cafés και το São Paulo."
    assert links(ct) == [
        ("Αθήνας", "Αθήνα", None),
        ("Ελλάδας", "Ελλάδα", None),
        ("cafés", "Café", None),
        ("São Paulo", "São Paulo", None),
    ]


def test_inline_html_entities_and_external_links():
    src = ("AT&amp;T&nbsp;Inc. is <b>bold</b> <i>it</i> <span style=\"x\">span</span> "
           "<small>s</small> km<sup>2</sup> H<sub>2</sub>O <u>u</u> <s>s</s> "
           "<nowiki>[[not a link]]</nowiki> caf&eacute;<br/>next "
           "[http://x.org label here] [http://y.org] http://z.org .")
    ct = clean(src)
    assert ct.text == ("AT&T Inc. is bold it span s km2 H2O u s [[not a link]] café next label here.")
    assert ct.links == ()


def test_headings_and_list_paragraphs():
    src = (
        "Intro para\nline two.\n\nSecond para.\n"
        "== History ==\n"
        "Old [[times]].\n"
        "=== Early ===\n"
        "* First [[item]]\n"
        "** nested\n"
        "# numbered\n"
        "; Term : definition\n"
        "After list.\n"
        "==See also==\n"
        "* [[Foo]]\n"
    )
    ct = clean(src)
    assert paras(ct) == [
        ("Intro para line two.", "text", "", 0),
        ("Second para.", "text", "", 0),
        ("History", "heading", "History", 2),
        ("Old times.", "text", "History", 2),
        ("Early", "heading", "Early", 3),
        ("First item", "list_item", "Early", 3),
        ("nested", "list_item", "Early", 3),
        ("numbered", "list_item", "Early", 3),
        ("Term", "list_item", "Early", 3),
        ("definition", "list_item", "Early", 3),
        ("After list.", "text", "Early", 3),
        ("See also", "heading", "See also", 2),
        ("Foo", "list_item", "See also", 2),
    ]
    assert ct.text.startswith("Intro para line two.\n\nSecond para.\n\nHistory\n\nOld times.")
    assert links(ct) == [("times", "Times", None), ("item", "Item", None), ("Foo", "Foo", None)]


def test_empty_parentheses_and_space_before_punctuation_keep_offsets():
    src = (
        "'''[[Anarchism]]''' ({{IPAc-en|ˈ|æ|n|ər|k|ɪ|z|əm}}) is a [[political philosophy]] .\n\n"
        "'''Foo''' ({{lang-de|Fuh}}; {{IPA|x}}) was a [[band]] ( {{small|x}} ) ,"
        " formed ({{circa}}, born [[1900]]; ) in [[Paris]]<ref>x</ref> ; really [[a|b]] ."
    )
    ct = clean(src)
    assert ct.text == ("Anarchism is a political philosophy.\n\n"
                       "Foo was a band, formed (born 1900) in Paris; really b.")
    assert links(ct) == [
        ("Anarchism", "Anarchism", None),
        ("political philosophy", "Political philosophy", None),
        ("band", "Band", None),
        ("1900", "1900", None),
        ("Paris", "Paris", None),
        ("b", "A", None),
    ]
    second = ct.paragraphs[1]
    assert ct.links[2].start > second.start
    # separators left at the start of a paragraph by a removed citation template
    ct = clean("* {{cite book|title=X}}, also published as [[Foo]]")
    assert ct.text == "also published as Foo"
    assert links(ct) == [("Foo", "Foo", None)]
    # parentheses that belong to the prose stay
    assert clean("Call printf() on int[] x (or y).").text == "Call printf() on int[] x (or y)."


def test_broken_markup_left_as_text_is_scrubbed():
    ct = clean("a <ref>b [[c]] d\n\nx {{unclosed|y [[z]] w\n\n<div>p<div>q\n\nk <!-- never closed")
    for bad in ("{{", "}}", "[[", "]]", "<ref", "<div", "<!--"):
        assert bad not in ct.text
    assert [l.target for l in ct.links] == ["C", "Z"]


@pytest.mark.parametrize(
    "src",
    [
        "",
        "   \n\n \t ",
        "[[",
        "]]]]]]",
        "{{" * 3000,
        "[[a|" * 500 + "]]" * 500,
        "{{a|" * 500 + "}}" * 500,
        "<div>" * 300 + "x",
        "{|\n" * 200 + "|}",
        "'''''" * 500,
        "== unclosed heading\n* [[x|y\n# {{z\n:<ref>",
        "[[File:x.jpg|[[File:y.jpg|[[File:z.jpg|",
        "[[Category:]] [[:]] [[#]] [[|]] [[ ]] [http:// ] &#xZZ; &bogus;",
        "\x00\ud800\uffff",
    ],
)
def test_malformed_input_does_not_raise(src):
    ct = clean(src)
    assert isinstance(ct, CleanText)


def test_non_string_input_and_parser_failure_fallback(monkeypatch):
    assert clean_wikitext(None).text == ""  # type: ignore[arg-type]

    def boom(*args, **kwargs):
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(wikitext.mwparserfromhell, "parse", boom)
    ct = clean("First  para\nstill first.\n\n\nSecond [[para]].")
    assert ct.text == "First para still first.\n\nSecond [[para]]."
    assert [p.kind for p in ct.paragraphs] == ["text", "text"]
    assert ct.links == ()


def test_public_types_are_frozen():
    ct = clean("[[a]]")
    assert isinstance(ct.links[0], WikiLink) and isinstance(ct.paragraphs[0], Paragraph)
    with pytest.raises(AttributeError):  # frozen dataclass
        ct.links[0].start = 3  # type: ignore[misc]


# --------------------------------------------------------------------------- real dumps


def _require(path: Path) -> None:
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"sample dump missing in CI: {path}")
        pytest.skip(f"sample dump not available: {path} (shared/data/wiki is not checked out)")


def _read_dump(path: Path):
    """(namespaces from <siteinfo>, [(title, ns, is_redirect, text)])."""
    names: dict[int, list[str]] = {}
    pages = []
    with bz2.open(path, "rb") as f:
        for _, el in ET.iterparse(f, events=("end",)):
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "namespace":
                names.setdefault(int(el.get("key")), []).append(el.text or "")
            elif tag == "page":
                title = el.findtext("{*}title")
                ns = int(el.findtext("{*}ns"))
                redirect = el.find("{*}redirect") is not None
                text = el.findtext("{*}revision/{*}text") or ""
                pages.append((title, ns, redirect, text))
                el.clear()
    return Namespaces({k: tuple(v) for k, v in names.items()}), pages


@pytest.fixture(scope="module")
def enwiki_clean():
    _require(ENWIKI)
    namespaces, pages = _read_dump(ENWIKI)
    return {title: clean_wikitext(text, namespaces)
            for title, ns, redirect, text in pages if ns == 0 and not redirect}


def test_enwiki_sample_is_clean_and_offsets_exact(enwiki_clean):
    assert len(enwiki_clean) >= 100
    for title, ct in enwiki_clean.items():
        for bad in ("{{", "}}", "[[", "]]", "<ref", "{|"):
            assert bad not in ct.text, (title, bad)
        check_invariants(ct)


def test_enwiki_anarchism(enwiki_clean):
    ct = enwiki_clean["Anarchism"]
    assert len(ct.text) > 5000
    assert ct.text.startswith(
        "Anarchism is a political philosophy that advocates self-governed societies "
        "based on voluntary institutions. These are often described as stateless societies, "
        "although several authors have defined them more specifically as institutions based "
        "on non-hierarchical free associations.")
    found = {(l.anchor, l.target) for l in ct.links}
    assert ("political philosophy", "Political philosophy") in found
    assert ("self-governed", "Self-governance") in found
    assert ("stateless societies", "Stateless society") in found
    first = ct.links[0]
    assert (first.anchor, first.target, first.start) == ("political philosophy", "Political philosophy", 15)
    heads = [(ct.text[p.start:p.end], p.level) for p in ct.paragraphs if p.kind == "heading"]
    assert heads[:3] == [("Etymology and terminology", 2), ("History", 2), ("Origins", 3)]
    origins = [p for p in ct.paragraphs if p.section == "Origins" and p.kind == "text"]
    assert origins and ct.text[origins[0].start:].startswith(
        "The earliest anarchist themes can be found in the 6th century BC")


def test_elwikivoyage_sample_localized_namespaces():
    _require(ELWIKIVOYAGE)
    namespaces, pages = _read_dump(ELWIKIVOYAGE)
    assert namespaces.namespace_of("Κατηγορία:Χ") == (14, "Χ")
    cleaned = {title: clean_wikitext(text, namespaces)
               for title, ns, redirect, text in pages if ns == 0 and not redirect}
    assert len(cleaned) >= 10
    for title, ct in cleaned.items():
        check_invariants(ct)
        for bad in ("{{", "[[", "thumb", "px|", "Κατηγορία:"):
            assert bad not in ct.text, (title, bad)
    ct = cleaned["Ζηλανδία (επαρχία)"]
    assert ct.text.startswith(
        "Η Ζηλανδία (Ολλανδικά) είναι μια από τις επαρχίες της Ολλανδίας, στα νοτιοδυτικά της χώρας.")
    assert ("Ολλανδίας", "Κάτω Χώρες") in {(l.anchor, l.target) for l in ct.links}
