"""Every private SDK name tokentrace relies on exists in the installed SDK versions.

Runs in the normal suite (newest SDKs) and in every ``./scripts/test-matrix`` environment (each SDK at
the oldest and the newest release of its declared range), so an SDK release that renames one fails
here once, naming the SDK, its version and the name, instead of silently losing telemetry.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import types

import pytest

from tokentrace._interventions import private_names
from tokentrace._interventions.private_names import PRIVATE_NAMES, PrivateName, missing_private_names

DISTRIBUTIONS = sorted({entry.distribution for entry in PRIVATE_NAMES})


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_every_private_name_exists_in_the_installed_sdk(distribution: str) -> None:
    if not _installed(distribution):
        pytest.skip(f"{distribution} is not installed in this environment")
    missing = missing_private_names(distribution)
    assert missing == [], "private SDK names gone:\n" + "\n".join(missing)


def test_every_entry_names_a_tokentrace_module_and_a_reason() -> None:
    for entry in PRIVATE_NAMES:
        assert entry.used_by.startswith("tokentrace."), entry
        importlib.import_module(entry.used_by)
        assert entry.why and "\n" not in entry.why, entry
        assert any(part.startswith("_") for part in (entry.module + "." + entry.attribute).split(".")), entry
    assert len(set(PRIVATE_NAMES)) == len(PRIVATE_NAMES)


class _Holder:
    def __init__(self) -> None:
        self._set_in_init = 1


@pytest.fixture
def fake_sdk(monkeypatch: pytest.MonkeyPatch) -> str:
    """A module standing for an SDK release, with one class, attached to an installed distribution."""
    module = types.ModuleType("tokentrace_fake_sdk")
    module.Holder = _Holder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def _entry(module: str, attribute: str, *, instance: bool = False, since: str | None = None) -> PrivateName:
    return PrivateName("pytest", module, attribute, "tokentrace._core.wrapper", "test", instance, since)


def test_a_renamed_name_is_reported_with_sdk_version_and_name(
    fake_sdk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = (
        _entry(fake_sdk, "Holder.__init__"),
        _entry(fake_sdk, "Holder._set_in_init", instance=True),
        _entry(fake_sdk, "Holder._renamed"),
        _entry(fake_sdk, "Holder._renamed_on_instances", instance=True),
        _entry(fake_sdk, "Gone._anything"),
        _entry("tokentrace_no_such_module", "Thing._name"),
        _entry(fake_sdk, "Holder._not_yet", since="999"),
    )
    monkeypatch.setattr(private_names, "PRIVATE_NAMES", entries)
    version = importlib.metadata.version("pytest")
    assert missing_private_names("pytest") == [
        f"pytest {version}: {fake_sdk}.Holder._renamed (used by tokentrace._core.wrapper)",
        f"pytest {version}: {fake_sdk}.Holder._renamed_on_instances (used by tokentrace._core.wrapper)",
        f"pytest {version}: {fake_sdk}.Gone._anything (used by tokentrace._core.wrapper)",
        f"pytest {version}: tokentrace_no_such_module.Thing._name (used by tokentrace._core.wrapper)",
    ]
    assert missing_private_names("not-installed-anywhere") == []
    assert missing_private_names() == missing_private_names("pytest")
