"""The extract stage's core: the spaCy pipeline, text preparation, PII masking, the dependency patterns that
turn sentences into triples, documents to rows, and the relation classifier applied at run time
(``jobs/extract.py`` is the Spark shell). Reference: docs/extract.md."""
