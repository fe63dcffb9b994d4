"""What the installed SDK release has: tests of a method an older release lacks skip, saying which.

``./scripts/test-matrix`` runs each SDK's tests against the oldest release its range admits too;
there a test of a method that release does not have yet skips with the reason instead of failing,
and everything the release has must pass.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from types import ModuleType
from typing import Any

import pytest


def _distribution(owner: Any) -> str:
    top = (owner.__module__ if not isinstance(owner, ModuleType) else owner.__name__).split(".")[0]
    names = importlib.metadata.packages_distributions().get(top, [top])
    return names[0]


def release(owner: Any) -> str:
    """'openai 1.55.3': the distribution that defines ``owner`` and its installed version."""
    name = _distribution(owner)
    return f"{name} {importlib.metadata.version(name)}"


def requires(owner: Any, attribute: str) -> pytest.MarkDecorator:
    """Skip unless ``owner`` (an SDK class or module) has ``attribute``."""
    label = owner.__name__ if isinstance(owner, ModuleType) else owner.__qualname__
    return pytest.mark.skipif(
        not hasattr(owner, attribute), reason=f"{release(owner)} has no {label}.{attribute}"
    )


def requires_parameter(function: Any, parameter: str) -> pytest.MarkDecorator:
    """Skip unless the SDK function takes ``parameter``."""
    return pytest.mark.skipif(
        parameter not in inspect.signature(function).parameters,
        reason=f"{release(function)}: {function.__qualname__}() takes no {parameter!r}",
    )


def http_library(sdk_module: ModuleType) -> ModuleType:
    """The HTTP library an SDK module sends with: ``httpx2`` (newest openai, anthropic) or ``httpx``."""
    library: ModuleType = getattr(sdk_module, "httpx2", None) or sdk_module.httpx
    return library
