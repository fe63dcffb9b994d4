from __future__ import annotations

import gc
import weakref

from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from tokentrace._core.emitter import Emitter, current_invocation
from tokentrace._core.invocation import RequestFacts


def test_a_finished_invocation_is_freed_at_once_not_by_the_cycle_collector() -> None:
    emitter = Emitter(TracerProvider(), MeterProvider(metric_readers=[InMemoryMetricReader()]))
    gc.disable()
    try:
        invocation = emitter.start(RequestFacts("chat", "openai", "gpt-4o-mini"))
        token = otel_context.attach(invocation.context)  # type: ignore[arg-type]
        assert current_invocation() is invocation
        otel_context.detach(token)
        assert current_invocation() is None
        emitter.finish(invocation)
        reference = weakref.ref(invocation)
        context = invocation.context
        del invocation
        # Reference counting alone frees it: the context it was current in refers to it weakly.
        assert reference() is None
        token = otel_context.attach(context)  # type: ignore[arg-type]
        try:
            assert current_invocation() is None
        finally:
            otel_context.detach(token)
    finally:
        gc.enable()
