"""The ``tokentrace`` command: ``demo`` and ``fake-provider``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tokentrace`` command."""
    parser = argparse.ArgumentParser(prog="tokentrace", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="instrument, call every installed SDK on the fake provider, print tokens"
    )
    demo.add_argument("--providers", help="comma-separated registry names (default: every installed SDK)")
    fake = commands.add_parser("fake-provider", help="serve the fake LLM provider until interrupted")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8080)
    commands.add_parser("version", help="print the version")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from tokentrace._demo.runner import run_demo

        providers = [name.strip() for name in args.providers.split(",")] if args.providers else None
        return run_demo(providers)
    if args.command == "fake-provider":
        from tokentrace.testing import FakeProvider

        server = FakeProvider(host=args.host, port=args.port)
        print(
            f"fake provider on {server.url} (OpenAI SDK: base_url={server.base_url('openai')}); Ctrl-C stops"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        return 0
    from tokentrace.version import __version__

    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
