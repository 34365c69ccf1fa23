"""Every table kgpipe writes, defined once.

Arrow is the source of truth: Spark StructTypes (``schemas.spark``) and service
models derive from these definitions. Each table has a version, bumped on any
change of columns, and each column a one-line meaning that travels into the
Parquet field metadata, so a file explains itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    meaning: str
    nullable: bool = True

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable,
                        metadata={"meaning": self.meaning})


@dataclass(frozen=True)
class TableSchema:
    name: str
    version: int
    meaning: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema([c.field() for c in self.columns],
                         metadata={"kgpipe.table": self.name,
                                   "kgpipe.version": str(self.version),
                                   "kgpipe.meaning": self.meaning})


def _c(name: str, type_: pa.DataType, meaning: str, nullable: bool = True) -> Column:
    return Column(name, type_, meaning, nullable)


def _key(name: str, meaning: str) -> Column:
    return Column(name, pa.string(), meaning, nullable=False)


PARAGRAPH = pa.struct([
    ("start", pa.int32()), ("end", pa.int32()), ("kind", pa.string()),
    ("section", pa.string()), ("level", pa.int8()),
])

EVIDENCE = pa.struct([
    ("doc_id", pa.string()), ("sentence_index", pa.int32()),
    ("start", pa.int32()), ("end", pa.int32()), ("sentence_text", pa.string()),
])

ALIAS_COUNT = pa.struct([("alias", pa.string()), ("count", pa.int64())])
TYPE_COUNT = pa.struct([("label", pa.string()), ("count", pa.int64())])

QUALIFIERS = pa.map_(pa.string(), pa.string())

_DEFINITIONS = [
    TableSchema("documents", 3, "One cleaned article or news story per row.", (
        _key("doc_id", "sha256[:32] of source, native_id and revision_id: stable across reruns"),
        _c("source", pa.string(), "wiki database name (enwiki) or news:<site>", False),
        _c("source_kind", pa.string(), "'wiki' or 'news'", False),
        _c("native_id", pa.string(), "page id in the wiki, or the article id of the news source", False),
        _c("revision_id", pa.string(), "wiki revision id; for news, the published time or a content hash"),
        _c("title", pa.string(), "page title or headline"),
        _c("author", pa.string(), "byline of a news story, when its source names one (null for wiki pages)"),
        _c("url", pa.string(), "URL of the page or article (web pages: the URL it was fetched from)"),
        _c("namespace", pa.int32(), "MediaWiki namespace (always 0 here; 0 for news)", False),
        _c("language", pa.string(), "ISO 639 code from the dump's xml:lang, the news record or the web page"),
        _c("source_timestamp", TIMESTAMP, "revision time for wiki pages, publication time for news (web pages "
                                          "without one: the crawl time)"),
        _c("text", pa.string(), "clean plain text, paragraphs separated by a blank line", False),
        _c("paragraphs", pa.list_(PARAGRAPH), "paragraph spans in text: kind heading/text/list_item, "
                                              "enclosing section title and level"),
        _c("input_ref", pa.string(), "file and position the record was read from", False),
        _c("duplicate_of", pa.string(), "doc_id of the earliest document of this one's near-duplicate group (a "
                                        "syndicated copy: MinHash/LSH over word shingles of the text, "
                                        "ingest.near_duplicates); null for a group's representative and unique "
                                        "documents. New in version 3: null in older tables"),
    )),
    TableSchema("redirects", 1, "Wiki redirect pages: one title pointing to another.", (
        _c("source", pa.string(), "wiki database name", False),
        _c("from_title", pa.string(), "title of the redirect page", False),
        _c("to_title", pa.string(), "normalized target title", False),
        _c("to_fragment", pa.string(), "section anchor of the target, if any"),
        _c("page_id", pa.string(), "page id of the redirect page"),
        _c("input_ref", pa.string(), "file and position the record was read from", False),
    )),
    TableSchema("links", 1, "Internal wiki links with their anchor text: raw material for aliases.", (
        _key("doc_id", "document containing the link"),
        _c("anchor", pa.string(), "visible anchor text, as it appears in documents.text", False),
        _c("target_title", pa.string(), "normalized title of the linked article", False),
        _c("target_fragment", pa.string(), "section anchor of the target, if any"),
        _c("start", pa.int32(), "character offset of the anchor in documents.text", False),
        _c("end", pa.int32(), "end offset (exclusive) of the anchor in documents.text", False),
    )),
    TableSchema("rejects", 1, "Input records that could not be turned into output, with the reason.", (
        _c("input_ref", pa.string(), "file and position of the rejected record", False),
        _c("stage", pa.string(), "stage that rejected it (ingest, extract, ...)", False),
        _c("reason", pa.string(), "machine-readable reason code", False),
        _c("detail", pa.string(), "human-readable explanation"),
        _c("native_id", pa.string(), "page or article id, when it could be read"),
        _c("title", pa.string(), "page title or headline, when it could be read"),
        _c("excerpt", pa.string(), "bounded excerpt of the offending input"),
    )),
    TableSchema("infobox", 1, "Infobox parameters of wiki pages, one row per value item, DBpedia style "
                              "(kgpipe/ingest/infobox.py): facts, and what could not be read, with why.", (
        _key("doc_id", "document (wiki page) of the infobox"),
        _c("template", pa.string(), "infobox template, normalised (infobox scientist)", False),
        _c("infobox_class", pa.string(), "class the mappings give the template (Scientist); null when unmapped"),
        _c("entity_type", pa.string(), "entity label of the page's subject for that class (PERSON, GPE, ...)"),
        _c("parameter", pa.string(), "template parameter as written (birth_place)", False),
        _c("parameter_index", pa.int32(), "position of the parameter among the page's infobox parameters", False),
        _c("item_index", pa.int32(), "position of the item in the parameter's value (lists give several)", False),
        _c("raw_value", pa.string(), "the parameter's wikitext without references and comments, bounded", False),
        _c("status", pa.string(), "fact, unmapped (no property), unlinked (entity text naming no page), "
                                  "unreadable (the kind's parser could not read it) or extra (a further item "
                                  "of a single-valued date, number or quantity)", False),
        _c("predicate", pa.string(), "canonical predicate (DBpedia ontology property), null when unmapped"),
        _c("value", pa.string(), "the item: anchor text of an entity, ISO date, number, quantity, text"),
        _c("value_type", pa.string(), "entity, date, number, quantity or string (facts only)"),
        _c("target_title", pa.string(), "wiki title an entity item links to"),
        _c("detail", pa.string(), "why an item is not a fact"),
    )),
    TableSchema("mentions", 2, "Entity mentions found in sentences (NER, wiki link anchors, infobox values).", (
        _key("mention_id", "sha256[:32] of doc_id, start and end (infobox: also the origin and sentence_index)"),
        _key("doc_id", "document of the mention"),
        _key("sentence_id", "sha256[:32] of doc_id and sentence_index"),
        _c("sentence_index", pa.int32(), "index of the sentence in the document; negative for an infobox "
                                         "parameter's line (-1 - parameter_index)", False),
        _c("start", pa.int32(), "character offset in documents.text (infobox: in the parameter's line)", False),
        _c("end", pa.int32(), "end offset (exclusive), as start", False),
        _c("text", pa.string(), "surface text of the mention", False),
        _c("label", pa.string(), "entity type (PERSON, ORG, GPE, ...)", False),
        _c("link_target", pa.string(), "wiki title the mention links to, if it is an anchor"),
        _c("origin", pa.string(), "'ner', 'link', 'infobox' or 'lead' (a wiki page's definition of its subject, "
                                  "which gives its type)", False),
    )),
    TableSchema("triples_raw", 2, "Facts extracted from one sentence or infobox parameter, with full provenance.", (
        _key("triple_id", "sha256[:32] of sentence_id and the three spans"),
        _key("doc_id", "document of the evidence"),
        _c("sentence_index", pa.int32(), "index of the sentence in the document; negative for an infobox "
                                         "parameter (-1 - parameter_index)", False),
        _c("sentence_text", pa.string(), "the evidence sentence, or the infobox parameter as a line of text", False),
        _c("subject", pa.string(), "subject surface text", False),
        _c("subject_start", pa.int32(), "subject offset in documents.text (infobox: in sentence_text)", False),
        _c("subject_end", pa.int32(), "subject end offset", False),
        _c("subject_mention_id", pa.string(), "mention of the subject"),
        _c("predicate", pa.string(), "the fact's predicate: a canonical property (birthPlace) where one "
                                     "applies, else the surface predicate", False),
        _c("surface_predicate", pa.string(), "what the source said: lowercase lemmas without auxiliaries, "
                                             "particles and prepositions kept (found, born in, ceo of), or "
                                             "the infobox parameter (birth_place)", False),
        _c("object", pa.string(), "object surface text", False),
        _c("object_start", pa.int32(), "object offset in documents.text", False),
        _c("object_end", pa.int32(), "object end offset", False),
        _c("object_mention_id", pa.string(), "mention of the object, when it is an entity"),
        _c("object_type", pa.string(), "'entity' or a literal type: date, number, quantity, string", False),
        _c("qualifiers", QUALIFIERS, "qualifiers such as time=2011"),
        _c("extractor", pa.string(), "extractor name", False),
        _c("extractor_version", pa.string(), "extractor version", False),
        _c("confidence", pa.float64(), "confidence in [0, 1]", False),
    )),
    TableSchema("entities", 2, "Graph vertices: one canonical entity per row.", (
        _key("entity_id", "stable id of the canonical entity"),
        _c("canonical_name", pa.string(), "preferred display name", False),
        _c("entity_type", pa.string(), "entity type"),
        _c("aliases", pa.list_(ALIAS_COUNT), "surface forms with their mention counts"),
        _c("type_votes", pa.list_(TYPE_COUNT), "NER labels of the mentions with their counts, infobox classes' "
                                              "types as infobox:<label> (entity_type is the infobox vote's "
                                              "majority, else the labels'; kept so that increments can re-vote)"),
        _c("wiki_title", pa.string(), "linked Wikipedia article, if any"),
        _c("mention_count", pa.int64(), "number of mentions resolved to the entity", False),
        _c("first_seen", TIMESTAMP, "earliest source_timestamp of a mention"),
        _c("last_seen", TIMESTAMP, "latest source_timestamp of a mention"),
    )),
    TableSchema("edges", 1, "Deduplicated facts between entities (or an entity and a literal).", (
        _key("edge_id", "stable id of (subject_id, predicate, object, qualifiers)"),
        _key("subject_id", "entity id of the subject"),
        _c("predicate", pa.string(), "normalized predicate", False),
        _c("object_id", pa.string(), "entity id of the object, null for literals"),
        _c("object_literal", pa.string(), "literal object value, null for entities"),
        _c("object_type", pa.string(), "'entity' or the literal type", False),
        _c("qualifiers", QUALIFIERS, "qualifiers such as time=2011"),
        _c("support_count", pa.int64(), "number of distinct evidence sentences (a near-duplicate group of "
                                        "documents counts once: through its best-supporting document)", False),
        _c("confidence", pa.float64(), "noisy-or of evidence confidences", False),
        _c("first_seen", TIMESTAMP, "earliest evidence time"),
        _c("last_seen", TIMESTAMP, "latest evidence time"),
        _c("evidence", pa.list_(EVIDENCE), "bounded sample of the evidence"),
        _c("evidence_count", pa.int64(), "total evidence rows, sampled or not (of the documents counted "
                                         "for their near-duplicate group)", False),
    )),
    TableSchema("aliases", 1, "Alias table: surface-form keys and the wiki titles they name, with the prior.", (
        _c("alias_key", pa.string(), "normalize_surface of an anchor text, title or redirect", False),
        _c("target_title", pa.string(), "redirect-resolved wiki title", False),
        _c("link_count", pa.int64(), "links whose anchor text has this key and that point to this title", False),
        _c("pseudo_count", pa.int64(), "pseudo-counts: 1 if a title, 1 per redirect with this key naming it", False),
        _c("count", pa.int64(), "link_count + pseudo_count", False),
        _c("commonness", pa.float64(), "count / all counts of the alias key: P(title | alias)", False),
    )),
    TableSchema("mention_entities", 1, "Which entity each entity mention was resolved to, and how.", (
        _key("mention_id", "mention"),
        _key("doc_id", "document of the mention"),
        _key("entity_id", "entity the mention belongs to"),
        _c("wiki_title", pa.string(), "wiki title the mention was linked to, if any"),
        _c("link_method", pa.string(), "anchor, doc_link, alias or unlinked", False),
        _c("link_score", pa.float64(), "commonness of the chosen title (1.0 for anchors and document links)"),
    )),
    TableSchema("entity_keys", 1, "Resolution state: the name keys that merge mentions into each entity.", (
        _key("key", "'W:<wiki title>' or 'N:<type>:<normalized name>' (see kgpipe.graph.resolve)"),
        _key("entity_id", "entity the key belongs to"),
        _c("is_identity", pa.bool_(), "the key the entity id is derived from", False),
    )),
    TableSchema("entity_stats", 1, "Graph statistics of each entity (GraphFrames).", (
        _key("entity_id", "entity id"),
        _c("pagerank", pa.float64(), "PageRank over entity-to-entity edges", False),
        _c("in_degree", pa.int64(), "edges pointing at the entity", False),
        _c("out_degree", pa.int64(), "edges leaving the entity", False),
        _c("component_id", pa.string(), "weakly connected component (smallest entity id in it)", False),
        _c("component_size", pa.int64(), "entities in the component", False),
        _c("community_id", pa.string(), "label-propagation community (an entity id)", False),
    )),
    TableSchema("inferred_edges", 1, "Facts derived by rules, with the edges that justify them.", (
        _key("edge_id", "stable id of the inferred fact"),
        _key("subject_id", "entity id of the subject"),
        _c("predicate", pa.string(), "predicate produced by the rule", False),
        _key("object_id", "entity id of the object"),
        _c("rule", pa.string(), "name of the rule that fired", False),
        _c("supporting_edge_ids", pa.list_(pa.string()), "edge ids of the premises: the explanation", False),
        _c("depth", pa.int32(), "derivation depth (1 = from extracted edges only)", False),
        _c("confidence", pa.float64(), "product of premise confidences", False),
    )),
    TableSchema("labels", 1, "Human relation labels of candidate facts (kgpipe label import; kgpipe/label/).", (
        _key("label_id", "sha256[:32] of task_id and labeler: a labeler's later label for a task replaces it"),
        _key("task_id", "task written by kgpipe label select (stable id of sentence and argument spans)"),
        _c("doc_id", pa.string(), "document of the sentence ('' for tasks from outside the warehouse)", False),
        _c("sentence_index", pa.int32(), "index of the sentence in the document", False),
        _c("sentence_text", pa.string(), "the sentence the labeler read", False),
        _c("subject", pa.string(), "subject text (sentence_text[subject_start:subject_end])", False),
        _c("subject_start", pa.int32(), "subject offset in sentence_text", False),
        _c("subject_end", pa.int32(), "subject end offset (exclusive)", False),
        _c("object", pa.string(), "object text", False),
        _c("object_start", pa.int32(), "object offset in sentence_text", False),
        _c("object_end", pa.int32(), "object end offset (exclusive)", False),
        _c("relation", pa.string(), "chosen target relation, or 'no relation'", False),
        _c("proposed_relation", pa.string(), "what the task proposed (model or extractor)"),
        _c("extracted_predicate", pa.string(), "kgpipe's rule-based predicate for the pair, if it had one"),
        _c("labeler", pa.string(), "who labelled (Label Studio completed_by, or the file's labeler field)", False),
        _c("source_file", pa.string(), "label file it was imported from", False),
        _c("imported_at", TIMESTAMP, "when it was first imported with this content", False),
    )),
    TableSchema("embeddings", 1, "Entity embedding vectors from the training stage.", (
        _key("entity_id", "entity id"),
        _c("vector", pa.list_(pa.float32()), "embedding vector", False),
        _c("model", pa.string(), "model name (transe, rotate, ...)", False),
        _c("run_id", pa.string(), "training run that produced it", False),
    )),
    TableSchema("relation_embeddings", 1, "Relation embedding vectors from the training stage.", (
        _c("predicate", pa.string(), "normalized predicate", False),
        _c("vector", pa.list_(pa.float32()), "embedding vector", False),
        _c("model", pa.string(), "model name", False),
        _c("run_id", pa.string(), "training run that produced it", False),
    )),
]

TABLES: dict[str, TableSchema] = {t.name: t for t in _DEFINITIONS}


def table(name: str) -> TableSchema:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(TABLES)}") from None


def arrow_schema(name: str) -> pa.Schema:
    return table(name).arrow


def logical_type(type_: pa.DataType) -> str:
    """A type as the engines see it: names of list items and map entries, which differ between
    writers (pyarrow says ``item``, Spark ``element``), and nullability left out."""
    if pa.types.is_map(type_):
        return f"map<{logical_type(type_.key_type)},{logical_type(type_.item_type)}>"
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return f"list<{logical_type(type_.value_type)}>"
    if pa.types.is_struct(type_):
        return "struct<" + ",".join(f"{type_.field(i).name}:{logical_type(type_.field(i).type)}"
                                    for i in range(type_.num_fields)) + ">"
    if pa.types.is_large_string(type_):
        return "string"
    return str(type_)
