"""Run a service app with uvicorn: `python -m services.<name>`.

Two listeners, one app: the API on http_host:http_port, /metrics on metrics_host:
metrics_port (loopback unless configured; runtime.http.MetricsListener keeps them apart).
A service refuses to start while its settings have problems (default secrets outside dev mode).
"""

import logging
import socket
import sys
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from runtime.logs import setup_logging
from runtime.settings import ServiceSettings

log = logging.getLogger(__name__)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(build: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    setup_logging(settings)
    if problems := settings.startup_problems():
        for problem in problems:
            log.error("refusing to start: %s", problem)
        sys.exit(f"{settings.service_name} refuses to start:\n  " + "\n  ".join(problems))
    if settings.dev_mode:
        log.warning("dev mode: secrets are not checked; never run a deployment like this")
    app = build()
    # uvloop + httptools: the event loop and HTTP parser in C, not pure Python.
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_config=None,
                            access_log=False, timeout_graceful_shutdown=5, loop="uvloop", http="httptools")
    sockets = [_listen(settings.http_host, settings.http_port),
               _listen(settings.metrics_host, settings.metrics_listener_port)]
    uvicorn.Server(config).run(sockets=sockets)
    logging.shutdown()
