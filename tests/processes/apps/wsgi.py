"""A WSGI app for gunicorn: each request makes one real SDK call to the fake provider.

README "Multiple processes" recipe: configure at import. Without ``--preload`` each worker imports
this module itself; with ``--preload`` the master does, once, and the workers are forked from it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import tokentrace
from tests.processes.apps.common import one_call

tokentrace.configure_otlp(service_name=os.environ["APP_SERVICE"])
tokentrace.instrument(["openai"])
if os.environ.get("APP_CALL_AT_IMPORT") == "1":
    # Work done before the fork: with --preload the master's own tokens, never a worker's.
    one_call("before-fork")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = {"pid": os.getpid(), "instance": one_call()}
    time.sleep(0.02)  # a sync worker is busy a moment: concurrent requests spread over workers
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
