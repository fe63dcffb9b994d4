"""Item 2, faults: every SDK exception reaches the caller unchanged, its span ends once with ``error.type``.

HTTP 4xx/5xx, timeouts (before the response and between chunks), refused and reset connections, a
stream cut mid-way, KeyboardInterrupt and asyncio cancellation while the SDK is blocked reading:
the caller gets exactly the exception it gets without instrumentation, the call's span ends exactly
once with status ERROR and ``error.type``, the duration point carries the same ``error.type``, and
usage that had already arrived is kept.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode

from tests.reliability.cases import PROVIDERS, Clients, ProviderCase, dump
from tests.reliability.conftest import EndCounter
from tests.reliability.netfaults import FaultyEndpoint
from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider, Reply

MODES = [
    pytest.param(False, False, id="sync"),
    pytest.param(True, False, id="async"),
    pytest.param(False, True, id="sync-stream"),
    pytest.param(True, True, id="async-stream"),
]


def raised_by(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except BaseException as exc:  # KeyboardInterrupt and cancellation included
        return exc
    raise AssertionError("the call did not raise")


def chain(exc: BaseException | None) -> list[str]:
    """The exception and its causes and contexts, by type."""
    seen: list[str] = []
    while exc is not None and len(seen) < 10:
        seen.append(type(exc).__qualname__)
        exc = exc.__cause__ or exc.__context__
    return seen


def assert_same_exception(traced: BaseException, plain: BaseException) -> None:
    assert type(traced) is type(plain)
    assert str(traced) == str(plain)
    assert chain(traced) == chain(plain)
    for name in ("status_code", "body", "code", "type", "param"):
        assert getattr(traced, name, None) == getattr(plain, name, None), name


def assert_failed_span(
    telemetry: Telemetry,
    span_ends: EndCounter,
    error_type: str,
    tokens: dict[str, tuple[int, int]] | None = None,
) -> None:
    (span,) = telemetry.spans()
    assert span.context is not None
    assert span_ends.ends[span.context.span_id] == 1
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == error_type
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 1 and point.attributes["error.type"] == error_type
    assert telemetry.token_usage() == (tokens or {})


def run_call(clients: Clients, *, stream: bool, is_async: bool) -> Any:
    return clients.call(stream=stream, is_async=is_async)


# --- HTTP errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("status", [400, 429, 503])
@pytest.mark.parametrize(("is_async", "stream"), MODES)
def test_http_error_reaches_caller_unchanged(
    case: ProviderCase,
    status: int,
    is_async: bool,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    client_pool: Callable[..., Clients],
) -> None:
    clients = client_pool(case)
    with suppress_instrumentation():
        fake.enqueue(case.route, {"error": status})
        plain = raised_by(lambda: run_call(clients, stream=stream, is_async=is_async))
    instrument(case.provider)
    fake.enqueue(case.route, {"error": status})
    traced = raised_by(lambda: run_call(clients, stream=stream, is_async=is_async))
    assert type(traced) is case.status_errors[status]
    assert_same_exception(traced, plain)
    assert_failed_span(telemetry, span_ends, case.error_type(traced))


# --- timeouts, refused and reset connections --------------------------------------------------------


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize(("is_async", "stream"), MODES)
def test_timeout_before_the_response(
    case: ProviderCase,
    is_async: bool,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    client_pool: Callable[..., Clients],
) -> None:
    clients = client_pool(case, 0.2)
    instrument(case.provider)
    fake.enqueue(case.route, Reply(delay=0.6, body=b"{}"))
    traced = raised_by(lambda: run_call(clients, stream=stream, is_async=is_async))
    assert type(traced) is case.timeout_error
    assert_failed_span(telemetry, span_ends, case.error_type(traced))


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_timeout_between_chunks(
    case: ProviderCase,
    is_async: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    client_pool: Callable[..., Clients],
) -> None:
    # The read timeout must leave room for the first chunk even on a loaded machine (0.2 s did not, and
    # the call then timed out before any chunk); the gap after it is three timeouts long.
    clients = client_pool(case, 0.5)
    with suppress_instrumentation():
        fake.enqueue(case.route, {"chunk_delay": 1.5})
        plain = raised_by(lambda: run_call(clients, stream=True, is_async=is_async))
    instrument(case.provider)
    fake.enqueue(case.route, {"chunk_delay": 1.5})
    traced = raised_by(lambda: run_call(clients, stream=True, is_async=is_async))
    # Some SDKs wrap a read timeout mid-stream (openai), others let httpx's own through (groq).
    assert isinstance(traced, (case.timeout_error, TimeoutError)) or "Timeout" in type(traced).__name__
    assert_same_exception(traced, plain)
    assert_failed_span(telemetry, span_ends, case.error_type(traced), tokens=dict(case.tokens_early))
    assert telemetry.only_span().attributes["gen_ai.response.time_to_first_chunk"] > 0


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyEndpoint]:
    with FaultyEndpoint("refuse") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def faulty_clients(faulty: FaultyEndpoint, fake_provider: FakeProvider) -> Iterator[Callable[..., Clients]]:
    """Clients pointed at the faulty endpoint, one pair per case for the module (they are slow to make)."""
    made: dict[str, Clients] = {}

    def get(case: ProviderCase) -> Clients:
        if case.id not in made:
            made[case.id] = Clients(case, _url_like(case, fake_provider, faulty.port))
        return made[case.id]

    yield get
    for clients in made.values():
        clients.close()


def _url_like(case: ProviderCase, fake: FakeProvider, port: int) -> str:
    return fake.base_url(case.base).replace(f":{fake.port}", f":{port}")


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("mode", ["refuse", "reset"])
@pytest.mark.parametrize(("is_async", "stream"), MODES)
def test_refused_and_reset_connections(
    case: ProviderCase,
    mode: Any,
    is_async: bool,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    faulty: FaultyEndpoint,
    faulty_clients: Callable[..., Clients],
) -> None:
    faulty.set_mode(mode)
    clients = faulty_clients(case)
    with suppress_instrumentation():
        plain = raised_by(lambda: run_call(clients, stream=stream, is_async=is_async))
    instrument(case.provider)
    traced = raised_by(lambda: run_call(clients, stream=stream, is_async=is_async))
    assert isinstance(traced, case.connection_error)
    if mode == "reset":
        # Whether the RST or the FIN is seen first is up to the kernel: the exact error varies run
        # to run (and SDKs that do not wrap transport errors show it).
        assert isinstance(plain, case.connection_error)
    else:
        assert_same_exception(traced, plain)
    assert_failed_span(telemetry, span_ends, case.error_type(traced))


# --- streams cut mid-way ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_stream_cut_before_usage(
    case: ProviderCase,
    is_async: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    client_pool: Callable[..., Clients],
) -> None:
    clients = client_pool(case)
    with suppress_instrumentation():
        fake.enqueue(case.route, {"cut_after": 2})
        plain = raised_by(lambda: run_call(clients, stream=True, is_async=is_async))
    instrument(case.provider)
    fake.enqueue(case.route, {"cut_after": 2})
    traced = raised_by(lambda: run_call(clients, stream=True, is_async=is_async))
    # openai wraps a broken stream in APIConnectionError; groq lets httpx's RemoteProtocolError through.
    assert_same_exception(traced, plain)
    assert_failed_span(telemetry, span_ends, case.error_type(traced), tokens=dict(case.tokens_early))


@pytest.mark.parametrize("case", [case for case in PROVIDERS if case.cut_after_usage is not None])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_stream_cut_after_usage_keeps_it(
    case: ProviderCase,
    is_async: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
    client_pool: Callable[..., Clients],
) -> None:
    clients = client_pool(case)
    instrument(case.provider)
    fake.enqueue(case.route, {"cut_after": case.cut_after_usage})
    traced = raised_by(lambda: run_call(clients, stream=True, is_async=is_async))
    assert isinstance(traced, Exception)
    input_tokens, output_tokens = case.default_tokens
    assert_failed_span(
        telemetry,
        span_ends,
        case.error_type(traced),
        tokens={"input": (input_tokens, 1), "output": (output_tokens, 1)},
    )
    attributes = telemetry.only_span().attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] == input_tokens
    assert attributes["gen_ai.usage.output_tokens"] == output_tokens


# --- KeyboardInterrupt while the SDK is blocked reading --------------------------------------------


class _Interrupt:
    """Raises KeyboardInterrupt in the main thread, as Ctrl-C does: ``delay`` seconds after entering, or
    after ``when()`` first holds (checked from a helper thread), so a loaded machine cannot interrupt the
    call before it even started."""

    def __init__(self, delay: float, when: Callable[[], bool] | None = None) -> None:
        self.delay = delay
        self.when = when
        self._done = threading.Event()

    def __enter__(self) -> _Interrupt:
        assert threading.current_thread() is threading.main_thread()
        self.previous = signal.signal(signal.SIGALRM, self._raise)
        if self.when is None:
            signal.setitimer(signal.ITIMER_REAL, self.delay)
        else:
            self._thread = threading.Thread(
                target=self._fire_when_ready, args=(threading.main_thread().ident,)
            )
            self._thread.start()
        return self

    def _fire_when_ready(self, target: int | None) -> None:
        assert self.when is not None and target is not None
        deadline = time.monotonic() + 30.0
        while not self.when():
            if self._done.wait(0.01) or time.monotonic() > deadline:
                return
        if not self._done.wait(self.delay):
            signal.pthread_kill(target, signal.SIGALRM)

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.when is None:
            signal.setitimer(signal.ITIMER_REAL, 0)
        else:
            self._thread.join()
        signal.signal(signal.SIGALRM, self.previous)


@pytest.mark.parametrize("case", PROVIDERS)
def test_keyboard_interrupt_inside_a_stream(
    case: ProviderCase, fake: FakeProvider, instrument: Any, telemetry: Telemetry, span_ends: EndCounter
) -> None:
    instrument(case.provider)
    fake.enqueue(case.route, {"chunk_delay": 2.0})
    with case.client(fake.base_url(case.base), None) as client:
        stream = case.create(client, "gpt-4o-mini", True)
        first = next(iter(stream))
        assert dump(first)
        with pytest.raises(KeyboardInterrupt), _Interrupt(0.1):
            next(iter(stream))  # blocked in the SDK's socket read when the signal arrives
        assert_failed_span(telemetry, span_ends, "KeyboardInterrupt", tokens=dict(case.tokens_early))
        stream.close()
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_keyboard_interrupt_while_waiting_for_the_response(
    case: ProviderCase,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
) -> None:
    instrument(case.provider)
    fake.enqueue(case.route, Reply(delay=2.0, body=b"{}"))
    with case.client(fake.base_url(case.base), None) as client:
        # Interrupt once the provider has the request: the call is inside the SDK, waiting for the answer.
        with (
            pytest.raises(KeyboardInterrupt),
            _Interrupt(0.1, when=lambda: bool(fake.requests_to(case.route))),
        ):
            case.create(client, "gpt-4o-mini", stream)
    assert_failed_span(telemetry, span_ends, "KeyboardInterrupt")


# --- asyncio cancellation --------------------------------------------------------------------------


@pytest.mark.parametrize("case", PROVIDERS)
async def test_wait_for_timeout_inside_a_stream(
    case: ProviderCase, fake: FakeProvider, instrument: Any, telemetry: Telemetry, span_ends: EndCounter
) -> None:
    instrument(case.provider)
    fake.enqueue(case.route, {"chunk_delay": 2.0})
    async with case.async_client(fake.base_url(case.base), None) as client:
        stream = await case.acreate(client, "gpt-4o-mini", True)
        iterator = stream.__aiter__()
        await iterator.__anext__()
        with pytest.raises(TimeoutError):
            # wait_for cancels the pending __anext__ inside the SDK's read.
            await asyncio.wait_for(iterator.__anext__(), 0.1)
        assert_failed_span(telemetry, span_ends, "CancelledError", tokens=dict(case.tokens_early))
        await stream.close()
    assert len(telemetry.spans()) == 1


@pytest.mark.parametrize("case", PROVIDERS)
async def test_cancelled_task_consuming_a_stream(
    case: ProviderCase, fake: FakeProvider, instrument: Any, telemetry: Telemetry, span_ends: EndCounter
) -> None:
    instrument(case.provider)
    fake.enqueue(case.route, {"chunk_delay": 2.0})
    received: list[Any] = []
    first = asyncio.Event()
    async with case.async_client(fake.base_url(case.base), None) as client:

        async def consume() -> None:
            async for chunk in await case.acreate(client, "gpt-4o-mini", True):
                received.append(chunk)
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5.0)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(received) == 1
    assert_failed_span(telemetry, span_ends, "CancelledError", tokens=dict(case.tokens_early))


@pytest.mark.parametrize("case", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_cancelled_while_waiting_for_the_response(
    case: ProviderCase,
    stream: bool,
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    span_ends: EndCounter,
) -> None:
    instrument(case.provider)
    fake.enqueue(case.route, Reply(delay=2.0, body=b"{}"))
    async with case.async_client(fake.base_url(case.base), None) as client:
        task = asyncio.create_task(case.acreate(client, "gpt-4o-mini", stream))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert_failed_span(telemetry, span_ends, "CancelledError")
