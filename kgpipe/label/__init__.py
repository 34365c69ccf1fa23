"""Active learning for relation extraction: candidates, selection, Label Studio tasks and labels.

Engine-free (no Spark, no Beam): spaCy Docs in, plain dicts and a scikit-learn model out.
``kgpipe/label/commands.py`` moves warehouse rows through these functions; ``bench/active_learning.py``
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
overlap no entity and are not bare pronouns: ``kgpipe.extract.patterns.candidate_mentions``, the rule the
``all_pairs`` baseline uses), ordered as they appear. Offsets of a candidate are characters
of its sentence text. ``task_id = stable_id("label-task", doc_id, sentence_index, sentence,
subject span, object span)``: selecting again proposes the same ids.

Labels are undirected: a pair has relation R when the sentence states R between the two
arguments in either order (WebNLG's pair-matching rule ignores order too). The classifier
therefore learns *which* relation, and the triple keeps the candidate's direction.

Features and classifier: :mod:`kgpipe.extract.relation_model` (extract applies the trained model at
run time, so it lives with extraction and this package imports it).

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
