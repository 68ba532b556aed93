"""An ASGI app served by uvicorn in a thread on a free 127.0.0.1 port, for tests that need
the app's in-process state (a child `loglake serve`, `tests/conftest.py::start_server`, is
the choice when a test must kill the server)."""

from __future__ import annotations

import threading
import time

import uvicorn

from loglake.serverprocess import free_port


class ThreadServer:
    """`with ThreadServer(app) as served:` serves `app` at `served.url` until the block ends."""

    def __init__(self, app, start_timeout: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)
