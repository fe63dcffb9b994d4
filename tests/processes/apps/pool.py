"""multiprocessing: the parent makes one call, then its children make calls of their own.

``python -m tests.processes.apps.pool MODE``: MODE ``process-fork`` is issue 17's scenario (4
``Process`` children, 3 calls each, living past an export interval); ``pool-fork`` and
``pool-spawn`` are a ``Pool`` (of 4, and of 2 for spawn) over 12 tasks. ``SETUP=configure`` sets up with
``configure_otlp()``; ``SETUP=auto`` leaves it to ``opentelemetry-instrument``; ``SETUP=app`` builds
the providers here, the README's recipe for an application's own providers.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

import tokentrace
from tests.processes.apps.common import one_call

CHILDREN = 4
CALLS_PER_CHILD = 3
TASKS = 12
# Each spawned child is a new interpreter importing the SDKs again: two keep the test quick.
SPAWN_CHILDREN = 2


def setup() -> None:
    how = os.environ.get("SETUP", "configure")
    if how == "configure":
        tokentrace.configure_otlp(service_name=os.environ["APP_SERVICE"])
        tokentrace.instrument(["openai"])
    elif how == "app":
        app_built_providers()
    # "auto": opentelemetry-instrument has set the providers up and loaded tokentrace already.


def app_built_providers() -> None:
    """Providers the application builds itself, made fork-safe with tokentrace's hooks."""
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from tokentrace.otlp import ProcessLocalMetricExporter, ProcessLocalSpanExporter, clear_in_children

    resource = Resource.create({"service.name": os.environ["APP_SERVICE"]})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(ProcessLocalSpanExporter(OTLPSpanExporter)))
    reader = PeriodicExportingMetricReader(ProcessLocalMetricExporter(OTLPMetricExporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    clear_in_children(meter_provider)
    tokentrace.instrument(["openai"], tracer_provider=tracer_provider, meter_provider=meter_provider)
    APP_PROVIDERS.extend([tracer_provider, meter_provider])


APP_PROVIDERS: list[object] = []


def child_calls() -> None:
    for _ in range(CALLS_PER_CHILD):
        one_call()
    # Past an export interval: the periodic export, not only the exit, has to be right.
    time.sleep(float(os.environ["OTEL_METRIC_EXPORT_INTERVAL"]) / 1000 * 2)
    flush_app_providers()


def task(_: int) -> str:
    return one_call()


def flush_app_providers() -> None:
    # An application's own providers are flushed by the application: multiprocessing's children
    # end with os._exit, where the SDK's atexit handlers never run.
    for provider in APP_PROVIDERS:
        provider.force_flush()  # type: ignore[attr-defined]


def main(mode: str) -> None:
    setup()
    print("parent", one_call("before-fork"), flush=True)
    if mode == "process-fork":
        context = multiprocessing.get_context("fork")
        children = [context.Process(target=child_calls) for _ in range(CHILDREN)]
        for child in children:
            child.start()
        for child in children:
            child.join()
            assert child.exitcode == 0, child.exitcode
    else:
        method = mode.removeprefix("pool-")
        context = multiprocessing.get_context(method)
        # spawn starts new interpreters: each sets itself up. A forked child is set up already.
        initializer = setup if method != "fork" else None
        pool = context.Pool(SPAWN_CHILDREN if method == "spawn" else CHILDREN, initializer=initializer)
        instances = pool.map(task, range(TASKS), chunksize=1)
        # close + join, not terminate (what ``with Pool()`` does): workers end normally and flush.
        pool.close()
        pool.join()
        print("children", " ".join(sorted(set(instances))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
