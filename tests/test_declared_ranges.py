"""The supported SDK ranges: the same in pyproject's extras and the registry, and README's tested versions."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import tokentrace
from tokentrace._providers import REGISTRY, ProviderEntry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "optional-dependencies"
]
# Registry name -> the extra that installs that SDK.
EXTRA_OF = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google_genai": "google-genai",
    "bedrock": "bedrock",
    "mistralai": "mistralai",
    "groq": "groq",
    "together": "together",
    "fireworks": "fireworks",
    "langchain": "langchain",
}


def test_every_provider_has_an_extra() -> None:
    assert set(EXTRA_OF) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_extra_declares_exactly_the_range_instrument_enforces(name: str) -> None:
    """The extra caps what ``instrument()`` enforces: a new major SDK release never installs unsupported."""
    extra = {Requirement(text).name: Requirement(text).specifier for text in EXTRAS[EXTRA_OF[name]]}
    for text in REGISTRY[name].dependencies:
        enforced = Requirement(text)
        assert enforced.name in extra, (name, text, extra)
        assert extra[enforced.name] == enforced.specifier, (name, text, str(extra[enforced.name]))
    for requirement, specifier in extra.items():
        assert any(spec.operator == "<" for spec in specifier), f"{requirement} has no upper bound"
        assert any(spec.operator == ">=" for spec in specifier), f"{requirement} has no lower bound"


def _readme_rows() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- test-matrix:begin -->") : text.index("<!-- test-matrix:end -->")]
    rows = {}
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_readme_table_shows_the_declared_range_and_versions_inside_it() -> None:
    """README's table (by ./scripts/test-matrix): each range as declared, both ends tested inside it."""
    rows = _readme_rows()
    declared = {
        Requirement(text).name: Requirement(text) for extra in EXTRA_OF.values() for text in EXTRAS[extra]
    }
    shown = set(rows)
    # One row per extra, named by its first requirement (bedrock: boto3, botocore comes with it).
    assert shown == {Requirement(EXTRAS[extra][0]).name for extra in EXTRA_OF.values()}
    for name, (range_cell, oldest, newest) in rows.items():
        requirement = declared[name]
        assert SpecifierSet(range_cell.split("`")[1]) == requirement.specifier, (name, range_cell)
        for cell in (oldest, newest):
            versions = dict(re.findall(r"([A-Za-z0-9_.-]+) (\d[^\s,()]*)", cell))
            assert name in versions, (name, cell)
            for dist, version in versions.items():
                assert Version(version) in declared[dist].specifier, (dist, version, str(declared[dist]))
        oldest_version = dict(re.findall(r"([A-Za-z0-9_.-]+) (\d[^\s,()]*)", oldest))[name]
        lower = next(spec.version for spec in requirement.specifier if spec.operator == ">=")
        assert Version(oldest_version) == Version(lower), (
            f"{name}: oldest tested {oldest_version}, declared {lower}"
        )


def test_sdk_outside_the_range_is_skipped_with_one_warning_naming_version_and_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = importlib.metadata.version("groq")
    entry = REGISTRY["groq"]
    monkeypatch.setitem(
        REGISTRY, "groq", ProviderEntry("groq", "groq", ("groq >= 900, < 901",), entry.adapter_module)
    )
    monkeypatch.setattr(tokentrace, "_warned_versions", set())
    with pytest.warns(RuntimeWarning) as warned:
        assert tokentrace.instrument(["groq"]) == []
    (warning,) = warned
    message = str(warning.message)
    assert "not instrumenting groq" in message
    assert installed in message and ">=900" in message.replace(" ", "") and "<901" in message.replace(" ", "")
    assert tokentrace.instrument(["groq"]) == []  # no second warning (filterwarnings=error would fail)
