"""What every app here does per unit of work: one real OpenAI SDK call to the fake provider."""

from __future__ import annotations

import os

from openai import OpenAI
from opentelemetry import trace

MESSAGES = [{"role": "user", "content": "hi"}]


def client() -> OpenAI:
    return OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test", max_retries=0)


def one_call(model: str = "gpt-4o-mini") -> str:
    """Make one chat call; return this process's service.instance.id."""
    client().chat.completions.create(model=model, messages=MESSAGES)
    return instance_id()


def instance_id() -> str:
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    return str(resource.attributes.get("service.instance.id")) if resource is not None else ""
