"""The provider registry: which SDK each adapter instruments, imported only when that SDK is present."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import cast

from tokentrace._providers._base import ProviderAdapter


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """One instrumentable SDK."""

    name: str
    # The import name whose presence means the SDK is installed.
    package: str
    # Requirement strings of the supported versions (``BaseInstrumentor.instrumentation_dependencies``).
    dependencies: tuple[str, ...]
    adapter_module: str

    def load(self) -> ProviderAdapter:
        """Import the adapter (which imports nothing from the SDK at module level)."""
        return cast(ProviderAdapter, importlib.import_module(self.adapter_module))


REGISTRY: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry("openai", "openai", ("openai >= 1.55.3, < 4",), "tokentrace._providers.openai"),
        ProviderEntry(
            "anthropic", "anthropic", ("anthropic >= 0.44, < 3",), "tokentrace._providers.anthropic"
        ),
        ProviderEntry(
            "google_genai",
            "google.genai",
            ("google-genai >= 1.50, < 4",),
            "tokentrace._providers.google_genai",
        ),
        ProviderEntry("bedrock", "botocore", ("botocore >= 1.38, < 2",), "tokentrace._providers.bedrock"),
        ProviderEntry("mistralai", "mistralai", ("mistralai >= 1.10, < 4",), "tokentrace._providers.mistral"),
        ProviderEntry("groq", "groq", ("groq >= 0.30, < 2",), "tokentrace._providers.groq"),
        ProviderEntry("together", "together", ("together >= 2.0, < 4",), "tokentrace._providers.together"),
        ProviderEntry(
            "fireworks", "fireworks", ("fireworks-ai >= 1.2, < 2",), "tokentrace._providers.fireworks"
        ),
        ProviderEntry(
            "langchain", "langchain_core", ("langchain-core >= 1.0, < 2",), "tokentrace._providers.langchain"
        ),
    )
}
