"""Infobox facts, the way DBpedia's mapping-based extraction reads them: template -> class, parameter ->
property of one vocabulary (the DBpedia ontology's names), value -> typed items.

Why in ingest: ingest is the only stage that sees a page's raw wikitext (``documents`` keeps the
cleaned text), and it parses it with mwparserfromhell already; the extract stage turns the rows into
facts with provenance like any other evidence.

The mappings (``kgpipe/data/infobox-mappings.yaml``, or the file ``ingest.infobox_mappings`` names) say
which templates are which class and which parameter is which property with which kind of value (the
file's header documents them). For every infobox on a page, every non-empty parameter becomes one or
more rows, each with a ``status``:

* ``fact``: a mapped parameter's item read as its kind: an entity (the title a link names), a date
  (ISO ``1947-04-01``, ``1947-04``, ``1947``, or ``384 BC``), a year, a number, a quantity with its
  unit, or a string;
* ``unmapped``: no property for the parameter (DBpedia's generic ``dbp:`` properties): kept raw;
* ``unlinked``: an entity parameter's item that names no page (plain text without a link);
* ``unreadable``: a value its kind's parser cannot read: kept raw, never guessed;
* ``extra``: a further item of a date, year, number or quantity, which a property holds once
  (``April 19, 1775 – September 3, 1783`` is one date, the first): kept, not a fact.

Lists (``<br />``, ``*`` lines, ``{{hlist}}``, ``{{plainlist}}``, ``{{ubl}}`` and kin) give one item
each, and so do the parts of an item separated by commas, semicolons or "and"
(``[[Ulm]], [[Kingdom of Württemberg]]``). Of each part only the first link counts: the links after
it qualify it (``[[Central Time Zone|Central]]: [[UTC]] [[UTC−06:00|−6]]`` is one time zone), and so
do links inside parentheses (``[[Robert Bentley]] ([[Republican Party (United States)|R]])`` names one
governor). Plain text in an entity parameter names no page for certain, so it is ``unlinked``, not
matched against the page's other links by its anchor text: on the English sample that guessed wrong
as often as right ("English" -> English American, "Politics" -> Politics (Aristotle)).
References, comments and notes are removed first.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import mwparserfromhell
from mwparserfromhell.nodes import Comment, Tag, Template, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

from kgpipe.dates import date_from_text, iso_date
from kgpipe.errors import CommandError
from kgpipe.ingest.wikitext import Namespaces, normalize_title
from kgpipe.packaged import read_setting_file, yaml_mapping

EMBEDDED_MAPPINGS = "embedded:infobox-mappings"
KINDS = ("entity", "date", "year", "number", "quantity", "string")
FACT, UNMAPPED, UNLINKED, UNREADABLE, EXTRA = "fact", "unmapped", "unlinked", "unreadable", "extra"
#: kinds of value a property holds once: a parameter's first such item is the fact
SINGLE_VALUED = frozenset({"date", "year", "number", "quantity"})
#: raw values are kept in the table up to this length (the whole value stays in the dump)
MAX_RAW_CHARS = 1000

#: templates whose content is the value itself: their items are their positional parameters
LIST_TEMPLATES = frozenset({"hlist", "plainlist", "flatlist", "ubl", "unbulleted list", "unbulleted", "vunblist",
                            "bulleted list", "blist", "bulleted", "ordered list", "collapsible list", "plain list",
                            "flat list", "cslist", "pagelist", "enum"})
#: wrappers of their content: unwrapped in place; the content is their last positional parameter, or the one
#: this names ({{marriage|[[Mary Todd]]|1842|1865}}, {{nihongo|English|kanji|romaji}})
WRAPPER_TEMPLATES = frozenset({"nowrap", "longitem", "small", "big", "nobold", "noitalic", "nobr", "resize",
                               "center", "centre", "smaller", "larger", "nowrap begin", "lang", "native name",
                               "transl", "transliteration", "nihongo", "abbr", "tooltip", "sic", "nobreak",
                               "raise", "sup", "sub", "font", "color", "colored", "marriage", "married",
                               "spouse", "nowrap end", "nobold", "avoid wrap", "no wrap"})
CONTENT_PARAMETER = {"marriage": 0, "married": 0, "spouse": 0, "nihongo": 0, "abbr": 0, "tooltip": 0}
#: templates that separate list items ({{·}}, {{•}}, {{br}})
SEPARATOR_TEMPLATES = frozenset({"·", "•", "dot", "middot", "bull", "bullet", "br", "break", "snds", "spaced ndash",
                                 "spaced en dash", "ndash", "-"})
#: notes and citations inside values: dropped
NOTE_TEMPLATES = frozenset({"efn", "efn-ua", "efn-lr", "refn", "sfn", "sfnp", "harvnb", "cn", "citation needed",
                            "fact", "dubious", "clarify", "when", "who", "which", "by whom", "nbsp", "ref label",
                            "note label", "update after", "as of", "circa", "c.", "flagicon", "flag icon",
                            "increase", "decrease", "steady", "nts"})
#: date templates: {{birth date|1947|4|1}} and kin give year, month, day as their first positional values
DATE_TEMPLATES = frozenset({"birth date", "birth date and age", "death date", "death date and age", "start date",
                            "start date and age", "end date", "end date and age", "dob", "bda", "dda", "film date",
                            "release date", "start and end dates", "birth year and age", "death year and age",
                            "birth year", "death year", "date", "dts", "start-date", "end-date", "birth-date",
                            "death-date", "birth-date and age", "death-date and age"})
_NUMBER = re.compile(r"^[~≈c.\s]*(?P<n>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?\s*(?P<scale>million|billion|trillion)?"
                     r"\b", re.IGNORECASE)
_SCALE = {"million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
_UNIT = re.compile(r"^\s*(?P<unit>km2|km²|sq mi|mi2|mi²|km|mi|m|ft|kg|lb|cm|in|minutes|min|hours|h|years|"
                   r"US\$|\$|€|£|million|billion)", re.IGNORECASE)
_CURRENCY = re.compile(r"^\s*(?P<cur>US\$|\$|€|£)\s*")
_PARAM_NUMBER = re.compile(r"(?<=[^\W\d_])\d+$")
_SEPARATORS = re.compile(r"\s*(?:<br\s*/?>|\n\s*[*#]\s*|\n)\s*", re.IGNORECASE)
_PART_SEPARATORS = re.compile(r"(\s*[,;&]\s*|\s+and\s+)")


class MappingError(CommandError):
    pass


@dataclass(frozen=True)
class Property:
    predicate: str
    kind: str
    #: a quantity's unit when the value states none (``TotalArea`` of Infobox U.S. state is in km2)
    unit: str | None = None


@dataclass(frozen=True)
class Mappings:
    """Templates -> classes -> (entity type, parent), and class -> parameter -> :class:`Property`."""
    templates: Mapping[str, str]
    types: Mapping[str, str | None]
    parents: Mapping[str, str | None]
    properties: Mapping[str, Mapping[str, Property]]
    source: str = ""

    def class_of(self, template: str) -> str | None:
        return self.templates.get(template_key(template))

    def entity_type(self, cls: str | None) -> str | None:
        while cls is not None:
            if self.types.get(cls):
                return self.types[cls]
            cls = self.parents.get(cls)
        return None

    def property(self, cls: str | None, parameter: str) -> Property | None:
        """The property of ``parameter`` for ``cls`` or the nearest ancestor that maps it; a parameter
        repeated with a number (``leader_name1``) is the parameter without it unless mapped as it is."""
        key = parameter_key(parameter)
        for candidate in dict.fromkeys((key, _PARAM_NUMBER.sub("", key))):
            ancestor = cls
            while ancestor is not None:
                found = self.properties.get(ancestor, {}).get(candidate)
                if found is not None:
                    return found
                ancestor = self.parents.get(ancestor)
        return None


def template_key(name: str) -> str:
    """``Infobox_U.S._state <!-- c -->`` -> ``infobox u.s. state``."""
    name = re.sub(r"<!--.*?-->", "", name, flags=re.S)
    name = name.split(":", 1)[1] if name.lower().lstrip().startswith("template:") else name
    return " ".join(name.replace("_", " ").split()).casefold()


def parameter_key(name: str) -> str:
    """``Largest_City`` -> ``largestcity``: case, spaces, underscores and hyphens do not count (``largest_city``
    of Infobox country is ``LargestCity`` of Infobox U.S. state)."""
    return "".join(str(name).replace("_", " ").replace("-", " ").split()).casefold()


@functools.lru_cache(maxsize=4)
def load_mappings(setting: str = EMBEDDED_MAPPINGS) -> Mappings:
    """The packaged mappings (``embedded:infobox-mappings``) or a YAML file of the same form (read once per
    process: every page of a worker uses them)."""
    return parse_mappings(*read_setting_file(setting, EMBEDDED_MAPPINGS, "infobox-mappings.yaml", "infobox mappings",
                                             "ingest.infobox_mappings", MappingError))


def parse_mappings(text: str, source: str = "") -> Mappings:
    data = yaml_mapping(text, source, MappingError)
    classes = data.get("classes") or {}
    problems = []
    templates = {template_key(t): c for t, c in (data.get("templates") or {}).items()}
    problems += [f"template {t!r} names unknown class {c!r}" for t, c in templates.items() if c not in classes]
    parents = {c: (spec or {}).get("parent") for c, spec in classes.items()}
    problems += [f"class {c!r} has unknown parent {p!r}" for c, p in parents.items() if p and p not in classes]
    properties: dict[str, dict[str, Property]] = {}
    for cls, params in (data.get("properties") or {}).items():
        if cls not in classes:
            problems.append(f"properties of unknown class {cls!r}")
            continue
        for name, spec in (params or {}).items():
            if not (isinstance(spec, list) and len(spec) in (2, 3) and spec[1] in KINDS):
                problems.append(f"{cls}.{name}: expected [predicate, kind(, unit)] with kind one of {KINDS}, "
                                f"got {spec!r}")
                continue
            properties.setdefault(cls, {})[parameter_key(name)] = Property(*(str(part) for part in spec))
    if problems:
        raise MappingError(f"{source}: " + "; ".join(problems))
    return Mappings(templates, {c: (spec or {}).get("type") for c, spec in classes.items()}, parents, properties,
                    source)


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class InfoboxRow:
    """One item of one parameter of one infobox (see the module docstring for ``status``)."""
    template: str
    infobox_class: str | None
    entity_type: str | None
    parameter: str
    parameter_index: int          # position of the parameter among the page's infobox parameters
    item_index: int
    raw_value: str
    status: str
    predicate: str | None = None
    value: str | None = None      # the item as text (an entity's anchor text, an ISO date, a number)
    value_type: str | None = None  # entity, date, number, quantity, string
    target_title: str | None = None
    detail: str | None = None


def is_infobox(template: Template) -> bool:
    return template_key(str(template.name)).startswith("infobox")


def infobox_rows(code: Wikicode | str, mappings: Mappings, namespaces: Namespaces | None = None
                 ) -> list[InfoboxRow]:
    """Rows of every infobox of a page (its top-level ``{{Infobox ...}}`` templates). Never raises on bad
    markup: what cannot be read becomes an ``unreadable`` row."""
    if isinstance(code, str):
        code = mwparserfromhell.parse(code, skip_style_tags=True)
    namespaces = namespaces or Namespaces({})
    rows: list[InfoboxRow] = []
    position = 0
    for template in code.filter_templates(recursive=False):
        if not is_infobox(template):
            continue
        name = template_key(str(template.name))
        cls = mappings.class_of(name)
        etype = mappings.entity_type(cls)
        values = {parameter_key(p.name): p.value for p in template.params}
        for param in template.params:
            value = _without_notes(param.value)
            raw = " ".join(str(value).split())
            if not raw:
                continue
            prop = mappings.property(cls, str(param.name))
            head = InfoboxRow(name, cls, etype, str(param.name).strip(), position, 0, raw[:MAX_RAW_CHARS], UNMAPPED)
            position += 1
            if prop is None:
                rows.append(head)
                continue
            if prop.kind == "entity" and raw.casefold() == "capital" and "capital" in values:
                value = _without_notes(values["capital"])   # Infobox country: "largest_city = capital"
            rows.extend(_items(head, prop, value, namespaces))
    return rows


def _items(head: InfoboxRow, prop: Property, value: Wikicode, namespaces: Namespaces) -> Iterator[InfoboxRow]:
    found = facts = False
    for index, item in enumerate(split_items(value)):
        for row in _read_item(prop, item, namespaces):
            found = True
            if row["status"] == FACT and prop.kind in SINGLE_VALUED:
                if facts:
                    row = {**row, "status": EXTRA, "detail": f"a further {prop.kind}: the property holds one"}
                facts = True
            yield _with(head, index, row)
    if not found:
        yield _with(head, 0, {"status": UNREADABLE, "predicate": prop.predicate,
                              "detail": f"no {prop.kind} in the value"})


def _with(head: InfoboxRow, index: int, fields: dict) -> InfoboxRow:
    return InfoboxRow(**{**head.__dict__, "item_index": index, **fields})


def _read_item(prop: Property, item: Wikicode, namespaces: Namespaces) -> list[dict]:
    text = plain_text(item)
    if not text and not item.filter_wikilinks() and not item.filter_templates():
        return []
    if prop.kind == "entity":
        return _entities(prop, item, text, namespaces)
    parsed = PARSERS[prop.kind](item, text)
    if parsed is not None and prop.kind == "quantity" and prop.unit and " " not in parsed:
        parsed = f"{parsed} {prop.unit}"
    if parsed is None:
        return [{"status": UNREADABLE, "predicate": prop.predicate, "value": text or None,
                 "detail": f"not a {prop.kind}"}]
    value_type = "date" if prop.kind == "year" else prop.kind
    return [{"status": FACT, "predicate": prop.predicate, "value": parsed, "value_type": value_type}]


def _entities(prop: Property, item: Wikicode, text: str, namespaces: Namespaces) -> list[dict]:
    out = []
    for part in split_parts(item):
        links = top_level_links(part, namespaces)
        part_text = plain_text(part)
        if links:
            link = links[0]
            anchor = plain_text(link.text) if link.text is not None else plain_text(link.title)
            out.append({"status": FACT, "predicate": prop.predicate, "value": anchor or None,
                        "value_type": "entity", "target_title": normalize_title(str(link.title))})
        elif part_text:
            out.append({"status": UNLINKED, "predicate": prop.predicate, "value": part_text,
                        "detail": "no link names it"})
    return out


# --------------------------------------------------------------------------- markup


def _without_notes(value: Wikicode) -> Wikicode:
    """A copy of the value without references, comments and note templates."""
    value = mwparserfromhell.parse(str(value), skip_style_tags=True)
    for node in list(value.filter(recursive=True, forcetype=(Tag, Comment, Template))):
        try:
            if isinstance(node, Comment):
                value.remove(node)
            elif isinstance(node, Tag) and str(node.tag).lower() in ("ref", "references"):
                value.remove(node)
            elif isinstance(node, Template) and template_key(str(node.name)) in NOTE_TEMPLATES:
                value.remove(node)
        except ValueError:   # already gone with an enclosing node
            continue
    return value


def split_items(value: Wikicode) -> list[Wikicode]:
    """The list items of a value: list templates' parameters, ``<br />`` and ``*``/newline lines."""
    items: list[Wikicode] = []
    pending: list[str] = []

    def flush() -> None:
        text = "".join(pending)
        pending.clear()
        for part in _SEPARATORS.split(text):
            if part.strip(" ,;*"):
                items.append(mwparserfromhell.parse(part, skip_style_tags=True))

    for node in value.nodes:
        if isinstance(node, Template) and template_key(str(node.name)) in LIST_TEMPLATES:
            flush()
            for param in node.params:
                if param.showkey and not str(param.name).strip().isdigit():
                    continue   # class=, style=, list_style= ...
                items.extend(split_items(param.value))
        elif isinstance(node, Template) and template_key(str(node.name)) in WRAPPER_TEMPLATES:
            content = wrapped(node)
            if content is not None:
                pending.append(str(content))   # in place: {{nowrap|[[Unitary state|Unitary]]}} [[republic]]
        elif isinstance(node, Template) and template_key(str(node.name)) in SEPARATOR_TEMPLATES:
            pending.append("\n")
        elif isinstance(node, Tag) and str(node.tag).lower() == "br":
            pending.append("\n")
        else:
            pending.append(str(node))
    flush()
    return items


def split_parts(item: Wikicode) -> list[Wikicode]:
    """An item cut at the commas, semicolons, "and"s and ampersands outside parentheses and links."""
    parts: list[list] = [[]]
    depth = 0
    for node in item.nodes:
        if not isinstance(node, Text):
            parts[-1].append(str(node))
            continue
        for piece in _PART_SEPARATORS.split(node.value):
            if _PART_SEPARATORS.fullmatch(piece) and depth == 0:
                parts.append([])
                continue
            depth = max(0, depth + piece.count("(") - piece.count(")"))
            parts[-1].append(piece)
    return [mwparserfromhell.parse("".join(part), skip_style_tags=True) for part in parts if "".join(part).strip()]


def wrapped(template: Template) -> Wikicode | None:
    """The content of a wrapper template (see :data:`CONTENT_PARAMETER`), or None when it has none."""
    positional = [p for p in template.params if not p.showkey]
    if not positional:
        return None
    index = CONTENT_PARAMETER.get(template_key(str(template.name)), -1)
    return positional[index].value


def top_level_links(item: Wikicode, namespaces: Namespaces) -> list[Wikilink]:
    """Article links of an item that are not inside parentheses (those qualify the item)."""
    depth = 0
    out = []
    for node in item.nodes:
        if isinstance(node, Text):
            depth = max(0, depth + node.value.count("(") - node.value.count(")"))
        elif isinstance(node, Wikilink) and depth == 0 and _is_article(str(node.title), namespaces):
            out.append(node)
        elif isinstance(node, Template) and depth == 0 and template_key(str(node.name)) in WRAPPER_TEMPLATES:
            content = wrapped(node)
            if content is not None:
                out.extend(top_level_links(content, namespaces))
    return out


def _is_article(title: str, namespaces: Namespaces) -> bool:
    title = title.strip()
    if not title or title.startswith("#") or any(c in title for c in "<>[]{}|"):
        return False
    return namespaces.namespace_of(title)[0] == 0


def plain_text(code: Wikicode | None) -> str:
    """The visible text of a value: links as their anchor text, wrappers unwrapped, other templates and
    tags dropped, whitespace collapsed."""
    if code is None:
        return ""
    parts: list[str] = []
    for node in code.nodes:
        if isinstance(node, Text):
            parts.append(node.value)
        elif isinstance(node, Wikilink):
            parts.append(plain_text(node.text) if node.text is not None else str(node.title).split("|")[0])
        elif isinstance(node, Template):
            name = template_key(str(node.name))
            positional = [p for p in node.params if not p.showkey]
            if name in WRAPPER_TEMPLATES and positional:
                parts.append(plain_text(wrapped(node)))
            elif name == "convert" and positional:
                parts.append(" ".join(str(p.value).strip() for p in positional[:2]))
            elif name in ("formatnum", "format number") or name.startswith("formatnum:"):
                parts.append(name.split(":", 1)[1] if ":" in name else plain_text(positional[0].value))
        elif isinstance(node, Tag) and node.contents is not None and str(node.tag).lower() not in ("ref", "sup"):
            parts.append(plain_text(node.contents))
        elif isinstance(node, Tag) and str(node.tag).lower() == "br":
            parts.append(" ")
    text = "".join(parts).replace("&nbsp;", " ").replace("\u00a0", " ")
    text = re.sub(r"'{2,}", "", text)
    return " ".join(text.split()).strip(" ,;")


# --------------------------------------------------------------------------- value parsers


def parse_date(item: Wikicode, text: str) -> str | None:
    """ISO ``YYYY-MM-DD`` / ``YYYY-MM`` / ``YYYY`` (or ``N BC``) of the first date the item states."""
    for template in item.filter_templates(recursive=True):
        if template_key(str(template.name)) in DATE_TEMPLATES:
            parts = [str(p.value).strip() for p in template.params if not p.showkey][:3]
            found = _date_from_parts(parts)
            if found:
                return found
    return date_from_text(text)


def _date_from_parts(parts: list[str]) -> str | None:
    if parts and not parts[0].isdigit():
        return date_from_text(parts[0])   # {{birth-date|1 April 1947}}
    numbers = [int(p) for p in parts if p.isdigit()]
    if not numbers:
        return None
    return iso_date(*numbers[:3])


def parse_year(item: Wikicode, text: str) -> str | None:
    found = parse_date(item, text)
    return found[:4] if found and found[:4].isdigit() else None


def parse_number(item: Wikicode, text: str) -> str | None:
    """The leading number: ``4,858,979 (2015 est.)`` -> ``4858979``; ``2.3 million`` -> ``2300000``."""
    m = _NUMBER.match(text.replace("\u00a0", " "))
    if not m:
        return None
    value = float(m["n"].replace(",", "") + (m["frac"] or ""))
    if m["scale"]:
        value *= _SCALE[m["scale"].lower()]
    return str(int(value)) if value == int(value) else str(value)


def parse_quantity(item: Wikicode, text: str) -> str | None:
    """A number with its unit when one follows (``135765 km2``, ``$40,489``, ``112 minutes``)."""
    currency = _CURRENCY.match(text)
    rest = text[currency.end():] if currency else text
    number = parse_number(item, rest)
    if number is None:
        return None
    if currency:
        return f"{number} {currency['cur']}"
    m = _NUMBER.match(rest)
    unit = _UNIT.match(rest[m.end():]) if m else None
    return f"{number} {unit['unit']}" if unit else number


def parse_string(item: Wikicode, text: str) -> str | None:
    return text or None


PARSERS = {"date": parse_date, "year": parse_year, "number": parse_number, "quantity": parse_quantity,
           "string": parse_string}


@dataclass
class InfoboxCounts:
    """Accounting of one page's or one input's infobox parameters: every one seen ends in exactly one of
    ``facts`` (at least one item read), ``unmapped``, ``unlinked`` or ``unreadable`` (none read)."""
    seen: int = 0
    facts: int = 0
    unmapped: int = 0
    unlinked: int = 0
    unreadable: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, rows: Iterable[InfoboxRow]) -> None:
        per_parameter: dict[tuple[str, int], set[str]] = {}
        for row in rows:
            per_parameter.setdefault((row.template, row.parameter_index), set()).add(row.status)
            self.by_status[row.status] = self.by_status.get(row.status, 0) + 1
        for statuses in per_parameter.values():
            self.seen += 1
            if FACT in statuses:
                self.facts += 1
            elif UNMAPPED in statuses:
                self.unmapped += 1
            elif UNLINKED in statuses:
                self.unlinked += 1
            else:
                self.unreadable += 1
