"""Engine-free MediaWiki wikitext -> clean plain text, with exact link offsets.

The converter parses a page once with mwparserfromhell and walks the node tree itself
(``strip_code()`` loses link offsets and paragraph structure).  The walk writes the
visible text of the page into *blocks* (headings, text paragraphs, list items) and
records, per block, the character span of every internal-link anchor.  A final
per-block cleanup (whitespace collapsing, removal of the empty parentheses that
removed templates leave behind, of spaces before punctuation left by removed
references) only ever *deletes* characters or substitutes one whitespace character
for a space, so link spans are mapped through each edit exactly and
``text[link.start:link.end] == link.anchor`` always holds.

What is removed, what is kept and how links are resolved is described in
:func:`clean_wikitext`.  Nothing here imports Spark or Beam; the function is pure
and never raises on any input string.
"""
from __future__ import annotations

import html
import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

__all__ = [
    "Namespaces",
    "WikiLink",
    "Paragraph",
    "CleanText",
    "normalize_title",
    "clean_wikitext",
]


# --------------------------------------------------------------------------- public types


def _ns_key(name: str) -> str:
    """Lookup key of a namespace name: '_' -> ' ', whitespace collapsed, case-folded."""
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class Namespaces:
    """Namespace names of a wiki, from the dump's <siteinfo> (key -> names).

    Lookups are case-insensitive (MediaWiki namespace prefixes are case-insensitive,
    which includes the first letter) and treat '_' as ' '.  As in MediaWiki, the
    canonical English names ("File", "Image", "Category", "Template", ...) are
    recognized on every wiki in addition to the local names given here (Greek
    Wikivoyage pages use both "Αρχείο:" and "File:"); local names take precedence.
    """

    names: Mapping[int, tuple[str, ...]]

    def __post_init__(self) -> None:
        lookup: dict[str, int] = {}
        for key, names in self.names.items():
            if isinstance(names, str):  # tolerate {14: "Category"}
                names = (names,)
            for name in names:
                k = _ns_key(name or "")
                if k:
                    lookup.setdefault(k, int(key))
        for key, names in _CANONICAL_NAMES.items():
            for name in names:
                lookup.setdefault(_ns_key(name), key)
        object.__setattr__(self, "_lookup", lookup)  # derived cache, not a field

    def __hash__(self) -> int:  # names is a (mutable) Mapping; hash its content
        return hash(tuple(sorted((k, tuple(v)) for k, v in self.names.items())))

    @classmethod
    def english_default(cls) -> "Namespaces":
        """MediaWiki's English canonical namespace names, with the usual aliases."""
        global _ENGLISH_DEFAULT
        if _ENGLISH_DEFAULT is None:
            _ENGLISH_DEFAULT = cls(dict(_ENGLISH_NAMES))
        return _ENGLISH_DEFAULT

    def namespace_of(self, title: str) -> tuple[int, str]:
        """Split ``"Category:Foo"`` into ``(14, "Foo")``; an unknown prefix gives ``(0, title)``.

        One leading colon (``":Category:Foo"``, the visible-link form) is ignored.
        """
        t = title.lstrip()
        if t.startswith(":"):
            t = t[1:]
        idx = t.find(":")
        if idx > 0:
            key = self._lookup.get(_ns_key(t[:idx]))
            if key is not None:
                return key, t[idx + 1:].strip()
        return 0, title

    def key_of(self, prefix: str) -> int | None:
        """Namespace key of a bare prefix (``"image"`` -> 6), or None."""
        return self._lookup.get(_ns_key(prefix))


# names valid on every MediaWiki wiki whatever its language
_CANONICAL_NAMES: dict[int, tuple[str, ...]] = {
    -2: ("Media",),
    -1: ("Special",),
    1: ("Talk",),
    2: ("User",),
    3: ("User talk",),
    4: ("Project",),
    5: ("Project talk",),
    6: ("File", "Image"),
    7: ("File talk", "Image talk"),
    8: ("MediaWiki",),
    9: ("MediaWiki talk",),
    10: ("Template",),
    11: ("Template talk",),
    12: ("Help",),
    13: ("Help talk",),
    14: ("Category",),
    15: ("Category talk",),
}
# English Wikipedia: the canonical names plus its own project names and extra namespaces
_ENGLISH_NAMES: dict[int, tuple[str, ...]] = {
    **_CANONICAL_NAMES,
    4: ("Wikipedia", "WP", "Project"),
    5: ("Wikipedia talk", "WT", "Project talk"),
    100: ("Portal",), 101: ("Portal talk",), 108: ("Book",), 109: ("Book talk",),
    118: ("Draft",), 119: ("Draft talk",), 446: ("Education Program",), 447: ("Education Program talk",),
    710: ("TimedText",), 711: ("TimedText talk",), 828: ("Module",), 829: ("Module talk",),
    2300: ("Gadget",), 2301: ("Gadget talk",), 2302: ("Gadget definition",),
    2303: ("Gadget definition talk",), 2600: ("Topic",),
}
_ENGLISH_DEFAULT: Namespaces | None = None


@dataclass(frozen=True)
class WikiLink:
    """An internal link to an article (namespace 0) and where its anchor lies in the text."""

    anchor: str  # text as shown in the clean text
    target: str  # normalize_title() of the link target, fragment removed
    fragment: str | None  # part after '#', or None
    start: int  # CleanText.text[start:end] == anchor
    end: int


@dataclass(frozen=True)
class Paragraph:
    start: int  # CleanText.text[start:end] is the paragraph, no leading/trailing whitespace
    end: int
    kind: str  # "heading" | "text" | "list_item"
    section: str  # title of the enclosing section heading ("" before the first heading)
    level: int  # heading level for headings; else level of the enclosing section (0 before first)


@dataclass(frozen=True)
class CleanText:
    text: str  # paragraphs joined by "\n\n"
    paragraphs: tuple[Paragraph, ...]
    links: tuple[WikiLink, ...]


# --------------------------------------------------------------------------- titles

_PCT_RE = re.compile(r"%[0-9A-Fa-f]{2}")


def _upper_first(s: str) -> str:
    if not s:
        return s
    up = s[0].upper()
    # 'ß'.upper() == 'SS': MediaWiki keeps such characters rather than growing the title
    return (up if len(up) == 1 else s[0]) + s[1:]


def _split_title(title: str) -> tuple[str, str | None]:
    """Decode entities / %XX, split off the fragment; returns (normalized title, fragment)."""
    t = title
    if "&" in t:
        t = html.unescape(t)
    if "%" in t and _PCT_RE.search(t):
        try:
            t = unquote(t, errors="strict")
        except UnicodeDecodeError:
            pass
    fragment: str | None = None
    idx = t.find("#")
    if idx >= 0:
        fragment = " ".join(t[idx + 1:].split()) or None
        t = t[:idx]
    t = " ".join(t.replace("_", " ").split())
    t = t.lstrip(":").lstrip()
    return _upper_first(t), fragment


def normalize_title(title: str) -> str:
    """Normalize a link or redirect target to an article title.

    '_' -> ' ', HTML entities (and %XX escapes) decoded, whitespace collapsed and
    stripped, a leading ':' dropped, the '#fragment' removed and the first letter
    upper-cased: ``normalize_title("political_philosophy#History") == "Political philosophy"``.
    """
    try:
        return _split_title(title)[0]
    except Exception:  # never raise on odd input
        return " ".join(str(title).split())


# --------------------------------------------------------------------------- classification

# Interwiki prefixes that are not language codes (case-insensitive).  Language codes
# are recognized by shape: 2-3 lowercase letters, optionally with '-xxx' parts
# ("de", "simple" is listed explicitly, "be-x-old", "zh-yue").
_INTERWIKI = frozenset(
    """w wikipedia wikt wiktionary s wikisource q wikiquote n wikinews b wikibooks
    v wikiversity voy wikivoyage species wikispecies d wikidata c commons m meta
    metawikimedia metawikipedia mw mediawikiwiki foundation wmf incubator outreach
    phab phabricator bugzilla mediazilla oldwikisource wikitech toollabs testwiki
    simple doi hdl arxiv rfc iarchive gutenberg google imdb
    """.split()
)
_LANG_RE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*\Z")

# tags whose whole content is dropped (compared lower-case)
_DROP_TAGS = frozenset(
    """ref references math chem ce gallery syntaxhighlight source score timeline imagemap
    graph mapframe maplink templatedata templatestyles hiero inputbox categorytree
    includeonly section indicator charinsert dynamicpagelist poll style script
    table tr td th caption thead tbody tfoot""".split()
)
# tags whose content is raw text (not wikitext)
_RAW_TAGS = frozenset(("nowiki", "pre"))
# HTML block tags: a paragraph break before and after their content
_BLOCK_TAGS = frozenset(
    """div p blockquote center ul ol dl h1 h2 h3 h4 h5 h6 poem figure
    section article aside header footer""".split()
)
_LIST_MARKUP = frozenset("*#:;")
_HTML_LIST_TAGS = frozenset(("li", "dt", "dd"))

_APOS_RE = re.compile(r"''+")
# markup left as text by the parser when it gave up on a construct (unclosed
# templates, links, tables, tags, comments): see _Walker._junk_text
_JUNK_RE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}|<[!/a-zA-Z]")
_JUNK_SEQ_RE = re.compile(r"\{\||\|\}|[{}]{2,}|\[{2,}|\]{2,}")
_HTML_TAG_RE = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)(?:\s[^<>]*)?/?>")
_MAGIC_RE = re.compile(r"__[A-Z][A-Z_]*__")
_NONSPACE_WS_RE = re.compile(r"[^\S ]")

# "( )", "(; )", "[ ]" left by removed templates, with the spaces before them; only
# after a space, an opening bracket or at the start, so that "printf()" stays
_EMPTY_GROUP_RE = re.compile(r"(?: +|(?<=[(\[])|\A)(?:\([ ,;:]*\)|\[[ ,;:]*\])")
_PAREN_LEAD_RE = re.compile(r"(?<=\()[ ,;:]+")
_PAREN_TRAIL_RE = re.compile(r"(?<=[^ ,;:(])[ ,;:]+(?=\))")
# repeated separators left by removed templates: "a, , , and" -> "a, and", "x,." -> "x."
_PUNCT_RE = re.compile(r",[ ,]*(?=,)|[,;:] *(?=\.(?:[ )\]\"']|\Z))")
# one pass: spaces before , ; : ) ] and before a sentence-final '.', leading spaces
# and separators (", also published as" after a removed citation), trailing spaces,
# and all but the first space of every run of spaces
_SPACES_RE = re.compile(r"\A[ ,;:]+| +(?=[,;:)\]]|\.(?:[ )\]\"']|\Z))| +\Z|(?<= ) +")


# --------------------------------------------------------------------------- walker


class _Block:
    __slots__ = ("kind", "level", "parts", "length", "links", "content")

    def __init__(self, kind: str, level: int = 0) -> None:
        self.kind = kind
        self.level = level
        self.parts: list[str] = []
        self.length = 0
        self.links: list[tuple[int, int, str, str | None]] = []
        self.content = False


class _Walker:
    def __init__(self, namespaces: Namespaces) -> None:
        self.ns = namespaces
        self.blocks: list[_Block] = []
        self.block = _Block("text")
        self.pending_nl = 0
        self.inline = 0  # >0 inside link anchors / headings: no paragraph breaks
        self.in_link = 0  # >0 inside a link anchor: nested links emit no WikiLink
        self.table_depth = 0  # >0 inside a wiki table the parser left as text
        self.dropped_line_link = False  # last link was a category/interlanguage link

    # ---- output primitives

    def _finish(self) -> None:
        b = self.block
        if b.content:
            self.blocks.append(b)

    def _new_block(self, kind: str, level: int = 0) -> None:
        self._finish()
        self.block = _Block(kind, level)
        self.pending_nl = 0

    def _break(self) -> None:
        """Paragraph break (ignored inside inline constructs)."""
        if not self.inline:
            self._new_block("text")

    def _flush_pending(self) -> None:
        """Resolve pending newlines as if visible content follows."""
        if self.pending_nl:
            b = self.block
            if b.kind != "text" or self.pending_nl >= 2:
                self._new_block("text")
            elif b.content:
                b.parts.append(" ")
                b.length += 1
            self.pending_nl = 0

    def _emit(self, s: str) -> None:
        """Append a string without newlines."""
        if not s or self.table_depth:
            return
        blank = s.isspace()
        if self.pending_nl:
            if blank:
                return
            self._flush_pending()
        b = self.block
        b.parts.append(s)
        b.length += len(s)
        if not blank:
            b.content = True

    def _emit_str(self, s: str) -> None:
        """Append a string that may contain newlines."""
        if "\n" not in s:
            self._emit(s)
            return
        first = True
        for line in s.split("\n"):
            if not first:
                self._newline()
            first = False
            self._emit(line)

    def _newline(self) -> None:
        if self.inline:
            self._emit(" ")
        else:
            self.pending_nl += 1

    # ---- tree walk

    def nodes(self, nodes) -> None:
        i = 0
        n = len(nodes)
        while i < n:
            node = nodes[i]
            t = type(node)
            if t is Text:
                self._text(node.value)
            elif t is Template or t is Argument:
                pass
            elif t is Comment:
                if self.pending_nl:
                    self._swallow_line(nodes, i)
            elif t is Wikilink:
                trail = ""
                nxt = nodes[i + 1] if i + 1 < n else None
                if type(nxt) is Text:
                    v = nxt.value
                    if v and v[0].isalpha() and v[0].islower():
                        k = 1
                        while k < len(v) and v[k].isalpha() and v[k].islower():
                            k += 1
                        trail = v[:k]
                if self._wikilink(node, trail):
                    if trail:
                        self._text(nxt.value[len(trail):])
                        i += 1
                elif self.dropped_line_link:
                    self.dropped_line_link = False
                    if self.pending_nl:
                        self._swallow_line(nodes, i)
            elif t is Tag:
                self._tag(node)
            elif t is HTMLEntity:
                try:
                    self._emit(node.normalize())
                except Exception:
                    self._emit(str(node))
            elif t is ExternalLink:
                if node.brackets and node.title is not None:
                    self.inline += 1
                    try:
                        self.nodes(node.title.nodes)
                    finally:
                        self.inline -= 1
            elif t is Heading:
                self._heading(node)
            i += 1

    def _swallow_line(self, nodes, i: int) -> None:
        """nodes[i] (a comment, category or interlanguage link) starts a line: if only
        such nodes fill that line, remove the line with its newline, as MediaWiki does
        (so they do not split the surrounding paragraph)."""
        if self.inline:
            return
        j = i + 1
        n = len(nodes)
        while j < n and type(nodes[j]) is Comment:
            j += 1
        if j < n and type(nodes[j]) is Text and nodes[j].value.lstrip(" \t").startswith("\n"):
            self.pending_nl -= 1

    def _text(self, value: str) -> None:
        if "''" in value:  # bold/italic markup (parsed with skip_style_tags=True)
            value = _APOS_RE.sub(_apostrophes, value)
        if "__" in value:
            value = _MAGIC_RE.sub("", value)
        if self.table_depth or _JUNK_RE.search(value):
            self._junk_text(value)
        else:
            self._emit_str(value)

    def _junk_text(self, value: str) -> None:
        """Text holding markup the parser did not recognize (unbalanced constructs).

        An unclosed comment hides the rest of the text, the lines of a wiki table
        are skipped up to its closing '|}', known HTML/extension tags lose their
        markup (keeping their content) and stray '{{', '}}', '[[', ']]', '{|', '|}'
        are dropped.
        """
        i = value.find("<!--")
        if i >= 0:
            value = value[:i]
        first = True
        for line in value.split("\n"):
            if first:
                bol = self.pending_nl > 0 or not self.block.content
                first = False
            else:
                self._newline()
                bol = True
            if bol and not self.inline:
                head = line.lstrip()
                if head.startswith("{|"):
                    self.table_depth += 1
                    continue
                if self.table_depth and head.startswith("|}"):
                    self.table_depth -= 1
                    continue
            if self.table_depth:
                continue
            if "<" in line:
                line = _HTML_TAG_RE.sub(_drop_known_tag, line)
            self._emit(_JUNK_SEQ_RE.sub("", line))

    def _heading(self, node: Heading) -> None:
        self.table_depth = 0  # a heading ends any table left open as text
        if self.inline:
            self.nodes(node.title.nodes)
            return
        self._new_block("heading", node.level)
        self.inline += 1
        try:
            self.nodes(node.title.nodes)
        finally:
            self.inline -= 1
        self._new_block("text")

    def _tag(self, node: Tag) -> None:
        markup = node.wiki_markup
        if markup is not None:
            if markup in _LIST_MARKUP:
                if not self.inline:
                    b = self.block
                    if not (b.kind == "list_item" and not b.content):
                        self._new_block("list_item")
                    self.pending_nl = 0
                return
            if markup == "''" or markup == "'''":
                if node.contents is not None:
                    self.nodes(node.contents.nodes)
                return
            if markup == "----":
                self._break()
                return
            if markup.startswith(("{|", "|", "!")):
                return  # wiki tables and stray table rows/cells
        name = str(node.tag).strip().lower()
        if name in _DROP_TAGS:
            return
        if name == "br":
            self._emit(" ")
            return
        contents = node.contents
        if name in _RAW_TAGS:
            if contents is not None:
                raw = str(contents)
                if "&" in raw:
                    raw = html.unescape(raw)
                self._emit_str(raw)
            return
        if name == "hr":
            self._break()
            return
        if contents is None:
            return
        if name in _BLOCK_TAGS:
            self._break()
            self.nodes(contents.nodes)
            self._break()
        elif name in _HTML_LIST_TAGS:
            if not self.inline:
                self._new_block("list_item")
            self.nodes(contents.nodes)
            self._break()
        else:
            self.nodes(contents.nodes)

    # ---- links

    @staticmethod
    def _plain_title(title) -> str | None:
        """Title text of a link, or None when it holds templates/tags (not a plain title)."""
        out = []
        for node in title.nodes:
            t = type(node)
            if t is Text:
                out.append(node.value)
            elif t is HTMLEntity:
                out.append(str(node))
            elif t is Comment:
                continue
            else:
                return None
        return "".join(out)

    def _render_inline(self, nodes) -> None:
        self.inline += 1
        self.in_link += 1
        try:
            self.nodes(nodes)
        finally:
            self.inline -= 1
            self.in_link -= 1

    def _wikilink(self, node: Wikilink, trail: str) -> bool:
        """Render a [[link]]; returns True when it consumed the link trail."""
        raw = self._plain_title(node.title)
        text = node.text
        if raw is None:  # e.g. [[{{PAGENAME}}]]: not a valid title, show its text
            self._render_inline((text if text is not None else node.title).nodes)
            return False
        title = raw.strip()
        colon = title.startswith(":")
        if colon:
            title = title[1:].lstrip()
        ns = 0
        rest = title
        interwiki = False
        idx = title.find(":")
        if idx > 0:
            prefix = title[:idx]
            key = self.ns.key_of(prefix)
            if key is not None:
                ns, rest = key, title[idx + 1:].strip()
            else:
                p = prefix.strip()
                if p.casefold() in _INTERWIKI or _LANG_RE.match(p):
                    interwiki = True
                    rest = title[idx + 1:].strip()
        if not colon and (ns == 6 or ns == -2 or ns == 14):
            self.dropped_line_link = ns == 14
            return False  # images, media and category links: removed entirely
        if ns == -2:  # [[:Media:x]] links the file itself
            ns = 6
        if interwiki and (not colon and _LANG_RE.match(title[:idx].strip()) or text is None):
            self.dropped_line_link = not colon
            return False  # interlanguage link, or an unlabeled interwiki link
        target, fragment = ("", None)
        emit_link = ns == 0 and not interwiki and not self.in_link
        if emit_link:
            target, fragment = _split_title(title)
            if not target:
                emit_link = False  # [[#Section]]: same page
            elif any(c in target for c in "<>[]{}|"):
                emit_link = False  # not a valid title
        self._flush_pending()
        b = self.block
        start = b.length
        if text is None:
            shown = title
            if shown.startswith("#"):
                shown = shown[1:]
            if "&" in shown:
                shown = html.unescape(shown)
            self._emit(" ".join(shown.replace("_", " ").split()))
        elif not text.nodes or (len(text.nodes) == 1 and type(text.nodes[0]) is Text
                                and not text.nodes[0].value.strip()):
            self._emit(_pipe_trick(rest if (ns or interwiki) else title))  # [[Foo (bar)|]]
        else:
            self._render_inline(text.nodes)
        if trail:
            self._emit(trail)
        if emit_link and self.block is b and b.length > start:
            b.links.append((start, b.length, target, fragment))
        return True


_KNOWN_TAGS = _DROP_TAGS | _RAW_TAGS | _BLOCK_TAGS | _HTML_LIST_TAGS | frozenset(
    """b i u s br hr span small big sup sub font em strong del ins abbr cite q var kbd
    samp dfn mark bdi bdo ruby rt rp wbr strike onlyinclude noinclude""".split()
)


def _drop_known_tag(m: re.Match) -> str:
    return "" if m.group(1).lower() in _KNOWN_TAGS else m.group()


def _apostrophes(m: re.Match) -> str:
    """Runs of 2, 3 or 5 apostrophes are bold/italic markup; 4 is an apostrophe
    followed by bold markup; longer runs keep the apostrophes beyond five."""
    n = len(m.group())
    if n == 4:
        return "'"
    return "'" * (n - 5) if n > 5 else ""


_PIPE_TRICK_RE = re.compile(r"(.*?)\s*\([^()]*\)\s*\Z")


def _pipe_trick(title: str) -> str:
    """Anchor of ``[[Title|]]``: namespace already removed, "Foo (bar)" -> "Foo",
    "Foo, Bar" -> "Foo"."""
    t = html.unescape(title) if "&" in title else title
    t = " ".join(t.replace("_", " ").split())
    t = t.split("#", 1)[0].strip()
    m = _PIPE_TRICK_RE.match(t)
    if m and m.group(1):
        return m.group(1)
    if ", " in t:
        return t.split(", ", 1)[0]
    return t


# --------------------------------------------------------------------------- cleanup


def _delete(text: str, pattern: re.Pattern, dels: list) -> str:
    """Delete every match of pattern from text; appends the deleted spans to dels."""
    pieces = []
    last = 0
    spans = []
    for m in pattern.finditer(text):
        a, b = m.span()
        if a == b:
            continue
        pieces.append(text[last:a])
        spans.append((a, b))
        last = b
    if not spans:
        return text
    pieces.append(text[last:])
    dels.append(spans)
    return "".join(pieces)


def _map_positions(positions: list[int], spans: list[tuple[int, int]]) -> list[int]:
    """New index of each old position after deleting spans (sorted, disjoint)."""
    starts = [a for a, _ in spans]
    cum = [0]
    for a, b in spans:
        cum.append(cum[-1] + (b - a))
    out = []
    for p in positions:
        k = bisect_left(starts, p)  # spans with start < p
        removed = cum[k]
        if k:
            a, b = spans[k - 1]
            if b > p:
                removed -= b - p
        out.append(p - removed)
    return out


def _clean_block(raw: str, links: list) -> tuple[str, list]:
    """Whitespace and punctuation cleanup of one block; returns (text, [(s, e, target, frag)])."""
    text = _NONSPACE_WS_RE.sub(" ", raw)  # same length
    steps: list = []
    if "(" in text or "[" in text:
        for _ in range(4):
            n = len(steps)
            text = _delete(text, _EMPTY_GROUP_RE, steps)
            text = _delete(text, _PAREN_LEAD_RE, steps)
            text = _delete(text, _PAREN_TRAIL_RE, steps)
            if len(steps) == n:
                break
    if "," in text or ";" in text or ":" in text:
        text = _delete(text, _PUNCT_RE, steps)
    text = _delete(text, _SPACES_RE, steps)
    if not links:
        return text, []
    pos = []
    for s, e, _, _ in links:
        pos.append(s)
        pos.append(e)
    for spans in steps:
        pos = _map_positions(pos, spans)
    out = []
    last_end = 0
    for i, (_, _, target, frag) in enumerate(links):
        s, e = pos[2 * i], pos[2 * i + 1]
        while s < e and text[s] == " ":
            s += 1
        while e > s and text[e - 1] == " ":
            e -= 1
        if s < e and s >= last_end:
            out.append((s, e, target, frag))
            last_end = e
    return text, out


def _assemble(blocks: list[_Block]) -> CleanText:
    texts: list[str] = []
    paragraphs: list[Paragraph] = []
    links: list[WikiLink] = []
    pos = 0
    section, sec_level = "", 0
    for b in blocks:
        text, spans = _clean_block("".join(b.parts), b.links)
        if b.kind == "heading":
            section, sec_level = text, b.level
        if not text:
            continue
        if texts:
            pos += 2
        texts.append(text)
        level = b.level if b.kind == "heading" else sec_level
        paragraphs.append(Paragraph(pos, pos + len(text), b.kind, section, level))
        for s, e, target, frag in spans:
            links.append(WikiLink(text[s:e], target, frag, pos + s, pos + e))
        pos += len(text)
    return CleanText("\n\n".join(texts), tuple(paragraphs), tuple(links))


def _plain_fallback(wikitext: str) -> CleanText:
    """Treat the input as plain text: paragraphs at blank lines, no links."""
    blocks = []
    for chunk in re.split(r"\n[ \t\r]*\n", wikitext):
        b = _Block("text")
        b.parts.append(chunk)
        b.content = bool(chunk.strip())
        if b.content:
            blocks.append(b)
    return _assemble(blocks)


def parse_wikitext(wikitext: str) -> Wikicode | None:
    """The page's parse tree, as :func:`clean_wikitext` and the infobox reader need it; None where
    mwparserfromhell gives up (pathological nesting), and the cleaner falls back to plain text.

    ``skip_style_tags=True``: bold/italic quote runs stay text (removed in ``_Walker._text``).  Parsed as
    tags, one unbalanced italic can swallow a following </ref> or a whole table and leak markup into the
    text (seen on real pages: Aristotle, Azerbaijan, Alabama)."""
    try:
        return mwparserfromhell.parse(wikitext, skip_style_tags=True)
    except Exception:  # includes RecursionError on pathological nesting
        return None


def clean_wikitext(wikitext: str, namespaces: Namespaces | None = None, code: Wikicode | None = None) -> CleanText:
    """Convert a page's wikitext into clean text, paragraphs and article links.

    Removed: templates and parser functions, template parameters, comments, <ref>s,
    tables, math/gallery/score/timeline/... tags, magic words, file/media and category
    links, interlanguage links and unlabeled interwiki links, bare or unlabeled
    external links.  Kept as text: bold/italic and inline HTML contents, <nowiki>,
    entities (decoded; &nbsp; becomes a space), labels of external links, anchors of
    internal links (with link trails, pipe trick) and of links to other namespaces.
    A :class:`WikiLink` is emitted only for links into namespace 0 of this wiki.

    ``namespaces`` defaults to :meth:`Namespaces.english_default`; ``code`` is the page already parsed
    by :func:`parse_wikitext`.  Never raises: if parsing or walking fails the input is returned as plain
    text paragraphs.
    """
    try:
        if not isinstance(wikitext, str):
            wikitext = "" if wikitext is None else str(wikitext)
    except Exception:
        return CleanText("", (), ())
    ns = namespaces if namespaces is not None else Namespaces.english_default()
    try:
        code = code if code is not None else parse_wikitext(wikitext)
        if code is None:
            raise ValueError("unparsable wikitext")
        walker = _Walker(ns)
        walker.nodes(code.nodes)
        walker._finish()
        return _assemble(walker.blocks)
    except Exception:  # includes RecursionError on pathological nesting
        try:
            return _plain_fallback(wikitext)
        except Exception:
            return CleanText("", (), ())
