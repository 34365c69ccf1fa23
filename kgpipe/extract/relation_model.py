"""The relation classifier that active learning trains and the extract stage applies.

Engine-free: spaCy spans in, scikit-learn probabilities out. ``kgpipe label train`` fits it
(:mod:`kgpipe.label`); ``extract.relation_model`` makes :func:`classify_sentence` name and score the
triples of every sentence.

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

"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgpipe.errors import CommandError
from kgpipe.extract.patterns import LITERAL_KINDS, Triple, candidate_mentions
from kgpipe.extract.text import is_property, split_property

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc, Span

NO_RELATION = "no relation"
MODEL_FORMAT = "kgpipe-relation-model"
MODEL_FORMAT_VERSION = 1


class LabelError(CommandError, ValueError):
    """A label file that cannot be imported; the message lists every problem found."""



def relation_predicate(relation: str) -> str:
    """The predicate a relation becomes in triples: a property of the vocabulary as it is (``birthPlace``),
    a phrase as lower-case words (``Born In`` -> ``born in``), as the extractor writes its own."""
    return relation if is_property(relation) else split_property(relation)



def arg_label(span: Span) -> str:
    """NER label of the span (or of its head token's entity), else ``NC:`` + head part of speech."""
    if span.label_:
        return span.label_
    if span.root.ent_type_:
        return span.root.ent_type_
    return f"NC:{span.root.pos_}"


def _sentence_mentions(sent: Span) -> list[Span]:
    # the all_pairs baseline's mention rule (entities + noun chunks), reused rather than copied
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
    if span.label_:
        return LITERAL_KINDS.get(span.label_, "entity")
    return "entity" if span.root.pos_ == "PROPN" else "string"


def classify_sentence(model: RelationModel, sent: Span, triples: Sequence[Triple],
                      keep_rejected: bool = False, add_pairs: bool = True, max_pairs: int = 200,
                      threshold: float | None = None, settled: Callable[[Triple], bool] | None = None
                      ) -> list[Triple]:
    """The triples of one sentence (``triples``: the ones it states, as
    ``kgpipe.extract.patterns.triples_by_sentence`` groups them) as the classifier sees them.

    Each kgpipe triple: accepted -> predicate = ``relation_predicate(relation)``, confidence =
    the relation's probability; rejected (``NO_RELATION`` or below the threshold) -> dropped,
    or with ``keep_rejected`` kept as it was with confidence ``1 - p(no relation)``. With
    ``add_pairs`` the sentence's mention pairs that no triple covers are classified too and
    accepted ones become new triples (object type from the object's NER label). A triple whose
    arguments do not both lie in the sentence, or that ``settled`` accepts as it is, is returned unchanged
    (its pair is not offered again)."""
    pairs = sentence_pairs(sent, triples, max_pairs, every_triple=True)
    if settled is not None:
        pairs = [p for p in pairs if p[2] is None or not settled(p[2])]
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

