"""An ASGI app for ``uvicorn --workers N``: each request makes one real SDK call to the fake provider.

uvicorn starts its workers with multiprocessing's spawn: each imports this module, so each sets
itself up here (the README's uvicorn recipe).
"""

from __future__ import annotations

import json
import os
from typing import Any

import tokentrace
from tests.processes.apps.common import one_call

tokentrace.configure_otlp(service_name=os.environ["APP_SERVICE"])
tokentrace.instrument(["openai"])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"pid": os.getpid(), "instance": one_call()}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})
