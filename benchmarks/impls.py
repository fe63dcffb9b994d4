"""The implementations the benchmark compares, each switchable on and off inside one process.

A worker process runs one implementation. "on" and "off" alternate between measurement blocks
(see ``PatchSwitch``), so every percentage is taken against the bare SDK in the same process,
milliseconds apart.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider


class Switchable(Protocol):
    def instrument(self) -> None: ...

    def uninstrument(self) -> None: ...


@dataclass(frozen=True)
class Impl:
    """One row of the comparison."""

    name: str
    label: str
    # The virtual environment under benchmarks/.venvs that has it (None: the interpreter running run.py).
    venv: str | None = None
    # Distributions whose versions the report prints.
    distributions: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    peer: bool = False


# Content capture is off for everyone (tokentrace's default), so every row does the same work:
# usage, model, ids and timings, never prompt or completion text.
_NO_CONTENT = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"}

IMPLS: dict[str, Impl] = {
    impl.name: impl
    for impl in (
        Impl("bare", "bare SDK (on = off: the method's noise)"),
        Impl("floor", "floor (hand-written minimum)"),
        Impl("floor-no-chunk-metric", "floor without the per-chunk metric"),
        Impl("floor-same-signals", "floor emitting tokentrace's signals"),
        Impl("tokentrace", "tokentrace", distributions=("tokentrace",), env=_NO_CONTENT),
        Impl(
            "tokentrace-nocounters",
            "tokentrace, TOKENTRACE_TOKEN_COUNTERS=false",
            distributions=("tokentrace",),
            env={**_NO_CONTENT, "TOKENTRACE_TOKEN_COUNTERS": "false"},
        ),
        Impl(
            "contrib-openai-v2",
            "OTel contrib openai-v2",
            venv="contrib-openai-v2",
            distributions=("opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
            env=_NO_CONTENT,
            peer=True,
        ),
        Impl(
            "genai-openai",
            "OTel GenAI genai-openai",
            venv="genai-openai",
            distributions=("opentelemetry-instrumentation-genai-openai", "opentelemetry-util-genai"),
            env=_NO_CONTENT,
            peer=True,
        ),
        Impl(
            "openllmetry",
            "OpenLLMetry",
            venv="openllmetry",
            distributions=("opentelemetry-instrumentation-openai",),
            env={**_NO_CONTENT, "TRACELOOP_TRACE_CONTENT": "false"},
            peer=True,
        ),
        Impl(
            "openinference",
            "OpenInference",
            venv="openinference",
            distributions=("openinference-instrumentation-openai",),
            env={**_NO_CONTENT, "OPENINFERENCE_HIDE_INPUTS": "true", "OPENINFERENCE_HIDE_OUTPUTS": "true"},
            peer=True,
        ),
    )
}


class _Bare:
    def instrument(self) -> None:
        pass

    def uninstrument(self) -> None:
        pass


class _Tokentrace:
    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        import tokentrace

        self._module = tokentrace
        self._providers = (tracer_provider, meter_provider)

    def instrument(self) -> None:
        tracer_provider, meter_provider = self._providers
        done = self._module.instrument(
            ["openai"], tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        if done != ["openai"]:
            raise RuntimeError(f"tokentrace.instrument(['openai']) returned {done}")

    def uninstrument(self) -> None:
        self._module.uninstrument()


# Where each peer keeps its BaseInstrumentor.
_PEER_MODULES = {
    "contrib-openai-v2": "opentelemetry.instrumentation.openai_v2",
    "genai-openai": "opentelemetry.instrumentation.genai.openai",
    "openllmetry": "opentelemetry.instrumentation.openai",
    "openinference": "openinference.instrumentation.openai",
}


class _Peer:
    def __init__(self, name: str, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        module = importlib.import_module(_PEER_MODULES[name])
        self._instrumentor: Any = module.OpenAIInstrumentor()
        self._providers = (tracer_provider, meter_provider)

    def instrument(self) -> None:
        tracer_provider, meter_provider = self._providers
        # skip_dep_check: measure every peer on the same openai release, whatever its declared range.
        self._instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
        )

    def uninstrument(self) -> None:
        self._instrumentor.uninstrument()


_ABSENT = object()


def _namespaces() -> list[Any]:
    """Every imported ``openai`` module and every class defined in one: where wrappers are put."""
    seen: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "openai" or name.startswith("openai.")):
            continue
        seen[id(module)] = module
        for value in list(vars(module).values()):
            if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith("openai"):
                seen[id(value)] = value
    return list(seen.values())


class PatchSwitch:
    """On/off by swapping the attributes an implementation's ``instrument()`` replaced.

    ``instrument()`` runs once; afterwards "off" puts the SDK's original functions back and "on"
    the implementation's wrappers, exactly the objects it installed. A switch costs microseconds,
    so blocks can be short and alternate often, which is what keeps the on-minus-off difference
    stable on a machine whose speed drifts within seconds. Instrumentation-wide state (an
    "active" flag, a created Meter) stays as ``instrument()`` left it, as in an application.
    """

    def __init__(self, impl: Switchable, *, allow_empty: bool = False) -> None:
        self._impl = impl
        self._before = {id(space): (space, dict(vars(space))) for space in _namespaces()}
        impl.instrument()
        self.patched = self._diff()
        if not self.patched and not allow_empty:
            raise RuntimeError("instrument() replaced no attribute of any openai module or class")

    def _diff(self) -> list[tuple[Any, str, Any, Any]]:
        changed = []
        for space, before in self._before.values():
            now = vars(space)
            for key in before.keys() | now.keys():
                old, new = before.get(key, _ABSENT), now.get(key, _ABSENT)
                # A class or module appearing where there was none is a lazy import materializing
                # (openai's resources load on first access), not a patch: leave it in place.
                if old is _ABSENT and isinstance(new, (type, ModuleType)):
                    continue
                if old is not new:
                    changed.append((space, key, old, new))
        return changed

    def _set(self, state: int) -> None:
        for patch in self.patched:
            space, key, value = patch[0], patch[1], patch[2 + state]
            if value is _ABSENT:
                if key in vars(space):
                    delattr(space, key)
            else:
                setattr(space, key, value)

    def on(self) -> None:
        self._set(1)

    def off(self) -> None:
        self._set(0)

    def names(self) -> list[str]:
        return sorted(f"{getattr(space, '__name__', space)}.{key}" for space, key, _, _ in self.patched)

    def finish(self) -> list[str]:
        """Call the implementation's own ``uninstrument()``; return what it failed to restore.

        OpenLLMetry 0.62's uninstrument, for one, passes dotted names that
        ``opentelemetry.instrumentation.utils.unwrap`` no longer resolves, so its wrappers stay.
        """
        self.on()
        self._impl.uninstrument()
        leftovers = []
        for space, key, old, _ in self.patched:
            now = vars(space).get(key, _ABSENT)
            if now is not old and not _same_as_inherited(space, key, now):
                leftovers.append(f"{getattr(space, '__name__', space)}.{key}")
        self.off()
        return sorted(leftovers)


def _same_as_inherited(space: Any, key: str, value: Any) -> bool:
    # uninstrument() may leave on a subclass the very function it used to inherit: harmless.
    if not isinstance(space, type):
        return False
    return next((vars(base)[key] for base in space.__mro__[1:] if key in vars(base)), _ABSENT) is value


def create(name: str, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Switchable:
    """Build implementation ``name``; call after its environment variables are set."""
    if name == "bare":
        return _Bare()
    if name.startswith("floor"):
        from benchmarks.floor import Floor

        return Floor(
            tracer_provider,
            meter_provider,
            chunk_metric=name != "floor-no-chunk-metric",
            same_signals=name == "floor-same-signals",
        )
    if name.startswith("tokentrace"):
        return _Tokentrace(tracer_provider, meter_provider)
    if name in _PEER_MODULES:
        return _Peer(name, tracer_provider, meter_provider)
    raise ValueError(f"unknown implementation {name!r}; known: {sorted(IMPLS)}")


def apply_env(name: str) -> None:
    """Set the implementation's environment before anything reads it."""
    os.environ.update(IMPLS[name].env)
