"""Label Studio tasks and labelling interface, and the label files that come back."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgpipe.extract.relation_model import NO_RELATION, LabelError
from kgpipe.ids import stable_id
from kgpipe.label.candidates import Candidate

#: ``labels.labeler`` of the labels ``kgpipe label distant`` derives from infobox facts (kgpipe/label/distant.py)
DISTANT_LABELER = "distant:infobox"


def is_distant(row: Mapping[str, Any]) -> bool:
    return row.get("labeler") == DISTANT_LABELER

SUBJECT_LABEL = "Subject"
OBJECT_LABEL = "Object"


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
    then the relation name), with the spans of a label that chose it. A task that a person labelled
    counts only the people's labels: a distant label (:mod:`kgpipe.label.distant`) is a guess a human
    label overrides."""
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_task.setdefault(row["task_id"], []).append(row)
    out = []
    for task_id in sorted(by_task):
        group = [r for r in by_task[task_id] if not is_distant(r)] or by_task[task_id]
        votes = Counter(r["relation"] for r in group)
        latest = {r["relation"]: r["imported_at"] for r in group}
        relation = max(votes, key=lambda rel: (votes[rel], str(latest[rel]), rel))
        row = max((r for r in group if r["relation"] == relation), key=lambda r: str(r["imported_at"]))
        out.append({**row, "votes": dict(votes)})
    return out

