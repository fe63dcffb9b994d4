"""What must never leave the process: API keys, auth headers, prompt and completion text.

Every test that captures telemetry is checked against the requests the fake provider received during
it: the credentials they carried and the content strings of their bodies must not appear anywhere in
the exported spans (attributes, events, resource) or metric points.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tokentrace.testing import FakeRequest

# Request headers that carry credentials, across the providers' SDKs.
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token")
# Body keys whose string values are content (prompts, documents, instructions).
CONTENT_KEYS = frozenset(
    {
        "content",
        "text",
        "input",
        "prompt",
        "system",
        "instructions",
        "parts",
        "messages",
        "contents",
        "inputText",
        "texts",
    }
)
# Completion texts the fake provider answers with.
COMPLETION_TEXTS = ("Hello! How can I help",)
# Shorter strings collide with ordinary attribute values.
MIN_LENGTH = 6


def secrets_of(requests: Iterable[FakeRequest]) -> set[str]:
    """Credentials and content strings that the requests carried."""
    found: set[str] = set(COMPLETION_TEXTS)
    for request in requests:
        for header in CREDENTIAL_HEADERS:
            value = request.headers.get(header)
            if value:
                token = value.split()[-1]
                found.update(item for item in (value, token) if len(item) >= MIN_LENGTH)
        found.update(_content_strings(request.json, inside_content=False))
    return found


def _content_strings(value: Any, *, inside_content: bool) -> Iterator[str]:
    if isinstance(value, str):
        if inside_content and len(value) >= MIN_LENGTH:
            yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _content_strings(item, inside_content=inside_content or key in CONTENT_KEYS)
    elif isinstance(value, list):
        for item in value:
            yield from _content_strings(item, inside_content=inside_content)


def exported_strings(spans: Iterable[Any], metric_points: Iterable[Any]) -> Iterator[str]:
    """Every string in what was exported."""
    for span in spans:
        yield span.name
        yield from _strings(dict(span.attributes or {}))
        yield from _strings(dict(span.resource.attributes))
        for event in span.events:
            yield event.name
            yield from _strings(dict(event.attributes or {}))
    for point in metric_points:
        yield from _strings(dict(point.attributes or {}))


def _strings(attributes: dict[str, Any]) -> Iterator[str]:
    for key, value in attributes.items():
        yield key
        values = value if isinstance(value, (list, tuple)) else (value,)
        yield from (str(item) for item in values)


def leaks(secrets: set[str], exported: Iterable[str]) -> list[tuple[str, str]]:
    """(secret, exported string) pairs where a secret appears."""
    return [(secret, text) for text in exported for secret in secrets if secret in text]
