"""Demo calls through LangChain's ChatOpenAI: invoke, stream and ainvoke, one span and one count each."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider


def run(fake: FakeProvider) -> None:
    """Make one plain, one streamed and one async chat model call over the OpenAI SDK."""
    import openai
    from langchain_openai import ChatOpenAI

    def chat(async_client: openai.DefaultAsyncHttpxClient | None = None) -> ChatOpenAI:
        return ChatOpenAI(
            model="gpt-4o-mini",
            base_url=fake.base_url("openai"),
            api_key="demo-key",  # type: ignore[arg-type]
            max_retries=0,
            stream_usage=True,
            http_async_client=async_client,
        )

    chat().invoke("Say hello.")
    for _ in chat().stream("Say hello."):
        pass

    async def call_async() -> None:
        # A client of its own: langchain-openai's shared one would outlive this event loop.
        async_client = openai.DefaultAsyncHttpxClient()
        await chat(async_client).ainvoke("Say hello.")
        await async_client.aclose()

    asyncio.run(call_async())
