"""The ``tokentrace`` command: ``demo`` and ``fake-provider``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tokentrace._providers import REGISTRY, resolve_name

# How each SDK's client is pointed at the fake provider (``{url}`` is that SDK's base URL).
CLIENT_SETUP = (
    ("openai", "openai.OpenAI(base_url={url!r}, api_key='test')"),
    ("anthropic", "anthropic.Anthropic(base_url={url!r}, api_key='test')"),
    ("google_genai", "genai.Client(api_key='test', http_options=types.HttpOptions(base_url={url!r}))"),
    ("bedrock", "boto3.client('bedrock-runtime', endpoint_url={url!r}, region_name='us-east-1')"),
    ("mistralai", "Mistral(api_key='test', server_url={url!r})"),
    ("groq", "Groq(api_key='test', base_url={url!r})"),
    ("together", "Together(api_key='test', base_url={url!r})"),
    ("fireworks", "Fireworks(api_key='test', base_url={url!r})"),
)


def _provider_names(parser: argparse.ArgumentParser, value: str) -> list[str]:
    names: list[str] = []
    for name in filter(None, (part.strip() for part in value.split(","))):
        found = resolve_name(name)
        if found is None:
            parser.error(f"unknown provider {name!r}; choose from {', '.join(_accepted())}")
        names.append(found)
    return names


def _accepted() -> list[str]:
    return [entry.extra for entry in REGISTRY.values()]


def _serve(host: str, port: int) -> int:
    from tokentrace.testing import FakeProvider

    try:
        server = FakeProvider(host=host, port=port)
    except OSError as exc:
        print(
            f"tokentrace fake-provider: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    lines = [f"fake provider on {server.url}; Ctrl-C stops. Point each SDK's client at it:"]
    width = max(len(name) for name, _ in CLIENT_SETUP)
    for name, setup in CLIENT_SETUP:
        lines.append(f"  {name.ljust(width)}  {setup.format(url=server.base_url(name))}")
    print("\n".join(lines), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tokentrace`` command."""
    parser = argparse.ArgumentParser(prog="tokentrace", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="instrument, call every installed SDK on the fake provider, print tokens",
        description="Instrument, call every installed SDK on the fake provider, print the token table. "
        "Exit status: 0 when everything asked for happened, 1 when a call failed, a requested SDK "
        "is not installed, or the OTLP export (OTEL_EXPORTER_OTLP_ENDPOINT) did not succeed.",
    )
    demo.add_argument(
        "--providers",
        metavar="NAMES",
        help=f"comma-separated, from: {', '.join(_accepted())} (pip extra, distribution or import names "
        "work too, e.g. google_genai, boto3); default: every installed SDK",
    )
    fake = commands.add_parser("fake-provider", help="serve the fake LLM provider until interrupted")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    commands.add_parser("version", help="print the version")
    args = parser.parse_args(argv)

    if args.command == "demo":
        providers = _provider_names(demo, args.providers) if args.providers else None
        from tokentrace._demo.runner import run_demo

        return run_demo(providers)
    if args.command == "fake-provider":
        return _serve(args.host, args.port)
    from tokentrace.version import __version__

    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
