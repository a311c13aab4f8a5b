"""Run a service app with uvicorn: `python -m services.<name>`."""

import logging
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from runtime.logs import setup_logging
from runtime.settings import ServiceSettings


def serve(build: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    setup_logging(settings)
    app = build()
    # uvloop + httptools: the event loop and HTTP parser in C, not pure Python.
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5, loop="uvloop", http="httptools")
    logging.shutdown()
