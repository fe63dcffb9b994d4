"""The stream proxies on plain Python iterators: finalize exactly once on every way a stream ends."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tokentrace._core.emitter import Emitter
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.stream import AsyncStreamWrapper, SyncStreamWrapper


class CountingEmitter(Emitter):
    def __init__(self) -> None:
        self.finished: list[tuple[Invocation, BaseException | None]] = []

    def finish(self, invocation: Invocation, error: BaseException | None = None) -> None:
        self.finished.append((invocation, error))


class Collect:
    """An accumulator that records chunks and hides the ones equal to ``hidden``."""

    def __init__(self, hidden: object = None) -> None:
        self.seen: list[Any] = []
        self.finished = 0
        self.hidden = hidden

    def on_chunk(self, chunk: Any) -> bool:
        self.seen.append(chunk)
        return chunk != self.hidden

    def finish(self, invocation: Invocation) -> None:
        self.finished += 1


class Source:
    """A closable iterator that can fail after some items."""

    def __init__(self, items: list[Any], fail_after: int | None = None) -> None:
        self.items = list(items)
        self.fail_after = fail_after
        self.closed = False
        self.entered = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self.fail_after is not None and self.fail_after == 0:
            raise ConnectionResetError("cut")
        if self.fail_after is not None:
            self.fail_after -= 1
        if not self.items:
            raise StopIteration
        return self.items.pop(0)

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Source:
        self.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    extra_attribute = "kept"


def make(
    source: Any, accumulator: Collect | None = None
) -> tuple[SyncStreamWrapper, CountingEmitter, Collect]:
    emitter = CountingEmitter()
    accumulator = accumulator or Collect()
    invocation = Invocation(RequestFacts("chat", "test"), None, None, 0.0)
    return SyncStreamWrapper(source, invocation, accumulator, emitter), emitter, accumulator


def test_exhaustion_finalizes_once_and_passes_chunks_through() -> None:
    proxy, emitter, accumulator = make(Source([1, 2, 3]))
    assert list(proxy) == [1, 2, 3]
    assert list(proxy) == []
    assert len(emitter.finished) == 1 and emitter.finished[0][1] is None
    assert accumulator.finished == 1
    invocation = emitter.finished[0][0]
    # One arrival time per chunk, in order; the first is the time to first chunk.
    times = invocation.chunk_times
    assert times is not None and len(times) == 3 and times == sorted(times)
    assert invocation.first_chunk_at == times[0]


def test_hidden_chunks_are_skipped() -> None:
    proxy, _, accumulator = make(Source([1, "usage", 2]), Collect(hidden="usage"))
    assert list(proxy) == [1, 2]
    assert accumulator.seen == [1, "usage", 2]


def test_error_finalizes_with_the_error_and_reraises_it() -> None:
    proxy, emitter, _ = make(Source([1, 2, 3], fail_after=2))
    received = []
    with pytest.raises(ConnectionResetError):
        for chunk in proxy:
            received.append(chunk)
    assert received == [1, 2]
    assert len(emitter.finished) == 1
    assert isinstance(emitter.finished[0][1], ConnectionResetError)


def test_close_and_context_exit_finalize_once() -> None:
    source = Source([1, 2, 3])
    proxy, emitter, _ = make(source)
    with proxy as entered:
        assert entered is proxy
        assert next(entered) == 1
    assert source.entered == 1 and source.closed
    proxy.close()
    assert len(emitter.finished) == 1


def test_abandoned_stream_finalizes_on_gc() -> None:
    proxy, emitter, _ = make(Source([1, 2]))
    next(proxy)
    del proxy
    gc.collect()
    assert len(emitter.finished) == 1


def test_attributes_and_generators_pass_through() -> None:
    proxy, emitter, _ = make(Source([1]))
    assert proxy.extra_attribute == "kept"
    assert isinstance(proxy, Source)

    def generate() -> Iterator[int]:
        yield from (7, 8)

    proxy, emitter, _ = make(generate())
    assert list(proxy) == [7, 8]
    assert len(emitter.finished) == 1


def test_accumulator_bug_never_reaches_the_caller_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENTRACE_STRICT")

    class Broken(Collect):
        def on_chunk(self, chunk: Any) -> bool:
            raise RuntimeError("bug")

        def finish(self, invocation: Invocation) -> None:
            raise RuntimeError("bug")

    proxy, emitter, _ = make(Source([1, 2]), Broken())
    assert list(proxy) == [1, 2]
    assert len(emitter.finished) == 1


async def test_async_stream_lifecycle() -> None:
    class AsyncSource:
        def __init__(self) -> None:
            self.items = [1, 2, 3]
            self.closed = False

        def __aiter__(self) -> AsyncIterator[int]:
            return self

        async def __anext__(self) -> int:
            if not self.items:
                raise StopAsyncIteration
            return self.items.pop(0)

        async def close(self) -> None:
            self.closed = True

    emitter = CountingEmitter()
    source = AsyncSource()
    proxy = AsyncStreamWrapper(
        source, Invocation(RequestFacts("chat", "test"), None, None, 0.0), Collect(), emitter
    )
    assert [item async for item in proxy] == [1, 2, 3]
    await proxy.close()
    assert source.closed and len(emitter.finished) == 1

    async def generate() -> AsyncIterator[int]:
        yield 1
        yield 2

    emitter = CountingEmitter()
    proxy = AsyncStreamWrapper(
        generate(), Invocation(RequestFacts("chat", "test"), None, None, 0.0), Collect(), emitter
    )
    assert await proxy.__anext__() == 1
    await proxy.aclose()
    assert len(emitter.finished) == 1
