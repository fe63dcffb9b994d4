"""What a provider adapter module offers the instrumentor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tokentrace._core.config import Settings
from tokentrace._core.patching import WrapTarget


class ProviderAdapter(Protocol):
    """A module under ``tokentrace._providers``: the SDK methods it wraps, and how."""

    def targets(self, settings: Settings) -> Sequence[WrapTarget]:
        """Every SDK method to wrap; the ones missing from the installed version are skipped."""
        ...
