"""Running the API with uvicorn: in the foreground (``govcloud serve``) or in a thread
(the demo and the tests)."""

from __future__ import annotations

import threading
from typing import Any, Literal

import uvicorn

from govcloud.errors import PermanentError


class ServerThread:
    """A uvicorn server in a daemon thread; ``start`` returns once it is listening."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", lifespan: Literal["auto", "on", "off"] = "on",
                 name: str = "govcloud-api", **options: Any) -> None:
        """``options`` go to ``uvicorn.Config`` (e.g. ``ssl_certfile``, ``ssl_keyfile``)."""
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                log_config=None, access_log=False, lifespan=lifespan,
                                **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)

    @property
    def port(self) -> int:
        sockets = [s for srv in self.server.servers for s in (srv.sockets or ())]
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.server.config.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        ready = threading.Event()

        def watch() -> None:
            while self.thread.is_alive() and not self.server.started:
                self.thread.join(0.01)
            ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(timeout) or not self.server.started:
            self.stop()
            raise PermanentError("the API server did not start",
                                 hint="is the port in use? the log says why")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
