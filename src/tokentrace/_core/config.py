"""Configuration from environment variables, read once when instrumentation starts (never per call)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

ENV_TOKEN_COUNTERS: Final = "TOKENTRACE_TOKEN_COUNTERS"
ENV_OPENAI_INCLUDE_USAGE: Final = "TOKENTRACE_OPENAI_INCLUDE_USAGE"
ENV_CAPTURE_MESSAGE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_CONTENT_MAX_LENGTH: Final = "TOKENTRACE_CAPTURE_CONTENT_MAX_LENGTH"
ENV_COST: Final = "TOKENTRACE_COST"
ENV_PRICES_FILE: Final = "TOKENTRACE_PRICES_FILE"
ENV_BAGGAGE_KEYS: Final = "TOKENTRACE_BAGGAGE_KEYS"
ENV_ATTRIBUTE_VALUE_LIMIT: Final = "TOKENTRACE_ATTRIBUTE_VALUE_LIMIT"
ENV_EXIT_TIMEOUT: Final = "TOKENTRACE_EXIT_TIMEOUT"

_FALSE = ("0", "false", "no", "off")
_TRUE = ("1", "true", "yes", "on")
# Values of OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT that put content on spans.
_CONTENT_ON_SPANS = ("true", "span_only", "span_and_event")


def env_flag(name: str, default: bool) -> bool:
    """Read a boolean environment variable; anything unrecognised keeps the default."""
    value = os.environ.get(name, "").strip().lower()
    if value in _FALSE:
        return False
    if value in _TRUE:
        return True
    return default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


def env_seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from the environment; anything else keeps the default."""
    try:
        value = float(os.environ.get(name, "").strip())
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything tokentrace reads from the environment."""

    token_counters: bool = True
    openai_include_usage: bool = True
    capture_content: bool = False
    content_max_length: int = 8192
    # Cost in currency (needs tokentrace[cost] or a price file); prices from the file win.
    cost: bool = True
    prices_file: str | None = None
    # OpenTelemetry baggage entries copied onto spans and metric points as attribution dimensions.
    baggage_keys: tuple[str, ...] = ()
    # Distinct values each attribution dimension may take on metrics; later ones become ``_other``.
    attribute_value_limit: int = 100

    @classmethod
    def from_env(cls) -> Settings:
        """Read the current environment."""
        content_mode = os.environ.get(ENV_CAPTURE_MESSAGE_CONTENT, "").strip().lower()
        return cls(
            token_counters=env_flag(ENV_TOKEN_COUNTERS, True),
            openai_include_usage=env_flag(ENV_OPENAI_INCLUDE_USAGE, True),
            capture_content=content_mode in _CONTENT_ON_SPANS,
            content_max_length=_env_int(ENV_CONTENT_MAX_LENGTH, 8192),
            cost=env_flag(ENV_COST, True),
            prices_file=os.environ.get(ENV_PRICES_FILE, "").strip() or None,
            baggage_keys=tuple(
                filter(None, (key.strip() for key in os.environ.get(ENV_BAGGAGE_KEYS, "").split(",")))
            ),
            attribute_value_limit=_env_int(ENV_ATTRIBUTE_VALUE_LIMIT, 100),
        )
