"""What a process made by ``fork()`` must not inherit: the parent's metric state.

gunicorn and Celery prefork workers, ``multiprocessing``'s fork start method and a plain ``os.fork()``
give the child a copy of the parent's memory, so of every metric aggregated so far. The
OpenTelemetry SDK (1.45) gives the child its own ``service.instance.id`` and restarts its export
threads there, but keeps the aggregations: each child would report the parent's tokens again under
its own identity (issue 17 measured 620 input tokens reported for 220 used). So in the child, before
any of its code runs, the SDK's storage of tokentrace's instruments is dropped, in every SDK
``MeterProvider`` tokentrace records into; tokentrace's own running sums are cleared beside them
(``counters``). New storage is made at the child's first measurement, starting at zero with the
child's start time, which is what a cumulative series of a new ``service.instance.id`` must be.

This reaches into the SDK's private storage (``MeterProvider._measurement_consumer``, each
reader's ``MetricReaderStorage``); a shape it does not know is left alone. The same handler also
replaces the SDK's metric locks that its own fork handlers leave as they were: a fork taken while
the export thread held one would otherwise lock the child's first collection out for good.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import Meter, MeterProvider

from tokentrace._core.guard import guard

# Meters tokentrace records into: each one's own instruments are cleared in a child.
_meters: weakref.WeakSet[Meter] = weakref.WeakSet()
# Providers whose every instrument is cleared in a child (those ``configure_otlp()`` built).
_providers: weakref.WeakSet[MeterProvider] = weakref.WeakSet()


def track_meter(meter: Meter) -> None:
    """Clear this meter's instruments in every forked child (the meter tokentrace records into)."""
    _meters.add(meter)


def clear_in_children(meter_provider: MeterProvider) -> None:
    """Clear every instrument of ``meter_provider`` in every forked child, not only tokentrace's.

    For SDK providers the application builds before forking (gunicorn ``--preload``, a pool made
    after setup): every series such a provider reports from a child then counts the child alone.
    """
    _providers.add(meter_provider)


_RLOCK = type(threading.RLock())
_LOCK = type(threading.Lock())


def _fresh_lock(owner: Any, name: str) -> None:
    # Same kind, unheld: a lock one of the parent's threads held would stay held in the child.
    lock = getattr(owner, name, None)
    if isinstance(lock, _RLOCK):
        setattr(owner, name, threading.RLock())
    elif isinstance(lock, _LOCK):
        setattr(owner, name, threading.Lock())


def _clear_storage(consumer: Any, scope_name: str | None) -> None:
    """Drop the aggregations of instruments of ``scope_name`` (every scope: None) for every reader."""
    storages = getattr(consumer, "_reader_storages", None)
    if not isinstance(storages, Mapping):
        return
    _fresh_lock(consumer, "_lock")
    for reader, storage in storages.items():
        _fresh_lock(reader, "_export_lock")
        matches = getattr(storage, "_instrument_view_instrument_matches", None)
        if not isinstance(matches, dict):
            continue
        _fresh_lock(storage, "_lock")
        # One assignment: a collection that started already iterates over the old mapping.
        storage._instrument_view_instrument_matches = {
            instrument: match
            for instrument, match in matches.items()
            if scope_name is not None and _scope_name(instrument) != scope_name
        }


def _scope_name(instrument: Any) -> str | None:
    scope = getattr(instrument, "instrumentation_scope", None)
    name = getattr(scope, "name", None)
    return name if isinstance(name, str) else None


def _sdk_meter(meter: Any) -> Any:
    # A meter taken before the global provider was set is a proxy until then.
    real = getattr(meter, "_real_meter", None)
    return meter if real is None else real


def after_fork_in_child() -> None:
    """Clear the inherited metric state (called in the child by ``os.register_at_fork``)."""
    with guard("fork.after_in_child"):
        for provider in list(_providers):
            _clear_storage(getattr(provider, "_measurement_consumer", None), None)
        for meter in list(_meters):
            sdk_meter = _sdk_meter(meter)
            scope_name = getattr(getattr(sdk_meter, "_instrumentation_scope", None), "name", None)
            if isinstance(scope_name, str):
                _clear_storage(getattr(sdk_meter, "_measurement_consumer", None), scope_name)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
