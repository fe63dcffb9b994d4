"""The provider registry: which SDK each adapter instruments, imported only when that SDK is present."""

from __future__ import annotations

import importlib
import importlib.util
import re
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
    # Other names people know the SDK by (the registry name, the import name, the distributions in
    # ``dependencies`` and the pip extra are accepted already).
    aliases: tuple[str, ...] = ()

    def load(self) -> ProviderAdapter:
        """Import the adapter (which imports nothing from the SDK at module level)."""
        return cast(ProviderAdapter, importlib.import_module(self.adapter_module))

    @property
    def extra(self) -> str:
        """The pip extra that installs this SDK (``tokentrace[google-genai]``)."""
        return self.name.replace("_", "-")

    def import_marker(self) -> str | None:
        """The module whose import means the SDK is in use, or None when no single one does.

        That is the SDK's package, unless it is a namespace package (``mistralai`` 3.x has no
        ``__init__``): importing one runs no code, so no post-import hook ever fires for it.
        """
        return None if _is_namespace(self.package) else self.package

    def root_of(self, module: str) -> str:
        """The module whose import makes ``module`` patchable: the SDK's package, or another root.

        Targets inside the SDK's package are patched once the package is imported (its submodules
        are then imported as the package would); a target in another distribution waits for that
        distribution's top-level package. Where that is a namespace package, the target waits for
        its own module.
        """
        if module == self.package or module.startswith(self.package + "."):
            root = self.package
        else:
            root = module.partition(".")[0]
        return module if _is_namespace(root) else root

    def names(self) -> set[str]:
        """Every spelling that means this SDK, normalized by ``normalize_name``."""
        distributions = [
            re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0] for requirement in self.dependencies
        ]
        return {normalize_name(name) for name in (self.name, self.package, *distributions, *self.aliases)}


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
        ProviderEntry(
            "bedrock",
            "botocore",
            ("botocore >= 1.38, < 2",),
            "tokentrace._providers.bedrock",
            ("boto3", "aws"),
        ),
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


def _is_namespace(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is None and spec.submodule_search_locations is not None


def normalize_name(name: str) -> str:
    """``google-genai``, ``google.genai`` and ``Google_GenAI`` are one name (as pip treats ``-_.``)."""
    return re.sub(r"[-_.]+", "_", name.strip()).lower()


def resolve_name(name: str) -> str | None:
    """The registry name for any accepted spelling; None when it names no supported SDK.

    Accepted: the registry name, the pip extra, the distribution and the import name, in any case
    and with ``-``, ``_`` or ``.`` between words.
    """
    wanted = normalize_name(name)
    return next((entry.name for entry in REGISTRY.values() if wanted in entry.names()), None)
