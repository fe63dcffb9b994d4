"""The guard every piece of telemetry work runs inside: our bugs never reach the application.

In production a failure is swallowed and logged at debug level, once per kind, so a malformed
payload repeated on every call cannot flood the logs. With ``TOKENTRACE_STRICT=1`` (set by the
test suite) the failure is re-raised, so our own bugs are loud where we can see them.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType

logger = logging.getLogger("tokentrace")

_reported_kinds: set[str] = set()


def strict_mode() -> bool:
    """Whether internal errors are re-raised (read on the error path only, never per call)."""
    return os.environ.get("TOKENTRACE_STRICT", "").lower() in ("1", "true", "yes")


def report_internal_error(kind: str) -> None:
    """Log the exception being handled, the first time a failure of this kind happens."""
    if kind in _reported_kinds:
        return
    _reported_kinds.add(kind)
    logger.debug(
        "tokentrace: internal error in %s; telemetry for this call may be incomplete", kind, exc_info=True
    )


def swallow(kind: str) -> None:
    """Inside ``except Exception:``: re-raise in strict mode, else report the failure once and go on.

    The per-call path uses ``try``/``except Exception: swallow(...)``, which costs nothing until
    something fails, where a ``with guard(...)`` costs an object and two calls every time.
    """
    if strict_mode():
        raise  # the exception the caller is handling
    report_internal_error(kind)


class guard:  # noqa: N801 - used as a statement, like contextlib.suppress
    """``with guard("openai.extract_usage"): ...`` swallows (and reports once) any ``Exception``.

    ``BaseException`` subclasses that are not ``Exception`` (KeyboardInterrupt, SystemExit,
    asyncio cancellation) always propagate: swallowing them would change the application.
    """

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc_type is None or not issubclass(exc_type, Exception):
            return False
        if strict_mode():
            return False
        report_internal_error(self.kind)
        return True
