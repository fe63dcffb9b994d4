"""The distributions: what an index page and ``pip install`` get (built for real, as CI's package step)."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}


@pytest.fixture(scope="module")
def metadata(dists: dict[str, Path]) -> tuple[dict[str, list[str]], str]:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(wheel.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields, message.get_payload()


@pytest.mark.slow
def test_sdist_holds_the_package_and_its_tests_and_nothing_local(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        members = [name.partition("/")[2] for name in sdist.getnames()]
    for needed in (
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "src/tokentrace/__init__.py",
        "tests/conftest.py",
    ):
        assert needed in members, needed
    local = [m for m in members if re.search(r"(^|/)(\.out|\.venvs?|__pycache__|\.pytest_cache)(/|$)", m)]
    assert local == []
    assert not any(m.startswith("benchmarks/") for m in members)


@pytest.mark.slow
def test_wheel_metadata_license_author_classifiers_and_no_test_extra(
    dists: dict[str, Path], metadata: tuple[dict[str, list[str]], str]
) -> None:
    fields, _ = metadata
    assert fields["License-Expression"] == ["Apache-2.0"]
    assert fields["License-File"] == ["LICENSE"]
    assert fields["Author"] == ["The tokentrace authors"]
    assert "Framework :: OpenTelemetry :: Instrumentations" in fields["Classifier"]
    assert "test" not in fields["Provides-Extra"] and "openai" in fields["Provides-Extra"]
    assert not any("pytest" in requirement for requirement in fields["Requires-Dist"])
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        license_text = next(
            wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")
        )
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


@pytest.mark.slow
def test_long_description_has_no_link_an_index_page_would_break(
    metadata: tuple[dict[str, list[str]], str],
) -> None:
    fields, description = metadata
    assert fields["Description-Content-Type"] == ["text/markdown"]
    assert "pip install 'tokentrace[otlp,openai]'" in description
    targets = re.findall(r"\]\(([^)]*)\)", description) + re.findall(r'src="([^"]*)"', description)
    assert [target for target in targets if not re.match(r"https?://", target)] == []
