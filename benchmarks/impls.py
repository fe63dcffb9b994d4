"""The implementations the benchmark compares, each switchable on and off inside one process.

A worker process runs one implementation. "on" and "off" alternate between measurement blocks, so
every percentage is taken against the bare SDK in the same process, minutes apart at most.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
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


def _patch_sites() -> list[type]:
    # Every class a peer patches on the path of chat.completions.create (OpenInference wraps the
    # clients' ``request``; the others wrap ``create`` itself).
    import openai
    import openai._base_client as base_client
    import openai.resources.chat.completions as chat_completions

    return [
        chat_completions.Completions,
        chat_completions.AsyncCompletions,
        openai.OpenAI,
        openai.AsyncOpenAI,
        base_client.SyncAPIClient,
        base_client.AsyncAPIClient,
        openai.Stream,
        openai.AsyncStream,
    ]


class _Peer:
    """A peer's own instrument()/uninstrument(), checked: what uninstrument leaves behind is undone.

    OpenLLMetry 0.62's uninstrument, for one, passes dotted names that
    ``opentelemetry.instrumentation.utils.unwrap`` no longer resolves, so its wrappers stay. Without
    the check its "off" blocks would still be instrumented and it would look free.
    """

    def __init__(self, name: str, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        module = importlib.import_module(_PEER_MODULES[name])
        self._instrumentor: Any = module.OpenAIInstrumentor()
        self._providers = (tracer_provider, meter_provider)
        self._sites = _patch_sites()
        self._baseline = {site: dict(vars(site)) for site in self._sites}
        self.leftovers: set[str] = set()

    def instrument(self) -> None:
        tracer_provider, meter_provider = self._providers
        # skip_dep_check: measure every peer on the same openai release, whatever its declared range.
        self._instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
        )
        if not self._changed():
            raise RuntimeError("instrument() patched nothing on the chat.completions.create path")

    def uninstrument(self) -> None:
        self._instrumentor.uninstrument()
        for site, name in self._changed():
            self.leftovers.add(f"{site.__name__}.{name}")
            if name in self._baseline[site]:
                setattr(site, name, self._baseline[site][name])
            else:
                delattr(site, name)

    def _changed(self) -> list[tuple[type, str]]:
        changed = []
        for site in self._sites:
            before = self._baseline[site]
            for name, value in list(vars(site).items()):
                if name in before:
                    if before[name] is not value:
                        changed.append((site, name))
                    continue
                # Set on the subclass where it used to be inherited: harmless if it is the same object.
                inherited = next((vars(base)[name] for base in site.__mro__[1:] if name in vars(base)), None)
                if inherited is not value:
                    changed.append((site, name))
        return changed


def create(name: str, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Switchable:
    """Build implementation ``name``; call after its environment variables are set."""
    if name == "bare":
        return _Bare()
    if name.startswith("floor"):
        from benchmarks.floor import Floor

        return Floor(tracer_provider, meter_provider, chunk_metric=name == "floor")
    if name.startswith("tokentrace"):
        return _Tokentrace(tracer_provider, meter_provider)
    if name in _PEER_MODULES:
        return _Peer(name, tracer_provider, meter_provider)
    raise ValueError(f"unknown implementation {name!r}; known: {sorted(IMPLS)}")


def apply_env(name: str) -> None:
    """Set the implementation's environment before anything reads it."""
    os.environ.update(IMPLS[name].env)
