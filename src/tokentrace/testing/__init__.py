"""Test your instrumented application offline: a local fake LLM provider server.

::

    from openai import OpenAI
    from tokentrace.testing import FakeProvider

    with FakeProvider() as fake:
        client = OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)
        usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
        fake.enqueue("openai.chat", {"usage": usage})
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

Also from the command line: ``tokentrace fake-provider --port 8080``.
"""

from __future__ import annotations

from tokentrace.testing._server import FakeProvider, FakeRequest, Reply, Route, sse_event

__all__ = ["FakeProvider", "FakeRequest", "Reply", "Route", "sse_event"]
