"""Applying wrappers to SDK classes and putting the exact original objects back."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import wrapt

from tokentrace._core.emitter import Emitter
from tokentrace._core.wrapper import Endpoint, Switch, async_traced, traced

logger = logging.getLogger("tokentrace")

_MISSING = object()


# Builds the wrapt wrapper for a target that is not an observed SDK call (the emitter and the
# instrumentor's switch are passed in).
WrapperFactory = Callable[[Emitter, Switch], Callable[..., Any]]


@dataclass(frozen=True, slots=True)
class WrapTarget:
    """One SDK function to wrap: ``module``, ``"Class.method"``, and how to observe it.

    Usually ``endpoint`` says how to observe the call; a ``factory`` instead supplies a wrapper of
    its own (an adapter adjusting an SDK's internals while tokentrace is on).
    """

    module: str
    name: str
    endpoint: Endpoint | None = None
    is_async: bool = False
    factory: WrapperFactory | None = None

    def wrapper(self, emitter: Emitter, switch: Switch) -> Callable[..., Any]:
        """The wrapt wrapper to install."""
        if self.factory is not None:
            return self.factory(emitter, switch)
        if self.endpoint is None:
            raise ValueError(f"{self.module}.{self.name}: a target needs an endpoint or a factory")
        return (async_traced if self.is_async else traced)(self.endpoint, emitter, switch)


@dataclass(frozen=True, slots=True)
class Patch:
    """A wrapper in place, and what stood there before it."""

    owner: Any
    attribute: str
    original: Any
    wrapper: Any


def _resolve(module_name: str, dotted: str) -> tuple[Any, str]:
    owner: Any = importlib.import_module(module_name)
    *path, attribute = dotted.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attribute


def apply_patches(targets: Iterable[WrapTarget], emitter: Emitter, switch: Switch) -> list[Patch]:
    """Wrap every target that exists in the installed SDK version; skip the others quietly.

    SDK versions differ in which methods they have (``parse`` appeared late, beta classes come and
    go), so a missing target is feature detection, not an error. Adapters name a class under each
    module path it has had across SDK versions; where a package re-exports it, two paths reach the
    same class, which is wrapped once.
    """
    patches: list[Patch] = []
    seen: set[tuple[int, str]] = set()
    for target in targets:
        try:
            owner, attribute = _resolve(target.module, target.name)
            if not hasattr(owner, attribute):
                continue
        except (ImportError, AttributeError):
            logger.debug("tokentrace: %s.%s not found; not wrapped", target.module, target.name)
            continue
        if (id(owner), attribute) in seen:
            continue
        seen.add((id(owner), attribute))
        original = vars(owner).get(attribute, _MISSING)
        wrapt.wrap_function_wrapper(owner, attribute, target.wrapper(emitter, switch))
        patches.append(Patch(owner, attribute, original, vars(owner)[attribute]))
    return patches


def revert_patches(patches: Iterable[Patch]) -> None:
    """Put the original objects back, newest first.

    Where another instrumentation has wrapped on top of ours since, its wrapper stays (removing it
    would silently uninstrument it); ours inside it is already off through the ``Switch``.
    """
    for patch in reversed(list(patches)):
        if vars(patch.owner).get(patch.attribute) is not patch.wrapper:
            continue
        if patch.original is _MISSING:
            delattr(patch.owner, patch.attribute)
        else:
            setattr(patch.owner, patch.attribute, patch.original)
