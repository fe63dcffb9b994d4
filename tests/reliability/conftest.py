"""Fixtures of the reliability tests: span-end counting and a fake server with custom routes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from tests.reliability.cases import Clients, ProviderCase
from tokentrace.testing import FakeProvider, Route


class EndCounter(SpanProcessor):
    """Counts how often each span reached the processors' ``on_end``."""

    def __init__(self) -> None:
        self.ends: Counter[int] = Counter()

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.ends[span.context.span_id] += 1


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def span_ends(tracer_provider: TracerProvider) -> Iterator[EndCounter]:
    """Each span must end exactly once: counted by a processor, and no "already ended" warning."""
    counter = EndCounter()
    tracer_provider.add_span_processor(counter)
    records = _Records()
    sdk_logger = logging.getLogger("opentelemetry.sdk.trace")
    sdk_logger.addHandler(records)
    try:
        yield counter
    finally:
        sdk_logger.removeHandler(records)
    assert not [message for message in records.messages if "ended span" in message], records.messages
    assert all(count == 1 for count in counter.ends.values()), counter.ends


@pytest.fixture
def custom_fake() -> Iterator[Callable[[Sequence[Route]], FakeProvider]]:
    """``custom_fake([Route(...)])``: a fake provider with only these routes, stopped after the test."""
    started: list[FakeProvider] = []

    def start(routes: Sequence[Route], backlog: int = 512) -> FakeProvider:
        fake = FakeProvider(routes=routes)
        # Hundreds of clients connect at once in the load tests; the stdlib default backlog is 5.
        fake._server.socket.listen(backlog)
        started.append(fake.start())
        return fake

    yield start
    for fake in started:
        fake.stop()


def pytest_make_parametrize_id(config: Any, val: Any, argname: str) -> str | None:
    case_id = getattr(val, "id", None)
    return case_id if isinstance(case_id, str) else None


@pytest.fixture(scope="session")
def client_pool(fake_provider: FakeProvider) -> Iterator[Callable[..., Clients]]:
    """``client_pool(case)``: that case's clients on the session's fake provider, made once."""
    pool: dict[tuple[str, float | None], Clients] = {}

    def get(case: ProviderCase, timeout: float | None = None) -> Clients:
        key = (case.id, timeout)
        if key not in pool:
            pool[key] = Clients(case, fake_provider.base_url(case.base), timeout)
        return pool[key]

    yield get
    for clients in pool.values():
        clients.close()
