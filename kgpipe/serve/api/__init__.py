"""``kgpipe serve``: the HTTP service over the current index bundle (FastAPI).

``create_app(config, warehouse)`` builds the application; ``serve(...)`` runs it with uvicorn. The same
queries work without HTTP through :class:`kgpipe.serve.kg.KnowledgeGraph`.
"""
from kgpipe.serve.api.app import create_app, serve
from kgpipe.serve.api.auth import AuthConfigError

__all__ = ["AuthConfigError", "create_app", "serve"]
