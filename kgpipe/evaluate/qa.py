"""Question-answering quality (``kgpipe eval qa``): accuracy of :func:`kgpipe.serve.qa.answer` on a
question file, under one answer-matching rule (:func:`answer_matches`)."""
from __future__ import annotations

import json
import math
import re
import time
from importlib import resources
from pathlib import Path

from kgpipe.dates import date_key
from kgpipe.graph.resolve import normalize_surface
from kgpipe.serve.qa import QuestionError, answer, number_value

#: the shipped question set about the embedded default input
DEFAULT_QUESTIONS = resources.files("kgpipe") / "data" / "qa" / "default-questions.jsonl"
_ITEM_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*")


def _item_matches(item: str, gold: str) -> bool:
    n_item, n_gold = number_value(item), number_value(gold)
    d_item, d_gold = date_key(item), date_key(gold)
    if n_item is not None and n_gold is not None and not (d_item and d_gold):
        return math.isclose(n_item, n_gold, rel_tol=1e-9)
    if d_item and d_gold:
        # the answer may be more specific than the gold date, never less, and must agree on what both say
        return all(g is None or (i is not None and i == g) for i, g in zip(d_item, d_gold))
    key = normalize_surface(item)
    return bool(key) and key == normalize_surface(gold)


def answer_items(predicted: str | list[str]) -> list[str]:
    """The items of an answer: a list as given; a string split on commas, semicolons and "and"."""
    if isinstance(predicted, (list, tuple)):
        return [str(p) for p in predicted if str(p).strip()]
    return [part for part in _ITEM_SPLIT.split(predicted or "") if part.strip()]


def answer_matches(predicted: str | list[str], acceptable: list[str], known: bool = True) -> bool:
    """THE answer-matching rule of ``kgpipe eval qa``.

    - A question whose acceptable answers are ``[]`` is not answered by the texts: the right output is
      "not known" (``known`` false), and any other answer is wrong.
    - Otherwise a "not known" answer is wrong, and a given answer is right when it matches one acceptable
      answer as a whole, or when it is a list (or a string of items separated by commas, semicolons or
      "and") whose *every* item matches some acceptable answer. An answer that lists every candidate it
      found gets no credit for the right one among them: one wrong item makes it wrong.
    - Items match by value, never by substring:
      * numbers by value: ``1,500`` = ``1500``;
      * dates by calendar fields (any common written form: ``17 August 1945`` = ``1945-08-17`` =
        ``August 17, 1945``); an answer at least as specific as the acceptable date that agrees on every
        field it names matches (``June 12, 1806`` matches ``1806``), a less specific one does not
        (``1806`` does not match ``June 12, 1806``);
      * names and other text by :func:`kgpipe.graph.resolve.normalize_surface` equality (case, diacritics,
        punctuation, possessives, a leading article, honorifics and corporate suffixes do not count:
        ``the Netherlands`` = ``Netherlands``, ``Andre-Marie Ampere`` = ``André-Marie Ampère``). A shorter
        or longer name is a different answer: ``Lincoln`` does not match ``Abraham Lincoln`` (it may name
        his father or son) unless the question file lists ``Lincoln`` among the acceptable answers, which
        is how a question writer says that a surname is enough.
    """
    if not acceptable:
        return not known
    if not known:
        return False
    if isinstance(predicted, str) and any(_item_matches(predicted, gold) for gold in acceptable):
        return True
    items = answer_items(predicted)
    return bool(items) and all(any(_item_matches(item, gold) for gold in acceptable) for item in items)



def read_questions(path: str | Path) -> list[dict]:
    """A question file: JSONL, one ``{"question": str, "answers": [str, ...]}`` per line (``answers: []``
    for a question the texts do not answer). Blank lines are skipped; anything else that is not such an
    object raises :class:`QuestionError` naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"cannot read {path}: {exc}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise QuestionError(f"{path}:{n}: expected an object with a non-empty string 'question'")
        answers = item.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, str) and a.strip() for a in answers):
            raise QuestionError(f"{path}:{n}: 'answers' must be a list of non-empty strings ([] for "
                                f"a question the texts do not answer)")
        evidence = item.get("evidence")
        if evidence is not None and not (isinstance(evidence, str) and evidence.strip()):
            raise QuestionError(f"{path}:{n}: 'evidence', when given, must be a non-empty string (a sentence "
                                f"of the source text that answers the question)")
        out.append({"question": item["question"], "answers": answers,
                    **({"evidence": evidence} if evidence is not None else {})})
    if not out:
        raise QuestionError(f"{path}: no questions")
    return out


def _sentence_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", (text or "").lower()))


def evidence_found(retrieved: list[dict], evidence: str) -> bool:
    """Whether a retrieved fact cites the gold evidence sentence: one of its evidence sentences contains the
    gold sentence or is contained in it, compared on lower-cased words (punctuation and spacing aside)."""
    gold = _sentence_key(evidence)
    if not gold:
        return False
    for item in retrieved:
        for sentence in item.get("evidence") or []:
            key = _sentence_key(sentence)
            if key and (gold in key or key in gold):
                return True
    return False


def evaluate_qa(kg, questions_path: str | Path, details: list | None = None, mode: str = "graph",
                k: int = 10) -> dict:
    """Accuracy of :func:`answer` (in ``mode``: graph or hybrid) on a question file under :func:`answer_matches`.

    Returns ``{"questions", "correct", "accuracy", "not_known", "not_known_share", "answered",
    "answered_correct", "precision", "unanswerable", "unanswerable_correct", "seconds", "mode",
    "evidence_questions", "evidence_recall_at_k", "k"}``: ``accuracy`` is correct / questions (a "not known"
    counts as correct only for a question with ``answers: []``), ``precision`` is correct / answered among
    the answers given; ``evidence_recall_at_k`` is the share of the questions that carry an ``evidence``
    sentence whose sentence is cited by one of the k facts ``answer`` retrieved (:func:`evidence_found`;
    null when no question carries one). ``details``, when a list, receives one record per question
    (question, acceptable answers, answer, known, correct, relation, and evidence_found where evidence is
    given).
    """
    questions = read_questions(questions_path)
    started = time.monotonic()
    correct = not_known = answered_correct = unanswerable = unanswerable_correct = 0
    with_evidence = evidence_hits = 0
    for item in questions:
        result = answer(kg, item["question"], mode=mode, k=k)
        found = None
        if "evidence" in item:
            found = evidence_found(result.get("retrieved") or [], item["evidence"])
            with_evidence += 1
            evidence_hits += found
        predicted = result["answers"] if result["known"] else result["answer"]
        ok = answer_matches(predicted, item["answers"], known=result["known"])
        correct += ok
        not_known += not result["known"]
        answered_correct += ok and result["known"]
        if not item["answers"]:
            unanswerable += 1
            unanswerable_correct += ok
        if details is not None:
            details.append({"question": item["question"], "acceptable": item["answers"],
                            "answer": result["answer"], "known": result["known"], "correct": ok,
                            "relation": result["relation"], "text": result["text"],
                            **({"evidence_found": found} if found is not None else {})})
    n = len(questions)
    answered = n - not_known
    return {"questions": n, "correct": correct, "accuracy": round(correct / n, 4),
            "not_known": not_known, "not_known_share": round(not_known / n, 4), "answered": answered,
            "answered_correct": answered_correct,
            "precision": round(answered_correct / answered, 4) if answered else None,
            "unanswerable": unanswerable, "unanswerable_correct": unanswerable_correct,
            "seconds": round(time.monotonic() - started, 2), "mode": mode, "k": k,
            "evidence_questions": with_evidence,
            "evidence_recall_at_k": round(evidence_hits / with_evidence, 4) if with_evidence else None}
