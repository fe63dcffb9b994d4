"""tokentrace: LLM token usage as OpenTelemetry GenAI spans and metrics.

Automatic: ``opentelemetry-instrument python app.py`` loads every ``tokentrace_*`` instrumentor whose
SDK is installed. Manual::

    import tokentrace

    tokentrace.configure_otlp(service_name="my-app")   # optional, needs tokentrace[otlp]
    tokentrace.instrument()                            # every supported SDK that is installed
    ...
    tokentrace.uninstrument()

Cost and attribution (see README "Cost and attribution")::

    with tokentrace.attributes(tenant="acme", feature="search"), tokentrace.track() as t:
        ...                                            # every inference call in here
    print(t.calls, t.input_tokens, t.cost)            # cost: decimal.Decimal in USD, or None

Configuration (environment, read when instrumentation starts):

- ``TOKENTRACE_TOKEN_COUNTERS=false``: no per-token-type counters (histograms stay).
- ``TOKENTRACE_OPENAI_INCLUDE_USAGE=false``: never add ``stream_options.include_usage`` to streams.
- ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: content capture (off by default).
- ``TOKENTRACE_COST=false``: no cost attributes or cost metric (on with ``tokentrace[cost]`` or a price file).
- ``TOKENTRACE_PRICES_FILE=prices.yaml``: your own prices (JSON or YAML), winning over genai-prices'.
- ``TOKENTRACE_BAGGAGE_KEYS=tenant,feature``: attribution dimensions read from OpenTelemetry baggage.
- ``TOKENTRACE_ATTRIBUTE_VALUE_LIMIT=100``: distinct values per dimension on metrics; later: ``_other``.
- ``TOKENTRACE_EXIT_TIMEOUT``: seconds ``configure_otlp()``'s exit flush may take (2 by default).
- the standard ``OTEL_*`` variables, for the SDK and exporters (``OTEL_TRACES_EXPORTER`` and
  ``OTEL_METRICS_EXPORTER`` choose ``configure_otlp()``'s exporters, as for ``opentelemetry-instrument``).

A forked child (gunicorn, Celery prefork, ``multiprocessing``) reports only its own tokens; see
``tokentrace.otlp`` for processes and exit.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from tokentrace._core.attribution import Attributes, attributes
from tokentrace._core.rollup import Tracker, track
from tokentrace._providers import resolve_name
from tokentrace.instrumentor import (
    INSTRUMENTORS,
    AnthropicInstrumentor,
    BedrockInstrumentor,
    FireworksInstrumentor,
    GoogleGenAIInstrumentor,
    GroqInstrumentor,
    LangChainInstrumentor,
    MistralInstrumentor,
    OpenAIInstrumentor,
    TogetherInstrumentor,
    TokentraceInstrumentor,
)
from tokentrace.version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "AnthropicInstrumentor",
    "Attributes",
    "BedrockInstrumentor",
    "FireworksInstrumentor",
    "GoogleGenAIInstrumentor",
    "GroqInstrumentor",
    "LangChainInstrumentor",
    "MistralInstrumentor",
    "OpenAIInstrumentor",
    "TogetherInstrumentor",
    "TokentraceInstrumentor",
    "Tracker",
    "__version__",
    "attributes",
    "configure_otlp",
    "instrument",
    "supported_providers",
    "track",
    "uninstrument",
]

_warned_versions: set[str] = set()


def supported_providers() -> list[str]:
    """The names ``instrument(providers=...)`` accepts."""
    return list(INSTRUMENTORS)


def _installed(package: str) -> bool:
    try:
        return find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def instrument(
    providers: str | Iterable[str] | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> list[str]:
    """Instrument every supported SDK that is installed (or only ``providers``); return their names.

    ``providers`` is one name or several: the registry names of :func:`supported_providers`, or
    the pip extra, distribution or import name (``"google-genai"``, ``"google.genai"``,
    ``"boto3"``). Each SDK is patched when the application imports it (at once if it already
    has), so an installed SDK the application never imports is never imported.

    Calling it again with the same providers changes nothing; calling it with a different
    ``tracer_provider`` or ``meter_provider`` re-instruments those SDKs with the new ones (the
    telemetry goes where the latest call says). An SDK that is not installed is skipped silently;
    one outside the supported version range is skipped with a warning. Without explicit providers
    the global ``TracerProvider`` and ``MeterProvider`` are used.
    """
    if providers is None:
        wanted = list(INSTRUMENTORS)
    else:
        # A string is one name, as OpenTelemetry's own APIs take one name (not its characters).
        requested = [providers] if isinstance(providers, str) else list(providers)
        resolved = {name: resolve_name(name) if isinstance(name, str) else None for name in requested}
        unknown = [name for name, found in resolved.items() if found is None]
        if unknown:
            raise ValueError(f"unknown provider(s) {unknown}; supported: {supported_providers()}")
        wanted = list(dict.fromkeys(found for found in resolved.values() if found is not None))
    instrumented: list[str] = []
    for name in wanted:
        instrumentor = INSTRUMENTORS[name]()
        if instrumentor.is_instrumented_by_opentelemetry:
            in_use = instrumentor.providers
            if in_use is None or (in_use[0] is tracer_provider and in_use[1] is meter_provider):
                instrumented.append(name)
                continue
            instrumentor.uninstrument()
        if not _installed(instrumentor.entry.package) or not _installed(instrumentor.entry.adapter_module):
            continue
        conflict = instrumentor._check_dependency_conflicts()
        if conflict is not None:
            if name not in _warned_versions:
                _warned_versions.add(name)
                warnings.warn(
                    f"tokentrace: not instrumenting {name}: {conflict}", RuntimeWarning, stacklevel=2
                )
            continue
        instrumentor.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, skip_dep_check=True
        )
        instrumented.append(name)
    return instrumented


def uninstrument() -> None:
    """Remove every tokentrace wrapper, restoring the SDKs' original methods."""
    for cls in INSTRUMENTORS.values():
        instrumentor = cls()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def configure_otlp(**kwargs: Any) -> Any:
    """Set up global OTLP trace and metric export from the ``OTEL_*`` variables (``tokentrace[otlp]``).

    See :func:`tokentrace.otlp.configure_otlp` for the arguments.
    """
    from tokentrace.otlp import configure_otlp as _configure

    return _configure(**kwargs)
