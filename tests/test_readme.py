"""README promises: the two commands a newcomer runs, and no dangling relative link."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_gives_the_two_commands_and_they_exist() -> None:
    for command in ("./scripts/demo", "./scripts/test"):
        assert command in README
        assert (ROOT / command).is_file()


def test_readme_documents_every_configuration_variable() -> None:
    for variable in (
        "TOKENTRACE_TOKEN_COUNTERS",
        "TOKENTRACE_OPENAI_INCLUDE_USAGE",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "TOKENTRACE_CAPTURE_CONTENT_MAX_LENGTH",
        "TOKENTRACE_COST",
        "TOKENTRACE_PRICES_FILE",
        "TOKENTRACE_BAGGAGE_KEYS",
        "TOKENTRACE_ATTRIBUTE_VALUE_LIMIT",
        "TOKENTRACE_EXIT_TIMEOUT",
    ):
        assert variable in README, variable


def test_relative_links_and_images_exist() -> None:
    targets = re.findall(r"\]\(((?!https?://|#)[^)\s]+)\)", README)
    assert targets
    missing = [target for target in targets if not (ROOT / target.split("#")[0]).exists()]
    assert missing == []
