"""The service's routes, one module per OpenAPI tag (the sections of ``/docs``): ``operations``, ``graph``,
``embeddings`` and ``questions``. Each has ``add_routes(router, ...)``, which adds its routes to the
application's router, given what they need (settings, the graph holder, metrics, ``deps.RouteDeps``);
``kgpipe.serve.api.app.create_app`` calls them in that order (why not ``include_router``: app.py).

No module here uses ``from __future__ import annotations``: FastAPI reads the routes' annotations at run
time, and several of them (limits from the configuration) are local to ``add_routes``, where strings
cannot be resolved.
"""
