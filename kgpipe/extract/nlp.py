"""Loading the spaCy pipeline that extraction, labelling, evaluation and question answering share."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Sequence

from kgpipe.dates import ERAS, ERAS_BEFORE
from kgpipe.extract.pii import mask_for

if TYPE_CHECKING:
    import spacy

PII_KINDS = ("EMAIL", "PHONE", "IBAN", "CARD", "SSN", "IPV4")


def load_nlp(model: str, disable: Sequence[str] = ()) -> "spacy.Language":
    """Load a spaCy pipeline once per process (cached on ``(model, disable)``).

    PII masks (``[EMAIL]____``) are registered as tokenizer special cases so each
    mask is one token; without parser and senter a sentencizer is added.
    """
    return _load_nlp(model, tuple(disable))


@functools.lru_cache(maxsize=4)
def _load_nlp(model: str, disable: tuple[str, ...]) -> "spacy.Language":
    import spacy
    from spacy.symbols import ORTH

    _register_components()
    nlp = spacy.load(model, disable=list(disable))
    for kind in PII_KINDS:
        for n in range(3, 129):
            mask = mask_for(kind, n)
            nlp.tokenizer.add_special_case(mask, [{ORTH: mask}])
    if not ({"parser", "senter", "sentencizer"} & set(nlp.pipe_names)):
        nlp.add_pipe("sentencizer", first=True)
    if "ner" in nlp.pipe_names:
        # the small model reads "384 BC" as a number and an organisation "BC" (linked, it became the comic
        # strip B.C.); a year with its era is one date
        ruler = nlp.add_pipe("entity_ruler", name="era_dates", after="ner", config={"overwrite_ents": True})
        ruler.add_patterns([{"label": "DATE", "pattern": [{"LIKE_NUM": True}, {"TEXT": {"IN": list(ERAS)}}]},
                            {"label": "DATE", "pattern": [{"TEXT": {"IN": list(ERAS_BEFORE)}}, {"LIKE_NUM": True}]}])
        nlp.add_pipe("possessive_ents", after="era_dates")
    return nlp


def _possessive_ents(doc):
    """"Robert Graham's", "Aleksandre Guruli's club": the small model often takes the possessive ending into a
    name that possesses something, and the name would become an entity apart from "Robert Graham". A name
    ending in 's that possesses nothing ("McDonald's is ...") keeps it."""
    doc.ents = [ent[:-1] if len(ent) > 1 and ent[-1].tag_ == "POS" and ent[-2].dep_ == "poss" else ent
                for ent in doc.ents]
    return doc


def _register_components() -> None:
    from spacy.language import Language

    if not Language.has_factory("possessive_ents"):
        Language.component("possessive_ents", func=_possessive_ents)

