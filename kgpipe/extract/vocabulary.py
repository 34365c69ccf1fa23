"""The one relation vocabulary (``kgpipe/data/vocabulary.yaml``): DBpedia ontology properties, how English
says each, and which predicates of the dependency patterns state it.

Extraction gives every prose triple its canonical ``predicate`` where the vocabulary maps its surface
predicate for its object's kind (the surface stays in ``surface_predicate``), turning it round where the
surface runs the other way ("Orwell write Animal Farm" -> ``author(Animal Farm, Orwell)``). An
entity-to-entity triple of a light predicate ("be", "have") becomes a ``light_predicate`` reject instead of
a fact, and question answering says a property with its phrase. Infobox facts carry the same properties
(kgpipe/ingest/infobox.py).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from kgpipe.errors import CommandError
from kgpipe.packaged import read_setting_file, yaml_mapping

EMBEDDED_VOCABULARY = "embedded:vocabulary"
OBJECT_KINDS = ("entity", "date", "number", "quantity", "string")
#: the property "be" with a class noun becomes: the subject's type (rdf:type)
TYPE = "type"


class VocabularyError(CommandError):
    pass


@dataclass(frozen=True)
class Canonical:
    """A surface predicate's property, and whether its subject is the property's object."""
    predicate: str
    inverse: bool = False


#: the types a class noun can give a named subject (``class_types``); other nouns give MISC
CLASS_ENTITY_TYPES = ("PERSON", "ORG", "LOC")
#: object kinds whose class can narrow a property: entities and noun phrases ("plays pop music": genre)
NARROWED_KINDS = ("entity", "string")
#: where the names of an object class come from (``source:`` in the vocabulary's ``object_classes``)
NAME_SOURCES = ("iso3166", "iso639-1")


def _name_key(text: str) -> str:
    """"the United States." and "United States" are one name."""
    return re.sub(r"^the\s+", "", " ".join(text.split()).strip(" .,;:").casefold())


@functools.lru_cache(maxsize=None)
def source_names(source: str) -> frozenset[str]:
    """Names of ISO 3166 countries (current and former: "Soviet Union" is DBpedia's country of facts about
    its time) or ISO 639-1 languages, as pycountry ships them, with the short and common forms it lists."""
    import pycountry
    if source == "iso3166":
        records = list(pycountry.countries) + list(pycountry.historic_countries)
        fields = ("name", "common_name", "official_name")
    else:
        records = [language for language in pycountry.languages if hasattr(language, "alpha_2")]
        fields = ("name", "common_name")
    names = set()
    for record in records:
        for name in (getattr(record, f, None) for f in fields):
            if name and "," not in name and "(" not in name:   # "Korea, Republic of" is no running-text name
                names.add(_name_key(name))
    return frozenset(names)


@dataclass(frozen=True)
class ObjectClass:
    """Objects of a class (countries, languages, parties) and the narrower properties DBpedia states about
    them: a property or surface predicate -> the property whose range is the class."""
    name: str
    names: frozenset[str]
    pattern: re.Pattern | None
    narrows: dict[str, str]

    def holds(self, text: str) -> bool:
        key = _name_key(text)
        return key in self.names or (self.pattern is not None and self.pattern.search(key) is not None)


@dataclass(frozen=True)
class Vocabulary:
    phrases: dict[str, str]
    symmetric: frozenset[str]
    prose: dict[tuple[str, str], Canonical]     # (surface predicate, object kind) -> property
    light: frozenset[str]
    properties: frozenset[str]
    object_classes: tuple[ObjectClass, ...] = field(default=())
    #: properties with one value per subject (owl:FunctionalProperty): a second value is a lesser reading
    functional: frozenset[str] = field(default=frozenset())
    #: class noun -> the entity type a definition by it gives a named subject (``class_types``)
    class_types: dict[str, str] = field(default_factory=dict)
    #: modifiers that make a relational noun another relation ("former capital of" is no "capital of")
    kept_modifiers: frozenset[str] = field(default=frozenset())
    #: (subject label, object label, property) -> the narrower property DBpedia states between such entities
    type_narrows: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: properties and surface predicates that hold of every part of an address (``along_addresses``)
    along_addresses: frozenset[str] = field(default=frozenset())

    def along_address(self, surface: str) -> bool:
        """Whether what ``surface`` states of a place also holds of the places that contain it: "located in
        Haputale, Sri Lanka" locates in Sri Lanka too."""
        found = self.prose.get((surface, "entity"))
        return surface in self.along_addresses or (found is not None and not found.inverse
                                                   and found.predicate in self.along_addresses)

    def class_type(self, noun: str) -> str | None:
        """The entity type of a named subject defined as a ``noun`` (a lemma): PERSON, ORG, LOC, or None
        for a noun of no list (a thing of another kind)."""
        noun = noun.lower()
        if noun in self.class_types:
            return self.class_types[noun]
        if (len(noun) >= 6 and noun.endswith("ist")) or noun.endswith("ician"):   # agent nouns
            return "PERSON"
        return None

    def canonical(self, surface: str, object_type: str, object_text: str | None = None,
                  labels: tuple[str, str] | None = None, subject_text: str | None = None) -> Canonical | None:
        """The property ``surface`` states about an object of ``object_type``, or None; with the object's
        text, narrowed where the object is of a class that has a narrower property ("located in" a
        country is ``country``, unless the subject, ``subject_text``, is of that class too), then with the
        entity labels of subject and object where DBpedia states
        a narrower property between such entities ("Abilene is in Texas", two GPEs, is ``isPartOf``)."""
        found = self.prose.get((surface, object_type))
        if object_text is None or object_type not in NARROWED_KINDS or (found is not None and found.inverse):
            return found
        keys = (found.predicate, surface) if found else (surface,)
        for object_class in self.object_classes:
            narrower = next((object_class.narrows[k] for k in keys if k in object_class.narrows), None)
            # a country lies in no other country: "the Netherlands" listed after "from the United States"
            if narrower and object_class.holds(object_text) and not (subject_text and object_class.holds(subject_text)):
                return Canonical(narrower)
        if found is not None and labels is not None and (*labels, found.predicate) in self.type_narrows:
            return Canonical(self.type_narrows[(*labels, found.predicate)])
        return found

    def object_class(self, name: str) -> ObjectClass | None:
        return next((c for c in self.object_classes if c.name == name), None)

    def maps(self, surface: str) -> bool:
        """Whether the vocabulary maps ``surface`` for some kind of object."""
        return any((surface, kind) in self.prose for kind in OBJECT_KINDS)

    def is_light(self, predicate: str) -> bool:
        return predicate in self.light


@functools.lru_cache(maxsize=4)
def load_vocabulary(setting: str = EMBEDDED_VOCABULARY) -> Vocabulary:
    """The packaged vocabulary (``embedded:vocabulary``) or a YAML file of the same form, read once per
    process (every Spark worker and the service use it)."""
    return parse_vocabulary(*read_setting_file(setting, EMBEDDED_VOCABULARY, "vocabulary.yaml", "vocabulary",
                                               "extract.vocabulary", VocabularyError))


def parse_vocabulary(text: str, source: str = "") -> Vocabulary:
    data = yaml_mapping(text, source, VocabularyError)
    phrases, symmetric, functional, prose, problems = {}, set(), set(), {}, []
    for name, spec in (data.get("properties") or {}).items():
        spec = spec or {}
        if spec.get("phrase"):
            phrases[name] = str(spec["phrase"])
        if spec.get("symmetric"):
            symmetric.add(name)
        if spec.get("functional"):
            functional.add(name)
        for kind, surfaces in (spec.get("prose") or {}).items():
            if kind not in OBJECT_KINDS:
                problems.append(f"{name}: unknown object kind {kind!r} (one of {', '.join(OBJECT_KINDS)})")
                continue
            for surface in surfaces or ():
                inverse = surface.startswith("~")
                key = (surface.lstrip("~").strip(), kind)
                if inverse and kind != "entity":
                    problems.append(f"{name}: '~{key[0]}' turns a {kind} round: only entity objects can be subjects")
                elif key in prose and prose[key].predicate != name:
                    problems.append(f"{key[0]!r} ({kind}) is both {prose[key].predicate} and {name}")
                else:
                    prose[key] = Canonical(name, inverse)
    properties = frozenset(data.get("properties") or {})
    object_classes = tuple(_object_class(name, spec or {}, properties, problems)
                           for name, spec in (data.get("object_classes") or {}).items())
    class_types: dict[str, str] = {}
    for entity_type, nouns in (data.get("class_types") or {}).items():
        if entity_type not in CLASS_ENTITY_TYPES:
            problems.append(f"class_types: unknown type {entity_type!r} (one of {', '.join(CLASS_ENTITY_TYPES)})")
        for noun in nouns or ():
            noun = str(noun).lower()
            if class_types.get(noun, entity_type) != entity_type:
                problems.append(f"class_types: {noun!r} is both {class_types[noun]} and {entity_type}")
            class_types[noun] = entity_type
    type_narrows = _type_narrows(data.get("type_narrows") or (), properties, problems)
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return Vocabulary(phrases, frozenset(symmetric), prose, frozenset(data.get("light") or ()), properties,
                      object_classes, frozenset(functional), class_types,
                      frozenset(str(m).lower() for m in data.get("kept_modifiers") or ()),
                      type_narrows, frozenset(str(p) for p in data.get("along_addresses") or ()))


def _type_narrows(specs, properties: frozenset[str], problems: list[str]) -> dict[tuple[str, str, str], str]:
    out = {}
    for spec in specs:
        if not isinstance(spec, dict) or not spec.get("subject") or not spec.get("object"):
            problems.append(f"type_narrows: {spec!r} is no {{subject: LABEL, object: LABEL, narrows: {{...}}}}")
            continue
        for wider, narrower in (spec.get("narrows") or {}).items():
            if narrower not in properties or wider not in properties:
                problems.append(f"type_narrows: {wider!r} -> {narrower!r} names no property of the vocabulary")
            out[(str(spec.get("subject")), str(spec.get("object")), str(wider))] = str(narrower)
    return out


def _object_class(name: str, spec: dict, properties: frozenset[str], problems: list[str]) -> ObjectClass:
    names = {_name_key(str(n)) for n in spec.get("names") or ()}
    source = spec.get("source")
    if source is not None and source not in NAME_SOURCES:
        problems.append(f"object class {name}: unknown source {source!r} (one of {', '.join(NAME_SOURCES)})")
    elif source is not None:
        names |= source_names(source)
    pattern = None
    if spec.get("pattern"):
        try:
            pattern = re.compile(str(spec["pattern"]))
        except re.error as error:
            problems.append(f"object class {name}: pattern {spec['pattern']!r}: {error}")
    narrows = {str(k): str(v) for k, v in (spec.get("narrows") or {}).items()}
    problems.extend(f"object class {name}: {k!r} narrows to {v!r}, which is no property of the vocabulary"
                    for k, v in narrows.items() if v not in properties)
    return ObjectClass(name, frozenset(names), pattern, narrows)
