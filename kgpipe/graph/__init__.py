"""Rules over the graph tables: entity resolution (``resolve``), rule inference (``reason``) and export
formats (``export``); ``jobs/resolve.py``, ``jobs/reason.py`` and ``jobs/export.py`` are their Spark shells.
Reference: docs/resolve.md, docs/analyze-reason-export.md."""
