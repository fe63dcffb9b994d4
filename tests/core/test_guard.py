from __future__ import annotations

import logging

import pytest

from tokentrace._core import guard as guard_module
from tokentrace._core.guard import guard


def test_strict_mode_reraises() -> None:
    with pytest.raises(ZeroDivisionError), guard("test.strict"):
        1 / 0  # noqa: B018


def test_production_mode_swallows_and_logs_once_per_kind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("TOKENTRACE_STRICT")
    monkeypatch.setattr(guard_module, "_reported_kinds", set())
    with caplog.at_level(logging.DEBUG, logger="tokentrace"):
        for _ in range(3):
            with guard("test.swallow"):
                raise ValueError("boom")
        with guard("test.other"):
            raise KeyError("x")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "test.swallow" in messages[0] and "test.other" in messages[1]
    assert caplog.records[0].exc_info is not None


@pytest.mark.parametrize("exception", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_never_swallows_base_exceptions(
    monkeypatch: pytest.MonkeyPatch, exception: type[BaseException]
) -> None:
    monkeypatch.delenv("TOKENTRACE_STRICT")
    with pytest.raises(exception), guard("test.base"):
        raise exception()
