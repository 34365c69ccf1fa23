"""Entity quality of a resolved warehouse (``kgpipe eval entities``): no gold file, the wiki itself is the
reference.

* **type agreement**: of the wiki articles whose infobox the mappings type (the ``infobox`` table's
  ``entity_type``, written by ingest from ``ingest.infobox_mappings``), the share whose linked entity (the
  entity whose ``wiki_title`` is the article) has the infobox's coarse type;
* **self-link accuracy**: in each article T, the mentions the linker decided (not link anchors, which
  keep their target, nor infobox lines, whose subject is the page by construction) whose text is T's
  name (``normalize_surface(text) == title_key(T)``: T without its disambiguator), and the share of them
  resolved to T's entity. Disambiguation pages are left out: they name several things, none of them
  the page;
* **split titles**: article titles that are the canonical name of more than one entity;
* **largest entities** by mention count, with their types: a wrong merge shows up here first.

Pure functions over pandas frames; :func:`evaluate_warehouse` reads them.
"""
from __future__ import annotations

import re

import pandas as pd

from kgpipe.errors import CommandError
from kgpipe.graph.resolve import coarse_type, majority_type, normalize_surface, title_key
from kgpipe.ingest.wikitext import normalize_title

#: rows of each list in the report: enough to see the pattern, short enough to read
LISTED = 50
LARGEST = 20
#: a page listing the meanings of a name has no entity of its own to link that name to
DISAMBIGUATION_PAGE = re.compile(r"\(disambiguation\)\s*\Z", re.IGNORECASE)

REQUIRED = ("documents", "mentions", "mention_entities", "entities")
COLUMNS = {"documents": ["doc_id", "title", "source_kind"],
           "mentions": ["mention_id", "doc_id", "text", "label", "link_target", "origin"],
           "mention_entities": ["mention_id", "entity_id"],
           "entities": ["entity_id", "canonical_name", "entity_type", "wiki_title", "mention_count"],
           "infobox": ["doc_id", "entity_type"]}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def articles(documents: pd.DataFrame) -> pd.DataFrame:
    """Wiki pages: doc_id, title and ``wiki_title``, the title as entities and links write it."""
    pages = documents[(documents["source_kind"] == "wiki") & documents["title"].notna()]
    return pages.assign(wiki_title=pages["title"].map(normalize_title))[["doc_id", "title", "wiki_title"]]


def infobox_types(infobox: pd.DataFrame) -> pd.Series:
    """doc_id -> coarse type of the page's infobox; a page with several typed infoboxes takes their
    majority, each row one vote, as resolve weighs the votes of infobox lines."""
    typed = infobox.dropna(subset=["entity_type"])
    types = typed.groupby("doc_id")["entity_type"].agg(lambda labels: majority_type(labels.tolist()))
    return types.dropna()


def type_agreement(pages: pd.DataFrame, infobox: pd.DataFrame, entities: pd.DataFrame,
                   listed: int = LISTED) -> dict:
    typed = pages.merge(infobox_types(infobox).rename("infobox_type"), left_on="doc_id", right_index=True)
    linked = typed.merge(entities[["wiki_title", "entity_type"]], on="wiki_title", how="inner")
    agree = linked["entity_type"].map(coarse_type) == linked["infobox_type"]
    by_type = {t: {"checked": int(len(group)), "agreeing": int(agree[group.index].sum())}
               for t, group in sorted(linked.groupby("infobox_type"))}
    wrong = linked[~agree].sort_values("title")
    return {"type_agreement": _share(int(agree.sum()), len(linked)), "type_checked": int(len(linked)),
            "type_agreeing": int(agree.sum()),
            # typed pages no entity is linked to: nothing in the graph stands for the page's subject
            "type_no_entity": int((~typed["wiki_title"].isin(entities["wiki_title"])).sum()),
            "type_by_infobox_type": by_type,
            "type_disagreements": [{"title": r.title, "entity_type": r.entity_type, "infobox_type": r.infobox_type}
                                   for r in wrong.head(listed).itertuples()]}


def self_links(pages: pd.DataFrame, mentions: pd.DataFrame, mention_entities: pd.DataFrame,
               entities: pd.DataFrame, listed: int = LISTED) -> dict:
    pages = pages[~pages["title"].str.contains(DISAMBIGUATION_PAGE)]
    pages = pages.assign(key=pages["title"].map(title_key))
    decided = mentions[mentions["link_target"].isna() & mentions["label"].map(coarse_type).notna()]
    own = decided[["mention_id", "doc_id", "text"]].merge(pages, on="doc_id")
    own = own[own["text"].map(normalize_surface) == own["key"]]
    resolved = (own.merge(mention_entities[["mention_id", "entity_id"]], on="mention_id", how="left")
                .merge(entities[["entity_id", "canonical_name", "entity_type", "wiki_title"]]
                       .rename(columns={"wiki_title": "entity_title"}), on="entity_id", how="left"))
    right = resolved["entity_title"] == resolved["wiki_title"]
    errors = (resolved[~right].fillna({"entity_id": "", "canonical_name": "", "entity_type": "", "entity_title": ""})
              .groupby(["title", "entity_id", "canonical_name", "entity_type", "entity_title"]).size()
              .reset_index(name="mentions").sort_values(["mentions", "title"], ascending=[False, True]))
    return {"self_link_accuracy": _share(int(right.sum()), len(resolved)),
            "self_link_mentions": int(len(resolved)), "self_link_correct": int(right.sum()),
            "self_link_errors": [{"title": r.title, "resolved_to": r.canonical_name or None,
                                  "resolved_title": r.entity_title or None, "entity_type": r.entity_type or None,
                                  "mentions": int(r.mentions)}
                                 for r in errors.head(listed).itertuples()]}


def split_titles(pages: pd.DataFrame, entities: pd.DataFrame, listed: int = LISTED) -> dict:
    named = entities.merge(pages[["wiki_title"]].drop_duplicates().rename(columns={"wiki_title": "canonical_name"}),
                           on="canonical_name")
    counts = named.groupby("canonical_name")["entity_id"].transform("size")
    split = named[counts > 1].sort_values(["canonical_name", "mention_count", "entity_id"],
                                          ascending=[True, False, True])
    titles = [{"title": title, "entities": [{"entity_id": r.entity_id, "entity_type": _value(r.entity_type),
                                             "wiki_title": _value(r.wiki_title), "mention_count": int(r.mention_count)}
                                            for r in group.itertuples()]}
              for title, group in split.groupby("canonical_name", sort=True)]
    return {"split_titles": len(titles), "split_title_entities": titles[:listed]}


def largest_entities(entities: pd.DataFrame, n: int = LARGEST) -> list[dict]:
    top = entities.sort_values(["mention_count", "entity_id"], ascending=[False, True]).head(n)
    return [{"entity_id": r.entity_id, "canonical_name": r.canonical_name, "entity_type": _value(r.entity_type),
             "wiki_title": _value(r.wiki_title), "mention_count": int(r.mention_count)} for r in top.itertuples()]


def _value(x):
    return None if pd.isna(x) else x


def evaluate_entities(documents: pd.DataFrame, mentions: pd.DataFrame, mention_entities: pd.DataFrame,
                      entities: pd.DataFrame, infobox: pd.DataFrame | None = None, listed: int = LISTED) -> dict:
    """The report over the warehouse tables (columns of :data:`COLUMNS`); without an ``infobox`` table
    the type figures are None."""
    pages = articles(documents)
    types = (type_agreement(pages, infobox, entities, listed) if infobox is not None else
             {"type_agreement": None, "type_checked": 0})
    return {"task": "entities", "articles": int(len(pages)), "entities": int(len(entities)), **types,
            **self_links(pages, mentions, mention_entities, entities, listed),
            **split_titles(pages, entities, listed), "largest_entities": largest_entities(entities)}


def evaluate_warehouse(warehouse) -> dict:
    for table in REQUIRED:
        if not warehouse.exists(table):
            raise CommandError(f"eval entities needs the {table} table in {warehouse.root}: run `kgpipe resolve` "
                               "first")
    frames = {name: warehouse.read(name, columns).to_pandas() for name, columns in COLUMNS.items()
              if name in REQUIRED or warehouse.exists(name)}
    return evaluate_entities(frames["documents"], frames["mentions"], frames["mention_entities"],
                             frames["entities"], frames.get("infobox"))
