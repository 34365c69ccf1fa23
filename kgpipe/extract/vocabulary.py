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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Vocabulary:
    phrases: dict[str, str]
    symmetric: frozenset[str]
    prose: dict[tuple[str, str], Canonical]     # (surface predicate, object kind) -> property
    light: frozenset[str]
    properties: frozenset[str]

    def canonical(self, surface: str, object_type: str) -> Canonical | None:
        """The property ``surface`` states about an object of ``object_type``, or None."""
        return self.prose.get((surface, object_type))

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
    phrases, symmetric, prose, problems = {}, set(), {}, []
    for name, spec in (data.get("properties") or {}).items():
        spec = spec or {}
        if spec.get("phrase"):
            phrases[name] = str(spec["phrase"])
        if spec.get("symmetric"):
            symmetric.add(name)
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
    if problems:
        raise VocabularyError(f"{source}: " + "; ".join(problems))
    return Vocabulary(phrases, frozenset(symmetric), prose, frozenset(data.get("light") or ()),
                      frozenset((data.get("properties") or {})))
