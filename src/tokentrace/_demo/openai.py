"""Demo calls through the OpenAI SDK: chat (plain, streamed, async), Responses, embeddings."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider

_MESSAGES = [{"role": "user", "content": "Say hello."}]


def run(fake: FakeProvider) -> None:
    """Make one plain, one streamed and one async call, plus a Responses and an embeddings call."""
    import openai

    client = openai.OpenAI(base_url=fake.base_url("openai"), api_key="demo-key", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)  # type: ignore[arg-type]
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES, stream=True):  # type: ignore[arg-type]
        pass
    client.responses.create(model="o4-mini", input="What is the capital of France?")
    client.embeddings.create(model="text-embedding-3-small", input="hello")

    async def call_async() -> None:
        async_client = openai.AsyncOpenAI(base_url=fake.base_url("openai"), api_key="demo-key", max_retries=0)
        await async_client.chat.completions.create(model="gpt-4o-mini", messages=_MESSAGES)  # type: ignore[arg-type]
        await async_client.close()

    asyncio.run(call_async())
    client.close()
