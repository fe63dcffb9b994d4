"""A script that makes one call and exits: ``python -m tests.processes.apps.onecall``.

With ``SETUP=configure`` it sets up with ``configure_otlp()``; under ``opentelemetry-instrument``
(``SETUP=auto``) the distro does. It prints ``done`` after its last line of work, so the caller
can time the exit alone.
"""

from __future__ import annotations

import os

import tokentrace
from tests.processes.apps.common import one_call

if os.environ.get("SETUP", "configure") == "configure":
    tokentrace.configure_otlp(service_name=os.environ["APP_SERVICE"])
    tokentrace.instrument(["openai"])
one_call()
print("done", flush=True)
