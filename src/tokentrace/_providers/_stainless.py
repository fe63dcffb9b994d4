"""What every Stainless-generated SDK returns (openai, anthropic, groq, together, fireworks).

Besides models and ``Stream``/``AsyncStream`` objects, ``with_raw_response`` calls return the HTTP
response (``LegacyAPIResponse``), which LangChain's integrations use to read headers. Its body is
read already for complete responses; for streams, ``parse()`` builds the ``Stream`` and caches it.
These readers let adapters observe both without changing what the caller gets.
"""

from __future__ import annotations

from typing import Any

from tokentrace._core.request import is_given
from tokentrace._core.usage import attr

_IS_STREAM: dict[type, bool] = {}


def is_stream(result: Any) -> bool:
    """SDK stream objects iterate with ``__next__``/``__anext__``; complete responses do not.

    Cached per type: ``hasattr`` on a pydantic model class misses through its metaclass, slowly.
    """
    kind = type(result)
    known = _IS_STREAM.get(kind)
    if known is None:
        known = _IS_STREAM[kind] = hasattr(kind, "__next__") or hasattr(kind, "__anext__")
    return known


def response_body(result: Any) -> Any:
    """The response as an object to read: the SDK's model, or the decoded body of a raw response.

    ``with_raw_response`` returns the HTTP response unparsed; its JSON body, read already, is decoded
    here without touching the SDK's parse cache. A body not yet read (a raw stream) gives None.
    """
    if not _has_parse(type(result)):
        # A model, not a raw response (and a name it lacks would miss through pydantic's __getattr__).
        return result
    http_response = attr(result, "http_response")
    if http_response is None:
        return result
    if not getattr(http_response, "is_closed", False):
        return None
    content_type = str(http_response.headers.get("content-type", ""))
    if "json" not in content_type:
        return None
    try:
        return http_response.json()
    except ValueError:
        return None


_HAS_PARSE: dict[type, bool] = {}


def _has_parse(kind: type) -> bool:
    """Whether a type has the raw responses' ``_parse`` method, looked up once per type."""
    known = _HAS_PARSE.get(kind)
    if known is None:
        known = _HAS_PARSE[kind] = callable(getattr(kind, "_parse", None))
    return known


def raw_event_stream(result: Any) -> Any | None:
    """The event stream that a raw response of a streamed call gives the caller's ``parse()``.

    ``with_raw_response.create(stream=True)`` (how langchain-anthropic streams) returns the HTTP
    response; ``parse()`` builds the ``Stream`` from it and caches it. The stream is built here as
    ``parse()`` builds it (no I/O happens until it is read), and ``with_stream`` puts the proxy in
    that cache, so the caller's ``parse()`` returns it. Anything unexpected leaves the response alone.
    """
    if not _has_parse(type(result)):
        # A model, not a raw response: its private-name misses go through pydantic's __getattr__.
        return None
    cache = getattr(result, "_parsed_by_type", None)
    cache_key = getattr(result, "_cast_to", None)
    if not isinstance(cache, dict) or cache_key is None or cache_key in cache:
        return None
    # openai's LegacyAPIResponse names the flag ``_stream``; the other SDKs ``_is_sse_stream``.
    streamed = getattr(result, "_is_sse_stream", None)
    if streamed is None:
        streamed = getattr(result, "_stream", None)
    if streamed is not True or not callable(getattr(result, "_parse", None)):
        return None
    options = getattr(result, "_options", None)
    if options is None or is_given(getattr(options, "post_parser", None)):
        return None
    stream = result._parse()
    return stream if is_stream(stream) else None


def with_stream_proxy(result: Any, proxy: Any) -> Any:
    """The proxy in place of a stream; for a raw response, what its ``parse()`` will return."""
    if is_stream(result):
        return proxy
    result._parsed_by_type[result._cast_to] = proxy
    return result
