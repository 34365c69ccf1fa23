"""The real service under uvicorn in a thread, on a free loopback port, for tests that talk HTTP to it
(tests/test_web.py's browser, tests/test_contract.py's schemathesis)."""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

WAIT = 60.0


@contextlib.contextmanager
def serving(app, wait: float = WAIT) -> Iterator[str]:
    """Runs ``app`` until the block ends; yields its base URL once ``/readyz`` says ready."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))      # the port is ours from here on: no race with other test runs
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    if json.load(response)["status"] == "ready":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError("the service did not become ready")
            time.sleep(0.1)
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
