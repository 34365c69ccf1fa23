"""Engine-free rule-based reasoning: the rule format, its semantics, and a reference evaluator.

The Spark stage (``jobs/reason.py``) applies these rules to the ``edges`` table at scale;
:func:`evaluate` is the same semantics in plain Python, small enough to read, used by the
tests as the reference the Spark job must agree with.

Rule files
----------
A YAML mapping with one key, ``rules``: a list of rules, each with a unique ``name``, the
``rule`` itself, and an optional free-text ``description``::

    rules:
      - name: born_in_located
        rule: "birthPlace(x, y), location(y, z) -> birthPlace(x, z)"
        description: someone born in a city is born in the region that holds the city

A rule is ``premises -> conclusion``; each atom is ``predicate(variable, variable)``.
Predicates are the vocabulary's properties (``birthPlace``, kgpipe/data/vocabulary.yaml) or the
extractor's phrases, which may contain spaces ("born in", "ceo of"); phrases are compared after
lowercasing and collapsing whitespace, property names as written. Variables are
identifiers; only their positions matter. ``embedded:rules`` names the packaged default
file ``kgpipe/data/rules.yaml``; any other setting is a file path.

Kinds (the shape of a rule decides its kind; any other shape is an error)
-------------------------------------------------------------------------
==========  ======================================  ===============================================
kind        shape                                   reads
==========  ======================================  ===============================================
implies     ``p(x, y) -> q(x, y)``                  every p fact is also a q fact
inverse     ``p(x, y) -> q(y, x)``                  q is p read backwards
symmetric   ``p(x, y) -> p(y, x)``                  p holds both ways
transitive  ``p(x, y), p(y, z) -> p(x, z)``         p chains
compose     ``p(x, y), q(y, z) -> r(x, z)``         two-hop path, any predicates not all the same
==========  ======================================  ===============================================

Semantics
---------
* Premises are entity-to-entity edges (``object_id`` not null) with ``confidence >=
  min_confidence``, and earlier inferences passing the same threshold.
* Evaluation runs in rounds. Round *d* derives the facts of depth *d*: every premise
  combination with at least one premise of depth *d - 1* (extracted edges have depth 0)
  and none deeper. Rounds stop at ``max_depth`` or when one derives nothing (the
  fixpoint). When ``max_depth`` rounds all derived something, one more round is
  evaluated only to count what it would add (``pending_beyond_max_depth``); the
  fixpoint counts as reached when that is 0.
* A fact is its key ``(subject_id, predicate, object_id)``. An inference whose key is an
  extracted edge (at any confidence) or an earlier inference is dropped; so is one
  whose subject and object are the same entity (it can only come from a cycle). Of
  several derivations of a new key in one round the one with the highest confidence
  wins, then the smallest rule name, then the smallest ``supporting_edge_ids``.
* Confidence is the product of the premise confidences. ``supporting_edge_ids`` are the
  ids of the premises in the order the rule lists them; an id may be that of an
  earlier inference, whose own row explains it in turn.
* Fan-out: in a two-premise rule the premises meet at the shared entity ``y``. A ``y``
  where more than ``max_fanout`` first premises end or more than ``max_fanout`` second
  premises start is skipped for that rule in that round; it is reported (as one key per
  rule, however many rounds skip it) when the round would have joined something there:
  both sides present and one premise from the previous round. Without the limit a hub
  multiplies into a quadratic number of inferences (every city of a country joined with
  every region that holds the country).
* The id of an inferred fact is :func:`inferred_edge_id` of its key.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kgpipe.config import ReasonConfig
from kgpipe.errors import CommandError
from kgpipe.extract.text import is_property
from kgpipe.ids import stable_id
from kgpipe.packaged import read_setting_file, yaml_mapping

__all__ = [
    "EMBEDDED_RULES",
    "ID_NAMESPACE",
    "KINDS",
    "Inference",
    "Reasoning",
    "Rule",
    "RuleError",
    "evaluate",
    "inferred_edge_id",
    "load_rules",
    "parse_rules",
]

EMBEDDED_RULES = "embedded:rules"
KINDS = ("implies", "inverse", "symmetric", "transitive", "compose")
#: first part of every inferred edge id, so that it never equals an extracted edge's id
ID_NAMESPACE = "inferred"
#: kinds whose conclusion swaps subject and object
SWAPPING = frozenset({"inverse", "symmetric"})
_RULE_KEYS = {"name", "rule", "description"}
_ATOM = re.compile(r"\s*(?P<predicate>[^(),]+?)\s*\(\s*(?P<subject>[A-Za-z_]\w*)\s*,"
                   r"\s*(?P<object>[A-Za-z_]\w*)\s*\)\s*")
_SHAPES = "p(x, y) -> q(x, y) | q(y, x); p(x, y), q(y, z) -> r(x, z)"


class RuleError(CommandError, ValueError):
    """A rule file that cannot be read or a rule that is not one of the kinds; says which and why."""


class _Problem(Exception):
    pass


class Atom(NamedTuple):
    predicate: str
    subject: str
    object: str


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    body: tuple[str, ...]  # premise predicates, in the rule's order
    head: str
    description: str = ""

    @property
    def text(self) -> str:
        """The rule in canonical form."""
        if len(self.body) == 1:
            conclusion = "(y, x)" if self.kind in SWAPPING else "(x, y)"
            return f"{self.body[0]}(x, y) -> {self.head}{conclusion}"
        return f"{self.body[0]}(x, y), {self.body[1]}(y, z) -> {self.head}(x, z)"


def normalize_predicate(text: str) -> str:
    """Whitespace collapsed; a phrase lowercased ("Born In" -> "born in"), a property name kept as written
    ("birthPlace": the vocabulary's names are case-sensitive)."""
    text = " ".join(text.split())
    return text if is_property(text) else text.lower()


def inferred_edge_id(subject_id: str, predicate: str, object_id: str) -> str:
    return stable_id(ID_NAMESPACE, subject_id, predicate, object_id)


# --------------------------------------------------------------------------- parsing


def _atoms(text: str, part: str) -> list[Atom]:
    atoms, position = [], 0
    while True:
        match = _ATOM.match(text, position)
        if match is None:
            raise _Problem(f"cannot read the {part} at {text[position:].strip()!r}: expected 'predicate(x, y)'")
        atoms.append(Atom(normalize_predicate(match["predicate"]), match["subject"], match["object"]))
        position = match.end()
        if position == len(text):
            return atoms
        if text[position] != ",":
            raise _Problem(f"expected ',' between premises at {text[position:].strip()!r}")
        position += 1


def _classify(body: list[Atom], head: Atom) -> tuple[str, tuple[str, ...]]:
    for atom in (*body, head):
        if atom.subject == atom.object:
            raise _Problem(f"{atom.predicate}({atom.subject}, {atom.object}) uses one variable twice")
    if len(body) == 1:
        (premise,) = body
        if {head.subject, head.object} != {premise.subject, premise.object}:
            raise _Problem("the conclusion must use the premise's two variables")
        if head.subject == premise.subject:
            if head.predicate == premise.predicate:
                raise _Problem("the conclusion repeats the premise")
            return "implies", (premise.predicate,)
        return ("symmetric" if head.predicate == premise.predicate else "inverse"), (premise.predicate,)
    if len(body) != 2:
        raise _Problem(f"{len(body)} premises: a rule has one or two")
    first, second = body
    if first.object != second.subject or second.object in (first.subject, first.object):
        raise _Problem("two premises must chain: the second starts where the first ends, "
                       "as in p(x, y), q(y, z)")
    if (head.subject, head.object) != (first.subject, second.object):
        raise _Problem(f"the conclusion of p({first.subject}, {first.object}), q({second.subject}, "
                       f"{second.object}) must be r({first.subject}, {second.object})")
    same = first.predicate == second.predicate == head.predicate
    return ("transitive" if same else "compose"), (first.predicate, second.predicate)


def _rule(entry: Any, index: int, source: str) -> Rule:
    if not isinstance(entry, Mapping):
        raise RuleError(f"{source}: rule #{index + 1} is not a mapping with 'name' and 'rule'")
    name = entry.get("name")
    label = f"rule {name!r}" if isinstance(name, str) and name.strip() else f"rule #{index + 1}"
    try:
        if not isinstance(name, str) or not name.strip():
            raise _Problem("needs a 'name' (a non-empty string)")
        unknown = set(entry) - _RULE_KEYS
        if unknown:
            raise _Problem(f"unknown keys {sorted(map(str, unknown))}; a rule has {sorted(_RULE_KEYS)}")
        text, description = entry.get("rule"), entry.get("description", "")
        if not isinstance(text, str) or not text.strip():
            raise _Problem("needs a 'rule' string such as 'p(x, y), q(y, z) -> r(x, z)'")
        if not isinstance(description, str):
            raise _Problem("'description' must be a string")
        try:
            parts = text.split("->")
            if len(parts) != 2:
                raise _Problem(f"{text!r} needs exactly one '->' between premises and conclusion")
            body = _atoms(parts[0], "premises")
            conclusion = _atoms(parts[1], "conclusion")
            if len(conclusion) != 1:
                raise _Problem("the conclusion is one atom")
            kind, predicates = _classify(body, conclusion[0])
        except _Problem as problem:
            raise _Problem(f"{problem} (rule shapes: {_SHAPES})") from None
    except _Problem as problem:
        raise RuleError(f"{source}: {label}: {problem}") from None
    return Rule(name.strip(), kind, predicates, conclusion[0].predicate, description.strip())


def parse_rules(text: str, source: str = "rules") -> list[Rule]:
    """Rules from YAML text; ``source`` names the file in error messages."""
    expected = "a mapping with exactly one key, 'rules'"
    data = yaml_mapping(text, source, RuleError, expected)
    if set(data) != {"rules"}:
        raise RuleError(f"{source}: expected {expected}")
    entries = data["rules"] or []
    if not isinstance(entries, list):
        raise RuleError(f"{source}: 'rules' must be a list")
    rules = [_rule(entry, index, source) for index, entry in enumerate(entries)]
    seen: dict[Any, str] = {}
    for rule in rules:
        for key in (rule.name, (rule.kind, rule.body, rule.head)):
            if key in seen:
                what = "name" if isinstance(key, str) else "rule"
                raise RuleError(f"{source}: rule {rule.name!r}: same {what} as rule {seen[key]!r}")
            seen[key] = rule.name
    return rules


def load_rules(setting: str) -> list[Rule]:
    """The rules named by ``reason.rules``: ``embedded:rules`` or a file path."""
    return parse_rules(*read_setting_file(setting, EMBEDDED_RULES, "rules.yaml", "rule file", "reason.rules",
                                          RuleError))


# --------------------------------------------------------------------------- reference evaluator


@dataclass(frozen=True)
class _Fact:
    edge_id: str
    subject_id: str
    predicate: str
    object_id: str
    confidence: float
    depth: int


@dataclass(frozen=True)
class Inference:
    edge_id: str
    subject_id: str
    predicate: str
    object_id: str
    rule: str
    supporting_edge_ids: tuple[str, ...]
    depth: int
    confidence: float

    def row(self) -> dict[str, Any]:
        """As an ``inferred_edges`` row."""
        return {**vars(self), "supporting_edge_ids": list(self.supporting_edge_ids)}

    def _preference(self) -> tuple:
        return -self.confidence, self.rule, self.supporting_edge_ids


@dataclass
class Reasoning:
    """What a reasoning run did; ``details()`` is what the stage reports."""
    rules: list[Rule]
    by_rule: dict[str, int] = field(default_factory=dict)
    by_depth: dict[int, int] = field(default_factory=dict)
    rounds: int = 0
    fixpoint_reached: bool = False
    pending_beyond_max_depth: int = 0
    fanout_skipped: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    inferred: list[Inference] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        skipped = {rule.name: len(self.fanout_skipped.get(rule.name, ())) for rule in self.rules
                   if len(rule.body) == 2}
        return {
            "rules": {rule.name: rule.text for rule in self.rules},
            "inferred_by_rule": {rule.name: self.by_rule.get(rule.name, 0) for rule in self.rules},
            "inferred_by_depth": dict(sorted(self.by_depth.items())),
            "rounds": self.rounds,
            "fixpoint_reached": self.fixpoint_reached,
            "pending_beyond_max_depth": self.pending_beyond_max_depth,
            "fanout_skipped_keys": sum(skipped.values()),
            "fanout_skipped_by_rule": skipped,
            # a few of the skipped entities per rule, to look at
            "fanout_skipped_examples": {name: sorted(keys)[:5] for name, keys in self.fanout_skipped.items()
                                        if keys},
        }


def _fire(rule: Rule, facts: list[_Fact], depth: int, max_fanout: int,
          skipped: set[str]) -> Iterable[Inference]:
    def inference(subject_id: str, object_id: str, premises: tuple[_Fact, ...]) -> Inference:
        confidence = premises[0].confidence
        for premise in premises[1:]:
            confidence *= premise.confidence
        return Inference(inferred_edge_id(subject_id, rule.head, object_id), subject_id, rule.head, object_id,
                         rule.name, tuple(p.edge_id for p in premises), depth, confidence)

    if len(rule.body) == 1:
        for fact in facts:
            if fact.predicate == rule.body[0] and fact.depth == depth - 1:
                subject_id, object_id = ((fact.object_id, fact.subject_id) if rule.kind in SWAPPING
                                         else (fact.subject_id, fact.object_id))
                yield inference(subject_id, object_id, (fact,))
        return
    first = [f for f in facts if f.predicate == rule.body[0]]
    second: dict[str, list[_Fact]] = defaultdict(list)
    for fact in facts:
        if fact.predicate == rule.body[1]:
            second[fact.subject_id].append(fact)
    ending = Counter(f.object_id for f in first)
    joins_new = {f.object_id for f in first if f.depth == depth - 1} | {
        key for key, facts_at in second.items() if any(f.depth == depth - 1 for f in facts_at)}
    hubs = {key for key, count in ending.items()
            if key in second and key in joins_new and max(count, len(second[key])) > max_fanout}
    skipped |= hubs
    for left in first:
        if left.object_id in hubs:
            continue
        for right in second.get(left.object_id, ()):
            if max(left.depth, right.depth) == depth - 1:
                yield inference(left.subject_id, right.object_id, (left, right))


def evaluate(rules: list[Rule], edges: Iterable[Mapping[str, Any]], cfg: ReasonConfig) -> Reasoning:
    """Apply ``rules`` to ``edges`` rows (``edges`` table columns) as the module docstring says."""
    body = {predicate for rule in rules for predicate in rule.body}
    known: set[tuple[str, str, str]] = set()
    facts: list[_Fact] = []
    for edge in edges:
        if edge["object_id"] is None:
            continue
        known.add((edge["subject_id"], edge["predicate"], edge["object_id"]))
        if edge["predicate"] in body and edge["confidence"] >= cfg.min_confidence:
            facts.append(_Fact(edge["edge_id"], edge["subject_id"], edge["predicate"], edge["object_id"],
                               edge["confidence"], 0))
    result = Reasoning(rules)
    for depth in range(1, cfg.max_depth + 2):
        probe = depth > cfg.max_depth
        skipped: dict[str, set[str]] = defaultdict(set)
        best: dict[tuple[str, str, str], Inference] = {}
        for rule in rules:
            for candidate in _fire(rule, facts, depth, cfg.max_fanout, skipped[rule.name]):
                key = (candidate.subject_id, candidate.predicate, candidate.object_id)
                if candidate.subject_id == candidate.object_id or key in known:
                    continue
                if key not in best or candidate._preference() < best[key]._preference():
                    best[key] = candidate
        if probe:
            result.pending_beyond_max_depth = len(best)
            result.fixpoint_reached = not best
            break
        result.rounds = depth
        for name, keys in skipped.items():
            result.fanout_skipped[name] |= keys
        if not best:
            result.fixpoint_reached = True
            break
        for key, inferred in sorted(best.items()):
            known.add(key)
            result.inferred.append(inferred)
            result.by_rule[inferred.rule] = result.by_rule.get(inferred.rule, 0) + 1
            result.by_depth[depth] = result.by_depth.get(depth, 0) + 1
            if inferred.predicate in body and inferred.confidence >= cfg.min_confidence:
                facts.append(_Fact(inferred.edge_id, inferred.subject_id, inferred.predicate, inferred.object_id,
                                   inferred.confidence, depth))
    return result
