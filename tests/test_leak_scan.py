"""The leak scanner that every telemetry-capturing test runs at teardown must be able to fail."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.leak_scan import exported_strings, leaks, secrets_of
from tokentrace.testing import FakeProvider, FakeRequest


def request_with(headers: dict[str, str], body: Any) -> FakeRequest:
    return FakeRequest("r", "POST", "/", {}, headers, json.dumps(body).encode(), {})


def test_secrets_are_credentials_and_content_strings() -> None:
    secrets = secrets_of(
        [
            request_with(
                {"authorization": "Bearer sk-live-123456"},
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is my password?"}]},
            ),
            request_with({"x-api-key": "anthropic-key-1"}, {"system": "You are terse.", "max_tokens": 100}),
        ]
    )
    assert {"sk-live-123456", "What is my password?", "anthropic-key-1", "You are terse."} <= secrets
    assert "gpt-4o-mini" not in secrets  # request parameters are not content


def test_a_span_carrying_the_prompt_is_reported(
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    import tokentrace

    tokentrace.instrument(["openai"], tracer_provider=tracer_provider)
    try:
        client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-scan-key", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Top secret plan"}]
        )
    finally:
        tokentrace.uninstrument()
    found = leaks(secrets_of(fake.requests), exported_strings(span_exporter.get_finished_spans(), []))
    assert ("Top secret plan",) == tuple({secret for secret, _ in found} - {"Hello! How can I help"})
    span_exporter.clear()  # what this test exported on purpose must not fail its own teardown check
