"""What the service serves: the FAISS index bundle (``index``, built by ``jobs/index.py``), the graph store
(``store``), the KnowledgeGraph facade (``kg``), question answering (``qa``) and the HTTP application
(``api``). Reference: docs/index.md, docs/serve.md, docs/qa.md."""
