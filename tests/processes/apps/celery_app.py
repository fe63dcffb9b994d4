"""A Celery app on the prefork pool, with a broker that needs no server (kombu's filesystem transport).

The worker's main process imports this module and sets tokentrace up once; the prefork pool forks
its children from it (the README's Celery recipe). Children end through billiard, which runs no
atexit handler: ``worker_process_shutdown`` flushes each one.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_shutdown

import tokentrace
from tests.processes.apps.common import one_call

providers = tokentrace.configure_otlp(service_name=os.environ["APP_SERVICE"])
tokentrace.instrument(["openai"])
if os.environ.get("APP_CALL_AT_IMPORT") == "1":
    # Work done in the worker's main process before the pool forks: never a child's tokens.
    one_call("before-fork")

folder = os.environ["CELERY_BROKER_FOLDER"]
app = Celery("tokentrace-test", broker="filesystem://")
# control_folder too: kombu's default is "control" in the working directory (the checkout).
app.conf.broker_transport_options = {
    "data_folder_in": folder,
    "data_folder_out": folder,
    "control_folder": folder,
}
app.conf.task_ignore_result = True


@worker_process_shutdown.connect
def flush_telemetry(**_: object) -> None:
    providers.shutdown()


@app.task
def call() -> str:
    return one_call()
