"""The ingest stage's core: dump and news readers, the wikitext cleaner, input splitting and the per-split
processing a Beam worker runs (``pipelines/ingest.py`` is the Beam shell). Reference: docs/ingest.md."""
