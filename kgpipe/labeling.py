"""Active learning for relation extraction: candidates, features, selection, labels, classifier.

Engine-free (no Spark, no Beam): spaCy Docs in, plain dicts and a scikit-learn model out.
``jobs/label.py`` moves warehouse rows through these functions; ``bench/active_learning.py``
simulates the loop on WebNLG.

The loop a user runs
====================
``kgpipe label select`` -> label the tasks in Label Studio -> ``kgpipe label import FILE``
-> ``kgpipe label train`` -> ``kgpipe --set extract.relation_model=PATH extract`` (and
resolve, ...). Every round the classifier is retrained on all labels so far and the next
selection asks about what it is least sure of.

Candidates
==========
A candidate is an ordered pair of argument spans in one sentence: the subject and object of
a kgpipe triple (``triples_raw`` row, its predicate kept as ``extracted_predicate``), or two
mentions of the sentence that no triple connects (spaCy entities plus noun chunks that
overlap no entity and are not bare pronouns: ``kgpipe.evaluation.candidate_mentions``, the rule the
``all_pairs`` baseline uses), ordered as they appear. Offsets of a candidate are characters
of its sentence text. ``task_id = stable_id("label-task", doc_id, sentence_index, sentence,
subject span, object span)``: selecting again proposes the same ids.

Labels are undirected: a pair has relation R when the sentence states R between the two
arguments in either order (WebNLG's pair-matching rule ignores order too). The classifier
therefore learns *which* relation, and the triple keeps the candidate's direction.

Features (``pair_features``)
============================
Sparse binary features of the pair in its sentence: which comes first; each argument's
type (NER label, else ``NC:`` + head part of speech) and their combination; the lemmas of
the words between them (bag, first, last, count bucket) and of two words on each side; the
dependency path between the two head tokens (labels with direction, with and without the
lowest common ancestor's lemma, its lemma, its length, the lemmas on it); the head lemmas;
and kgpipe's own predicate for the pair (whole and by word), when the rule-based extractor
found one.

Classifier (``RelationModel``)
==============================
scikit-learn: ``DictVectorizer`` over those features and a multinomial
``LogisticRegression``. Chosen over a spaCy ``textcat``/relation component because
(1) active learning retrains after every batch of 10-20 labels and needs a model that fits in
milliseconds on a few hundred examples, deterministically, with no training-loop settings;
(2) logistic regression minimises log-loss, a proper scoring rule, so ``predict_proba`` is
close to calibrated without a held-out calibration split (``CalibratedClassifierCV`` needs
several labels per class per fold, which the first rounds do not have); the bench reports
the expected calibration error; (3) the features above are exactly the classic relation-
extraction feature set (Mintz et al. 2009, Zhou et al. 2005), which a linear model uses
well with few labels; a neural spaCy component needs far more labels than a labelling
round gives. Classes are the target relations that occur in the labels plus
``NO_RELATION``; with a single class the model predicts that class with probability 1.

Selection strategies (``select``)
=================================
* ``uncertainty``: least confidence, ``1 - max_c p(c)``.
* ``margin``: smallest gap between the two most probable classes (scored ``1 - gap``).
* ``diversity``: uncertainty order, but a candidate whose sentence is a near duplicate
  (word-set Jaccard >= ``DUPLICATE_JACCARD``) of a sentence already chosen in this batch
  is skipped, so a batch does not spend labels on one repeated sentence.
* ``random``: uniform, the baseline.
Without a model yet (cold start) the probabilities come from the rule-based extractor: a
triple's confidence is ``p(its predicate)``, a pair without a triple gets ``COLD_PAIR_P``.
Representativeness: uncertainty, margin and diversity scores are multiplied by
``1 + centrality_weight * c`` where ``c`` in [0, 1] is the pagerank percentile of the more
central argument entity (``entity_stats``), so among equally uncertain facts those about
central entities come first. Ties break on ``task_id``, so selection is deterministic.

Label Studio
============
``label_studio_task`` writes one task per candidate (``tasks.jsonl``, one JSON object a line,
and the same tasks as one JSON list in ``tasks.json``, the form every Label Studio version
imports)::

    {"data": {"text": <sentence>, "task_id": ..., "doc_id": ..., "sentence_index": ...,
              "subject": ..., "object": ..., "proposed_relation": ..., "candidate_relations": [...],
              "extracted_predicate": ...},
     "predictions": [{"model_version": ..., "score": p, "result": [
        {"id": "subj", "from_name": "entity", "to_name": "text", "type": "labels",
         "value": {"start": s, "end": e, "text": ..., "labels": ["Subject"]}},
        {"id": "obj", ... "labels": ["Object"]},
        {"from_id": "subj", "to_id": "obj", "type": "relation", "direction": "right", "labels": [R]},
        {"from_name": "relation", "to_name": "text", "type": "choices", "value": {"choices": [R]}}]}]}

and ``label_config_xml`` the matching labelling interface (``label_config.xml``: Subject/Object
span labels on the text, a ``relation`` single choice of the target relations plus "no
relation", and the same relations for Label Studio's relation arrows). Our id travels in
``data.task_id``: Label Studio assigns its own top-level ``id`` on import and keeps ``data``
in its export.

Accepted label files (``parse_label_file``):
1. Label Studio's JSON export: a JSON list of tasks, each with ``data.task_id`` and
   ``annotations: [{"result": [...], "completed_by": ..., "was_cancelled": ...}]``. The
   relation is read from the ``choices`` result named ``relation`` (else from a ``relation``
   result's ``labels``); ``labels`` results tagged ``Subject``/``Object`` replace the proposed
   spans (an annotator may correct them). Cancelled annotations are skipped and counted.
   One label per annotation; the labeler is ``completed_by`` (its ``email`` when it is an
   object).
2. Plain JSONL (also a JSON list of such objects), one label a line:
   ``{"task_id": ..., "relation": ..., "labeler": ... (optional), "subject": {"start", "end"}
   (optional), "object": {"start", "end"} (optional)}``.
Validation collects every problem and raises one ``LabelError`` naming file and record:
unknown task id, span outside the sentence or ``value.text`` not the text at the span,
empty span, subject and object overlapping, unknown relation, missing relation.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgpipe.ids import stable_id

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc, Span

    from kgpipe.extraction import Triple

NO_RELATION = "no relation"
STRATEGIES = ("uncertainty", "margin", "diversity", "random")
EMBEDDED_RELATIONS = "embedded:relations"
MODEL_FORMAT = "kgpipe-relation-model"
MODEL_FORMAT_VERSION = 1
#: cold start: probability that a mention pair without a kgpipe triple is a relation
COLD_PAIR_P = 0.2
#: word-set Jaccard at or above which two sentences count as near duplicates (diversity)
DUPLICATE_JACCARD = 0.7
SUBJECT_LABEL = "Subject"
OBJECT_LABEL = "Object"


class LabelError(ValueError):
    """A label file that cannot be imported; the message lists every problem found."""


# --------------------------------------------------------------------------- relations


def load_relations(setting: str) -> list[str]:
    """Target relations: ``embedded:relations`` (kgpipe/data/relations.txt) or a file path.

    One relation a line; blank lines and ``#`` comments ignored; duplicates and the reserved
    ``no relation`` are errors."""
    if setting == EMBEDDED_RELATIONS:
        text, source = (resources.files("kgpipe") / "data" / "relations.txt").read_text("utf-8"), setting
    elif setting.startswith("embedded:"):
        raise LabelError(f"unknown embedded relation file {setting!r}; the packaged one is {EMBEDDED_RELATIONS!r}")
    else:
        path = Path(setting)
        if not path.is_file():
            raise FileNotFoundError(f"relation file {path} not found (label.relations)")
        text, source = path.read_text("utf-8"), str(path)
    relations: list[str] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if name == NO_RELATION:
            raise LabelError(f"{source}:{line_no}: {NO_RELATION!r} is implied, do not list it")
        if name in relations:
            raise LabelError(f"{source}:{line_no}: relation {name!r} listed twice")
        relations.append(name)
    if not relations:
        raise LabelError(f"{source}: no relations listed")
    return relations


def relation_predicate(relation: str) -> str:
    """The predicate a relation becomes in triples: lower-case words, camelCase split
    (``birthPlace`` -> ``birth place``, ``born in`` stays), like kgpipe's own predicates."""
    from kgpipe.evaluation import split_property
    return split_property(relation)


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class ArgSpan:
    start: int  # character offsets in the candidate's sentence text
    end: int
    text: str
    label: str  # NER label, or "NC:<POS>" for a noun chunk, or "" when unknown


@dataclass
class Candidate:
    task_id: str
    doc_id: str
    sentence_index: int
    text: str
    subject: ArgSpan
    object: ArgSpan
    extracted_predicate: str | None = None
    confidence: float | None = None       # the rule-based extractor's, for triples
    features: dict[str, float] = field(default_factory=dict, repr=False)
    entity_ids: tuple[str, ...] = ()      # resolved entities of the arguments (representativeness)
    key: str = ""                         # free use by callers (bench: WebNLG entry)


def task_id_for(doc_id: str, sentence_index: int, text: str, subject: tuple[int, int],
                obj: tuple[int, int]) -> str:
    return stable_id("label-task", doc_id, sentence_index, text, subject[0], subject[1], obj[0], obj[1])


def arg_label(span: Span) -> str:
    """NER label of the span (or of its head token's entity), else ``NC:`` + head part of speech."""
    if span.label_:
        return span.label_
    if span.root.ent_type_:
        return span.root.ent_type_
    return f"NC:{span.root.pos_}"


def _sentence_mentions(sent: Span) -> list[Span]:
    # the all_pairs baseline's mention rule (entities + noun chunks), reused rather than copied
    from kgpipe.evaluation import candidate_mentions
    return candidate_mentions(sent, True)


def _span_of(doc: Doc, start: int, end: int) -> Span | None:
    return doc.char_span(start, end, alignment_mode="expand")


def sentence_pairs(sent: Span, triples: Sequence[Triple] = (), max_pairs: int = 200,
                   every_triple: bool = False) -> list[tuple[Span, Span, Triple | None]]:
    """Candidate pairs of one parsed sentence: each kgpipe triple inside it (subject, object,
    triple), then each pair of mentions no triple covers (in sentence order), at most
    ``max_pairs`` in all (nearest pairs first), so one enumeration-heavy sentence cannot
    flood the pool. Two triples with the same argument pair make one candidate, unless
    ``every_triple`` (classification must return every triple)."""
    doc = sent.doc
    out: list[tuple[Span, Span, Triple | None]] = []
    covered: set[frozenset] = set()
    for t in triples:
        if not (sent.start_char <= t.subject_start and t.subject_end <= sent.end_char
                and sent.start_char <= t.object_start and t.object_end <= sent.end_char):
            continue
        s, o = _span_of(doc, t.subject_start, t.subject_end), _span_of(doc, t.object_start, t.object_end)
        if s is None or o is None:
            continue
        key = frozenset(((s.start, s.end), (o.start, o.end)))
        if len(key) < 2 or (key in covered and not every_triple):
            continue
        covered.add(key)
        out.append((s, o, t))
    mentions = _sentence_mentions(sent)
    pairs = []
    for i, a in enumerate(mentions):
        for b in mentions[i + 1:]:
            if a.end > b.start:
                continue
            key = frozenset(((a.start, a.end), (b.start, b.end)))
            if key in covered:
                continue
            covered.add(key)
            pairs.append((b.start - a.end, a.start, a, b))
    pairs.sort(key=lambda p: (p[0], p[1]))
    out.extend((a, b, None) for _, _, a, b in pairs[: max(0, max_pairs - len(out))])
    return out


def _arg(span: Span, sent: Span) -> ArgSpan:
    return ArgSpan(span.start_char - sent.start_char, span.end_char - sent.start_char, span.text,
                   arg_label(span))


def candidates_from_doc(doc: Doc, doc_id: str = "", triples: Sequence[Triple] | None = None,
                        sentence_offset: int = 0, max_pairs: int = 200) -> list[Candidate]:
    """Candidates of every sentence of a parsed Doc, with features. ``triples`` default: kgpipe's
    own (``triples_from_doc``). ``sentence_offset`` numbers the Doc's sentences within a
    larger document."""
    if triples is None:
        from kgpipe.extraction import triples_from_doc
        triples = triples_from_doc(doc)
    out: list[Candidate] = []
    for index, sent in enumerate(doc.sents):
        text = sent.text
        for s, o, t in sentence_pairs(sent, triples, max_pairs):
            subj, obj = _arg(s, sent), _arg(o, sent)
            out.append(Candidate(
                task_id=task_id_for(doc_id, sentence_offset + index, text, (subj.start, subj.end),
                                    (obj.start, obj.end)),
                doc_id=doc_id, sentence_index=sentence_offset + index, text=text, subject=subj, object=obj,
                extracted_predicate=t.predicate if t is not None else None,
                confidence=t.confidence if t is not None else None,
                features=pair_features(s, o, t.predicate if t is not None else None)))
    return out


# --------------------------------------------------------------------------- features


def _lemma(tok) -> str:
    return (tok.lemma_ or tok.text).lower()


def _bucket(n: int) -> str:
    return str(n) if n <= 3 else ("4-6" if n <= 6 else ("7-10" if n <= 10 else "11+"))


def _dep_path(a, b) -> tuple[list[str], Any, list[str], list[Any]] | None:
    """(labels going up from a, lowest common ancestor, labels going down to b, tokens on the path)."""
    up = [a, *a.ancestors]
    down = [b, *b.ancestors]
    position = {t.i: k for k, t in enumerate(down)}
    for k, tok in enumerate(up):
        if tok.i in position:
            rise, fall = up[:k], down[:position[tok.i]]
            inner = [t for t in rise[1:]] + [t for t in fall[1:]]
            return [t.dep_ for t in rise], tok, [t.dep_ for t in reversed(fall)], inner
    return None


def pair_features(subject: Span, obj: Span, extracted_predicate: str | None = None) -> dict[str, float]:
    """Sparse features of an argument pair in its sentence (see the module docstring)."""
    doc = subject.doc
    sent = subject.sent
    first, second = (subject, obj) if subject.start <= obj.start else (obj, subject)
    f: dict[str, float] = {}

    def on(name: str) -> None:
        f[name] = 1.0

    on("order=" + ("s<o" if first is subject else "o<s"))
    ts, to = arg_label(subject), arg_label(obj)
    on("ts=" + ts)
    on("to=" + to)
    on(f"types={ts}|{to}")
    between = [t for t in doc[first.end:second.start] if not t.is_space]
    words = [_lemma(t) for t in between if not t.is_punct]
    for w in words:
        on("bw=" + w)
    if words:
        on("bw_first=" + words[0])
        on("bw_last=" + words[-1])
    else:
        on("bw=<none>")
    on("bw_n=" + _bucket(len(between)))
    if any(t.text == "," for t in between):
        on("bw_comma")
    for k in (1, 2):
        left = first.start - k
        right = second.end + k - 1
        on(f"l{k}=" + (_lemma(doc[left]) if left >= sent.start else "<s>"))
        on(f"r{k}=" + (_lemma(doc[right]) if right < sent.end else "</s>"))
    hs, ho = subject.root, obj.root
    on("hs=" + _lemma(hs))
    on("ho=" + _lemma(ho))
    path = _dep_path(hs, ho)
    if path is None:
        on("path=<none>")
    else:
        rise, lca, fall, inner = path
        deps = "^".join(rise) + ">" + "v".join(fall)
        on("path_deps=" + deps)
        on("path=" + "^".join(rise) + ">" + _lemma(lca) + ">" + "v".join(fall))
        on("lca=" + _lemma(lca))
        on("path_len=" + _bucket(len(rise) + len(fall)))
        for t in inner:
            if not t.is_punct:
                on("pw=" + _lemma(t))
    if extracted_predicate:
        on("kp=" + extracted_predicate)
        for w in extracted_predicate.split():
            on("kpw=" + w)
    else:
        on("kp=<none>")
    return f


def features_for_text(nlp, items: Sequence[tuple[str, tuple[int, int], tuple[int, int], str | None]],
                      batch_size: int = 64) -> list[dict[str, float] | None]:
    """Features of ``(sentence text, subject span, object span, extracted predicate)`` items,
    each sentence parsed once (``nlp.pipe``); None where a span does not fall on tokens."""
    texts = list(dict.fromkeys(text for text, *_ in items))
    docs = dict(zip(texts, nlp.pipe(texts, batch_size=batch_size)))
    out: list[dict[str, float] | None] = []
    for text, (ss, se), (os_, oe), predicate in items:
        doc = docs[text]
        s, o = _span_of(doc, ss, se), _span_of(doc, os_, oe)
        if s is None or o is None or s.sent != o.sent:
            out.append(None)
        else:
            out.append(pair_features(s, o, predicate))
    return out


# --------------------------------------------------------------------------- classifier


class RelationModel:
    """DictVectorizer + multinomial logistic regression over pair features (module docstring)."""

    def __init__(self, relations: Sequence[str], C: float = 1.0, threshold: float = 0.0, seed: int = 0):
        self.relations = list(relations)
        self.C = C
        self.threshold = threshold
        self.seed = seed
        self.vectorizer = None
        self.classifier = None
        self.classes: list[str] = []
        self.columns = None  # vectorizer columns the classifier was fitted on
        self.trained_on = 0
        self.label_counts: dict[str, int] = {}
        self.train_keys: list[str] = []
        self.created_at: str | None = None
        self.meta: dict[str, Any] = {}

    # -- fitting
    def fit(self, features: Sequence[Mapping[str, float]], labels: Sequence[str],
            train_keys: Iterable[str] = (), vectorizer=None) -> RelationModel:
        """Fit on labelled pairs. ``vectorizer``: an already fitted DictVectorizer to reuse (the
        bench fits one over the whole pool once); default: fitted on ``features``."""
        import numpy as np
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        if not labels:
            raise LabelError("no labels to train on: import some first (kgpipe label import FILE)")
        allowed = set(self.relations) | {NO_RELATION}
        unknown = sorted(set(labels) - allowed)
        if unknown:
            raise LabelError(f"labels name relations that are not targets: {unknown}")
        if vectorizer is None:
            vectorizer = DictVectorizer(sparse=True).fit(features)
        self.vectorizer = vectorizer
        counts = Counter(labels)
        self.label_counts = dict(sorted(counts.items()))
        self.classes = sorted(counts)
        self.trained_on = len(labels)
        self.train_keys = sorted(set(train_keys))
        self.created_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(self.classes) == 1:
            self.classifier = None  # a single class: predicted with probability 1
            return self
        X = vectorizer.transform(features).tocsc()
        # only features seen in the labelled rows can get a weight: fitting on those columns
        # alone gives the same model and keeps L-BFGS small when the vectorizer spans a big pool
        self.columns = np.flatnonzero(np.diff(X.indptr))
        self.classifier = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        self.classifier.fit(X[:, self.columns].tocsr(), labels)
        self.classes = [str(c) for c in self.classifier.classes_]
        return self

    # -- prediction
    def predict_proba(self, features: Sequence[Mapping[str, float]]):
        """Array (n, len(self.classes)) of class probabilities."""
        import numpy as np
        if self.vectorizer is None:
            raise RuntimeError("the relation model is not fitted")
        if not features:
            return np.zeros((0, len(self.classes)))
        return self.predict_proba_matrix(self.vectorizer.transform(features))

    def predict_proba_matrix(self, X):
        """Class probabilities of rows already vectorised with ``self.vectorizer``."""
        import numpy as np
        if self.classifier is None:
            return np.ones((X.shape[0], 1))
        return self.classifier.predict_proba(X[:, self.columns])

    def decide(self, probabilities, threshold: float | None = None) -> list[tuple[str, float, float]]:
        """Per row: (best class, its probability, probability of ``NO_RELATION``). A relation is
        accepted when it is the most probable class and reaches ``threshold`` (default: the
        model's own); otherwise the decision is ``NO_RELATION``."""
        threshold = self.threshold if threshold is None else threshold
        out = []
        none_index = self.classes.index(NO_RELATION) if NO_RELATION in self.classes else None
        for row in probabilities:
            best = int(row.argmax())
            p_none = float(row[none_index]) if none_index is not None else 0.0
            label, p = self.classes[best], float(row[best])
            if label != NO_RELATION and p < threshold:
                label = NO_RELATION
            out.append((label, p, p_none))
        return out

    # -- persistence
    def save(self, path: str | Path) -> Path:
        """One joblib file (pickle: load only models you trained yourself)."""
        import joblib
        import sklearn
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
                   "sklearn_version": sklearn.__version__, "relations": self.relations, "C": self.C,
                   "threshold": self.threshold, "seed": self.seed, "vectorizer": self.vectorizer,
                   "columns": self.columns, "classifier": self.classifier, "classes": self.classes,
                   "trained_on": self.trained_on,
                   "label_counts": self.label_counts, "train_keys": self.train_keys,
                   "created_at": self.created_at, "meta": self.meta}
        tmp = path.with_name(f".{path.name}.tmp")
        joblib.dump(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RelationModel:
        import joblib
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"relation model {path} not found (train one with `kgpipe label train`)")
        try:
            payload = joblib.load(path)
        except Exception as exc:
            raise LabelError(f"{path} is not a readable relation model: {type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
            raise LabelError(f"{path} is not a kgpipe relation model")
        if payload.get("format_version") != MODEL_FORMAT_VERSION:
            raise LabelError(f"{path}: model format version {payload.get('format_version')}, "
                             f"this kgpipe reads {MODEL_FORMAT_VERSION}")
        model = cls(payload["relations"], payload["C"], payload["threshold"], payload["seed"])
        for name in ("vectorizer", "columns", "classifier", "classes", "trained_on", "label_counts", "train_keys",
                     "created_at", "meta"):
            setattr(model, name, payload[name])
        return model

    def describe(self) -> dict:
        return {"classes": self.classes, "trained_on": self.trained_on, "label_counts": self.label_counts,
                "threshold": self.threshold, "created_at": self.created_at}


@functools.lru_cache(maxsize=4)
def load_model(path: str) -> RelationModel:
    """``RelationModel.load`` cached per process (Spark workers load it once)."""
    return RelationModel.load(path)


# --------------------------------------------------------------------------- applying the model


def object_type(span: Span) -> str:
    """kgpipe's object types for a mention: DATE/TIME date, CARDINAL/ORDINAL number,
    MONEY/QUANTITY/PERCENT quantity, other NER labels and proper nouns entity, else string."""
    # the extractor's own label -> literal type table
    from kgpipe.extraction import LITERAL_KINDS
    if span.label_:
        return LITERAL_KINDS.get(span.label_, "entity")
    return "entity" if span.root.pos_ == "PROPN" else "string"


def classify_sentence(model: RelationModel, sent: Span, triples: Sequence[Triple],
                      keep_rejected: bool = False, add_pairs: bool = True, max_pairs: int = 200,
                      threshold: float | None = None) -> list[Triple]:
    """The triples of one sentence (``triples``: the ones it states, as
    ``kgpipe.extraction.triples_by_sentence`` groups them) as the classifier sees them.

    Each kgpipe triple: accepted -> predicate = ``relation_predicate(relation)``, confidence =
    the relation's probability; rejected (``NO_RELATION`` or below the threshold) -> dropped,
    or with ``keep_rejected`` kept as it was with confidence ``1 - p(no relation)``. With
    ``add_pairs`` the sentence's mention pairs that no triple covers are classified too and
    accepted ones become new triples (object type from the object's NER label). A triple whose
    arguments do not both lie in the sentence is returned unchanged."""
    from kgpipe.extraction import Triple
    pairs = sentence_pairs(sent, triples, max_pairs, every_triple=True)
    if not add_pairs:
        pairs = [p for p in pairs if p[2] is not None]
    # a triple the classifier cannot see as a pair of this sentence (an argument resolved to a
    # pronoun's antecedent in an earlier sentence, subject = object) passes through unchanged
    paired = {id(t) for _, _, t in pairs if t is not None}
    out: list[Triple] = [t for t in triples if id(t) not in paired]
    if not pairs:
        return out
    feats = [pair_features(s, o, t.predicate if t is not None else None) for s, o, t in pairs]
    decisions = model.decide(model.predict_proba(feats), threshold)
    for (s, o, t), (label, p, p_none) in zip(pairs, decisions):
        if label == NO_RELATION:
            if t is not None and keep_rejected:
                out.append(dataclasses.replace(t, confidence=round(1.0 - p_none, 3)))
            continue
        predicate = relation_predicate(label)
        if t is not None:
            out.append(dataclasses.replace(t, predicate=predicate, confidence=round(p, 3)))
        else:
            out.append(Triple(subject=s.text, subject_start=s.start_char, subject_end=s.end_char,
                              predicate=predicate, object=o.text, object_start=o.start_char,
                              object_end=o.end_char, object_type=object_type(o), qualifiers={},
                              confidence=round(p, 3), subject_head=s.root.idx, object_head=o.root.idx))
    return out


# --------------------------------------------------------------------------- selection


def _uncertainty_scores(probabilities, strategy: str) -> list[float]:
    out = []
    for row in probabilities:
        ordered = sorted((float(x) for x in row), reverse=True)
        top = ordered[0] if ordered else 1.0
        second = ordered[1] if len(ordered) > 1 else 0.0
        out.append(1.0 - (top - second) if strategy == "margin" else 1.0 - top)
    return out


def cold_start_probabilities(candidates: Sequence[Candidate]) -> list[list[float]]:
    """Two-class probabilities (relation, none) from the rule-based extractor alone."""
    rows = []
    for c in candidates:
        p = c.confidence if c.confidence is not None else COLD_PAIR_P
        rows.append([p, 1.0 - p])
    return rows


def _words(text: str) -> frozenset[str]:
    from kgpipe.evaluation import match_tokens
    return frozenset(match_tokens(text))


def centrality(candidates: Sequence[Candidate], pagerank: Mapping[str, float]) -> list[float]:
    """Pagerank percentile in [0, 1] of each candidate's most central argument entity (0 when
    neither argument is a known entity)."""
    values = sorted(pagerank.values())
    if not values:
        return [0.0] * len(candidates)
    from bisect import bisect_right
    out = []
    for c in candidates:
        ranks = [pagerank[e] for e in c.entity_ids if e in pagerank]
        out.append(bisect_right(values, max(ranks)) / len(values) if ranks else 0.0)
    return out


def select(candidates: Sequence[Candidate], n: int, strategy: str, probabilities=None,
           pagerank: Mapping[str, float] | None = None, centrality_weight: float = 0.5,
           seed: int = 0) -> list[int]:
    """Indices of the ``n`` candidates to label next (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if n < 0:
        raise ValueError("n must be >= 0")
    n = min(n, len(candidates))
    if strategy == "random":
        return sorted(random.Random(seed).sample(range(len(candidates)), n))
    if probabilities is None:
        probabilities = cold_start_probabilities(candidates)
    if len(probabilities) != len(candidates):
        raise ValueError(f"{len(probabilities)} probability rows for {len(candidates)} candidates")
    scores = _uncertainty_scores(probabilities, "margin" if strategy == "margin" else "uncertainty")
    if pagerank and centrality_weight:
        scores = [s * (1.0 + centrality_weight * c) for s, c in zip(scores, centrality(candidates, pagerank))]
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].task_id))
    if strategy != "diversity":
        return order[:n]
    chosen: list[int] = []
    chosen_words: list[frozenset[str]] = []
    for i in order:
        if len(chosen) == n:
            break
        words = _words(candidates[i].text)
        if any(len(words | w) and len(words & w) / len(words | w) >= DUPLICATE_JACCARD for w in chosen_words):
            continue
        chosen.append(i)
        chosen_words.append(words)
    if len(chosen) < n:  # every remaining candidate is a near duplicate: fill in uncertainty order
        taken = set(chosen)
        chosen.extend(i for i in order if i not in taken)
        chosen = chosen[:n]
    return chosen


# --------------------------------------------------------------------------- Label Studio


def label_studio_task(c: Candidate, relations: Sequence[str], proposed: str | None = None,
                      score: float | None = None, model_version: str = "kgpipe") -> dict:
    """One Label Studio task for a candidate (format in the module docstring)."""
    proposed = proposed or NO_RELATION
    result = [
        {"id": "subj", "from_name": "entity", "to_name": "text", "type": "labels",
         "value": {"start": c.subject.start, "end": c.subject.end, "text": c.subject.text,
                   "labels": [SUBJECT_LABEL]}},
        {"id": "obj", "from_name": "entity", "to_name": "text", "type": "labels",
         "value": {"start": c.object.start, "end": c.object.end, "text": c.object.text,
                   "labels": [OBJECT_LABEL]}},
        {"from_id": "subj", "to_id": "obj", "type": "relation", "direction": "right", "labels": [proposed]},
        {"from_name": "relation", "to_name": "text", "type": "choices", "value": {"choices": [proposed]}},
    ]
    prediction: dict[str, Any] = {"model_version": model_version, "result": result}
    if score is not None:
        prediction["score"] = round(float(score), 4)
    return {"data": {"text": c.text, "task_id": c.task_id, "doc_id": c.doc_id,
                     "sentence_index": c.sentence_index, "subject": c.subject.text, "object": c.object.text,
                     "subject_start": c.subject.start, "subject_end": c.subject.end,
                     "object_start": c.object.start, "object_end": c.object.end,
                     "subject_label": c.subject.label, "object_label": c.object.label,
                     "proposed_relation": proposed, "candidate_relations": [*relations, NO_RELATION],
                     "extracted_predicate": c.extracted_predicate},
            "predictions": [prediction]}


def label_config_xml(relations: Sequence[str]) -> str:
    """The Label Studio labelling interface that matches ``label_studio_task``."""
    from xml.sax.saxutils import quoteattr
    choices = "\n".join(f"    <Choice value={quoteattr(r)}/>" for r in [*relations, NO_RELATION])
    arrows = "\n".join(f"    <Relation value={quoteattr(r)}/>" for r in relations)
    return f"""<View>
  <Header value="Which relation does the sentence state between $subject and $object?"/>
  <Labels name="entity" toName="text">
    <Label value="{SUBJECT_LABEL}" background="#ffa39e"/>
    <Label value="{OBJECT_LABEL}" background="#91d5ff"/>
  </Labels>
  <Text name="text" value="$text"/>
  <Relations>
{arrows}
  </Relations>
  <Choices name="relation" toName="text" choice="single" showInline="false">
{choices}
  </Choices>
</View>
"""


@dataclass(frozen=True)
class Task:
    """What the importer needs to know about a task written by ``select``."""
    task_id: str
    doc_id: str
    sentence_index: int
    text: str
    subject: tuple[int, int]
    object: tuple[int, int]
    proposed_relation: str | None
    extracted_predicate: str | None

    @classmethod
    def from_task_json(cls, task: Mapping[str, Any]) -> Task:
        d = task["data"]
        return cls(d["task_id"], d.get("doc_id") or "", int(d.get("sentence_index") or 0), d["text"],
                   (int(d["subject_start"]), int(d["subject_end"])),
                   (int(d["object_start"]), int(d["object_end"])),
                   d.get("proposed_relation"), d.get("extracted_predicate"))


def read_tasks(paths: Iterable[str | Path]) -> dict[str, Task]:
    """Tasks of ``select``'s JSONL files, by task id."""
    tasks: dict[str, Task] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    task = Task.from_task_json(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    raise LabelError(f"{path}:{line_no}: not a kgpipe task: {exc}") from exc
                tasks[task.task_id] = task
    return tasks


@dataclass(frozen=True)
class Label:
    task_id: str
    relation: str
    labeler: str
    subject: tuple[int, int]
    object: tuple[int, int]
    record: str  # where in the file (for messages)


def _records(path: Path) -> list[tuple[str, Any]]:
    """(position, JSON value) of a JSON list file or a JSONL file."""
    text = path.read_text("utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}: not valid JSON: {exc}") from exc
        return [(f"item {i}", v) for i, v in enumerate(values)]
    out = []
    problems = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((f"line {line_no}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}: line {line_no}: not JSON: {exc}")
    if problems:
        raise LabelError("\n".join(problems))
    return out


def _labeler(annotation: Mapping[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, Mapping):
        who = who.get("email") or who.get("id")
    return str(who) if who not in (None, "") else "label-studio"


def _from_label_studio(task: Mapping[str, Any], where: str) -> tuple[list[dict], int, list[str]]:
    """Plain label dicts from one exported Label Studio task; also cancelled count, problems."""
    data = task.get("data") or {}
    task_id = data.get("task_id")
    labels, problems, cancelled = [], [], 0
    if not task_id:
        return [], 0, [f"{where}: task has no data.task_id (was it created by kgpipe label select?)"]
    for k, annotation in enumerate(task.get("annotations") or ()):
        if annotation.get("was_cancelled"):
            cancelled += 1
            continue
        relation = None
        spans: dict[str, dict] = {}
        for item in annotation.get("result") or ():
            kind = item.get("type")
            value = item.get("value") or {}
            if kind == "choices" and item.get("from_name", "relation") == "relation":
                chosen = value.get("choices") or []
                if len(chosen) != 1:
                    problems.append(f"{where}: annotation {k}: expected one relation choice, got {chosen}")
                else:
                    relation = chosen[0]
            elif kind == "relation" and relation is None:
                chosen = item.get("labels") or []
                if len(chosen) == 1:
                    relation = chosen[0]
            elif kind == "labels":
                for tag in value.get("labels") or ():
                    if tag in (SUBJECT_LABEL, OBJECT_LABEL):
                        spans[tag] = value
        label: dict[str, Any] = {"task_id": task_id, "relation": relation, "labeler": _labeler(annotation),
                                 "_where": f"{where} annotation {k}"}
        for tag, key in ((SUBJECT_LABEL, "subject"), (OBJECT_LABEL, "object")):
            if tag in spans:
                label[key] = spans[tag]
        labels.append(label)
    return labels, cancelled, problems


def parse_label_file(path: str | Path, tasks: Mapping[str, Task], relations: Sequence[str]
                     ) -> tuple[list[Label], dict[str, int]]:
    """Validated labels of a Label Studio export or a plain JSONL/JSON label file, and counts
    (``records``, ``labels``, ``cancelled``). Raises ``LabelError`` listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file {path} not found")
    allowed = set(relations) | {NO_RELATION}
    raw: list[dict] = []
    problems: list[str] = []
    cancelled = 0
    records = _records(path)
    for where, value in records:
        if not isinstance(value, Mapping):
            problems.append(f"{where}: expected a JSON object, got {type(value).__name__}")
        elif "annotations" in value or "data" in value:
            found, n_cancelled, issues = _from_label_studio(value, where)
            raw.extend(found)
            cancelled += n_cancelled
            problems.extend(issues)
        else:
            raw.append({**value, "_where": where})
    labels: list[Label] = []
    for item in raw:
        where = item.get("_where", "?")
        task_id = item.get("task_id")
        task = tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            problems.append(f"{where}: unknown task id {task_id!r} (not in the tasks written by label select)")
            continue
        relation = item.get("relation")
        if not isinstance(relation, str) or not relation:
            problems.append(f"{where}: task {task_id}: no relation chosen")
            continue
        if relation not in allowed:
            problems.append(f"{where}: task {task_id}: unknown relation {relation!r}; "
                            f"known: {', '.join(sorted(allowed))}")
            continue
        spans = {}
        for key, default in (("subject", task.subject), ("object", task.object)):
            value = item.get(key)
            if value is None:
                spans[key] = default
                continue
            try:
                start, end = int(value["start"]), int(value["end"])
            except (KeyError, TypeError, ValueError):
                problems.append(f"{where}: task {task_id}: {key} span needs integer start and end, got {value!r}")
                continue
            if not 0 <= start < end <= len(task.text):
                problems.append(f"{where}: task {task_id}: {key} span [{start}, {end}) out of range "
                                f"(sentence has {len(task.text)} characters)")
                continue
            text = value.get("text") if isinstance(value, Mapping) else None
            if text is not None and text != task.text[start:end]:
                problems.append(f"{where}: task {task_id}: {key} text {text!r} is not the sentence's "
                                f"{task.text[start:end]!r} at [{start}, {end})")
                continue
            spans[key] = (start, end)
        if len(spans) < 2:
            continue
        (ss, se), (os_, oe) = spans["subject"], spans["object"]
        if ss < oe and os_ < se:
            problems.append(f"{where}: task {task_id}: subject [{ss}, {se}) and object [{os_}, {oe}) overlap")
            continue
        labels.append(Label(task_id, relation, str(item.get("labeler") or "unknown"), spans["subject"],
                            spans["object"], where))
    if problems:
        shown = problems[:50]
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise LabelError(f"{path}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(shown) + more)
    return labels, {"records": len(records), "labels": len(labels), "cancelled": cancelled}


def label_rows(labels: Sequence[Label], tasks: Mapping[str, Task], source_file: str,
               imported_at: dt.datetime) -> list[dict]:
    """Rows of the ``labels`` table (schema in ``schemas.tables``). ``label_id`` =
    stable_id(task_id, labeler): a labeler's later label for a task replaces the earlier one."""
    rows = []
    for label in labels:
        task = tasks[label.task_id]
        (ss, se), (os_, oe) = label.subject, label.object
        rows.append({
            "label_id": stable_id("label", label.task_id, label.labeler),
            "task_id": label.task_id, "doc_id": task.doc_id, "sentence_index": task.sentence_index,
            "sentence_text": task.text, "subject": task.text[ss:se], "subject_start": ss, "subject_end": se,
            "object": task.text[os_:oe], "object_start": os_, "object_end": oe,
            "relation": label.relation, "proposed_relation": task.proposed_relation,
            "extracted_predicate": task.extracted_predicate, "labeler": label.labeler,
            "source_file": source_file, "imported_at": imported_at,
        })
    return rows


#: columns whose change makes an imported label an update (the rest is bookkeeping)
LABEL_CONTENT = ("task_id", "relation", "subject_start", "subject_end", "object_start", "object_end", "labeler")


def merge_labels(existing: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
                 ) -> tuple[list[dict], dict[str, int]]:
    """Existing rows updated with new ones by ``label_id``; an identical label keeps its
    earlier row (and ``imported_at``), so importing a file twice changes nothing."""
    merged = {row["label_id"]: dict(row) for row in existing}
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    for row in new:
        old = merged.get(row["label_id"])
        if old is None:
            counts["added"] += 1
        elif all(old.get(k) == row.get(k) for k in LABEL_CONTENT):
            counts["unchanged"] += 1
            continue
        else:
            counts["updated"] += 1
        merged[row["label_id"]] = dict(row)
    return sorted(merged.values(), key=lambda r: r["label_id"]), counts


def training_examples(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One example per task: the majority relation of its labels (ties: the latest import,
    then the relation name), with the spans of a label that chose it."""
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task_id"], []).append(row)
    out = []
    for task_id in sorted(by_task):
        group = by_task[task_id]
        votes = Counter(r["relation"] for r in group)
        latest = {r["relation"]: r["imported_at"] for r in group}
        relation = max(votes, key=lambda rel: (votes[rel], str(latest[rel]), rel))
        row = max((r for r in group if r["relation"] == relation), key=lambda r: str(r["imported_at"]))
        out.append({**row, "votes": dict(votes)})
    return out


# --------------------------------------------------------------------------- metrics


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: share-weighted |accuracy - mean confidence| over equal-width confidence bins."""
    if not confidences:
        return 0.0
    total = len(confidences)
    sums: dict[int, list[float]] = {}
    for p, ok in zip(confidences, correct):
        b = min(bins - 1, int(p * bins))
        acc = sums.setdefault(b, [0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += p
        acc[2] += 1.0 if ok else 0.0
    return sum(n / total * abs(ok / n - p / n) for n, p, ok in sums.values())
