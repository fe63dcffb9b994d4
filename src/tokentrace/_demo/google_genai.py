"""Demo calls through the Google Gen AI SDK (Gemini API and Vertex AI): generate, stream, async, count."""

from __future__ import annotations

import asyncio

from tokentrace.testing import FakeProvider

_MODEL = "gemini-2.5-flash"


def run(fake: FakeProvider) -> None:
    """Make a plain, a streamed and an async call, on both backends, plus count and compute tokens."""
    import google.oauth2.credentials
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=fake.base_url("google_genai"))
    gemini = genai.Client(api_key="demo-key", http_options=options)
    vertex = genai.Client(
        vertexai=True,
        project="demo-project",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="demo-token"),  # type: ignore[no-untyped-call]
        http_options=options,
    )
    gemini.models.generate_content(model=_MODEL, contents="Say hello.")
    for _ in vertex.models.generate_content_stream(model=_MODEL, contents="Why is the sky blue?"):
        pass
    gemini.models.count_tokens(model=_MODEL, contents="Say hello.")
    vertex.models.compute_tokens(model=_MODEL, contents="What's the longest word in the English language?")

    async def call_async() -> None:
        await vertex.aio.models.generate_content(model=_MODEL, contents="Why is the sky blue?")
        async for _ in await gemini.aio.models.generate_content_stream(model=_MODEL, contents="Say hello."):
            pass
        await gemini.aio.aclose()
        await vertex.aio.aclose()

    asyncio.run(call_async())
    gemini.close()
    vertex.close()
