"""Infobox extraction quality (``kgpipe eval infobox``): the ``infobox`` table of a warehouse against values
checked by hand.

The gold file (``kgpipe/data/eval/infobox-gold.jsonl`` for the English sample) holds, per page and property,
what the page's infobox states, written from its raw wikitext by a person: ``{"title": T}`` for a value
that links page T, ``{"value": V}`` for a literal (ISO date, number, quantity with unit, text) and
``{"name": N}`` for an entity written without a link (no page to name, so no fact is expected: these
count apart).

* ``precision``: of the facts extracted for the (page, property) pairs the gold covers, the share that
  equal a gold value;
* ``recall``: of the gold's linked and literal values, the share extracted as facts;
* ``unlinked_names_found``: of the gold's ``name`` values, the share kept as ``unlinked`` rows (neither
  guessed into a fact nor lost).

Per property too, and the table's accounting: every parameter seen is a fact, unmapped, unlinked or
unreadable.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path

from kgpipe.errors import CommandError
from kgpipe.evaluate.scores import prf
from kgpipe.ingest.wikitext import normalize_title

DEFAULT_GOLD = resources.files("kgpipe") / "data" / "eval" / "infobox-gold.jsonl"


class GoldError(CommandError):
    pass


def read_gold(path: str | Path) -> dict[tuple[str, str], list[dict]]:
    """(page title, property) -> the values the infobox states."""
    gold: dict[tuple[str, str], list[dict]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key = (item["title"], item["predicate"])
            values = item["values"]
        except (ValueError, KeyError, TypeError) as exc:
            raise GoldError(f"{path}:{n}: expected {{title, predicate, values}}: {exc}") from None
        if not all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("title", "value", "name")
                   for v in values):
            raise GoldError(f"{path}:{n}: each value is one of {{title}}, {{value}}, {{name}}")
        gold.setdefault(key, []).extend(values)
    return gold


def _key(kind: str, text: str) -> tuple[str, str]:
    return (kind, normalize_title(text) if kind == "title" else " ".join(text.split()))


def evaluate_infobox(rows: list[dict], titles: dict[str, str], gold: dict[tuple[str, str], list[dict]]) -> dict:
    """Scores of ``rows`` (``infobox`` table rows) of the documents ``titles`` (doc_id -> title)."""
    facts: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    unlinked: dict[tuple[str, str], set[str]] = defaultdict(set)
    statuses: Counter[str] = Counter()
    for row in rows:
        statuses[row["status"]] += 1
        key = (titles.get(row["doc_id"], ""), row["predicate"] or "")
        if key not in gold:
            continue
        if row["status"] == "fact":
            facts[key].append(_key("title", row["target_title"]) if row["value_type"] == "entity"
                              else _key("value", row["value"] or ""))
        elif row["status"] == "unlinked":
            unlinked[key].add(" ".join((row["value"] or "").split()))
    per_predicate: dict[str, Counter] = defaultdict(Counter)
    for key, values in gold.items():
        expected = {_key(kind, text) for value in values for kind, text in value.items() if kind != "name"}
        names = {" ".join(v["name"].split()) for v in values if "name" in v}
        got = facts.get(key, [])
        tally = per_predicate[key[1]]
        tally["extracted"] += len(got)
        tally["correct"] += sum(1 for fact in got if fact in expected)
        tally["gold"] += len(expected)
        tally["found"] += len(expected & set(got))
        tally["names"] += len(names)
        tally["names_unlinked"] += len(names & unlinked.get(key, set()))
    total = sum(per_predicate.values(), Counter())
    scores = prf(total["correct"], total["extracted"], total["gold"])
    return {"task": "infobox", "pages": len({title for title, _ in gold}), "properties": len(gold),
            "gold_values": total["gold"], "extracted_facts": total["extracted"],
            "precision": scores["precision"],
            "recall": round(total["found"] / total["gold"], 4) if total["gold"] else 0.0,
            "unlinked_names": total["names"],
            "unlinked_names_found": round(total["names_unlinked"] / total["names"], 4) if total["names"] else None,
            "by_predicate": {p: {"extracted": t["extracted"], "correct": t["correct"], "gold": t["gold"],
                                 "found": t["found"]} for p, t in sorted(per_predicate.items())},
            "rows_by_status": dict(sorted(statuses.items()))}


def evaluate_warehouse(warehouse, gold_path: str | Path = DEFAULT_GOLD) -> dict:
    for table in ("infobox", "documents"):
        if not warehouse.exists(table):
            raise CommandError(f"eval infobox needs the {table} table in {warehouse.root}: run `kgpipe ingest` first")
    titles = dict(zip(*warehouse.read("documents", ["doc_id", "title"]).to_pydict().values()))
    rows = warehouse.read("infobox", ["doc_id", "predicate", "status", "value", "value_type",
                                      "target_title"]).to_pylist()
    return {**evaluate_infobox(rows, titles, read_gold(gold_path)), "gold": str(gold_path)}
