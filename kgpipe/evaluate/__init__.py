"""Quality harnesses behind ``kgpipe eval``: each prints one JSON line.

* :mod:`kgpipe.evaluate.ner`: NER on CoNLL-2003;
* :mod:`kgpipe.evaluate.relations`: relation extraction on WebNLG, with baselines and a trained
  relation classifier;
* :mod:`kgpipe.evaluate.qa`: question answering on questions with accepted answers;
* :mod:`kgpipe.evaluate.infobox`: infobox facts against values checked by hand;
* :mod:`kgpipe.evaluate.entities`: resolved entities against the wiki (infobox types, self-links, split
  titles, the largest entities);
* entity linking on held-out wiki anchors runs the resolve stage itself (``jobs/resolve.py``,
  ``evaluate_linking``), and link prediction on a dataset is :func:`kgpipe.embed.train_and_evaluate`.

Engine-free (no Beam, no Spark): plain Python over a loaded spaCy pipeline or a loaded graph.
"""
