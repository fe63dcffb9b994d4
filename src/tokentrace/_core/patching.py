"""Applying wrappers to SDK classes and putting the exact original objects back."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


# --- patching an SDK when it is imported ------------------------------------------------------------

# Module name -> the callbacks waiting for its import, in registration order. One wrapt hook per
# module at a time dispatches to them, so instrument/uninstrument cycles never pile hooks up in
# wrapt's registry (which has no way to remove one).
_waiting: dict[str, dict[Pending, None]] = {}
_hooked: set[str] = set()
_lock = threading.RLock()


@dataclass(eq=False, slots=True)
class Pending:
    """A callback waiting for a module's first import; ``cancel()`` drops it."""

    module: str
    callback: Callable[[], None] = field(repr=False)

    def cancel(self) -> None:
        """Never run the callback (a no-op once it has run)."""
        with _lock:
            _waiting.get(self.module, {}).pop(self, None)


def _imported(module: Any) -> None:
    name = getattr(module, "__name__", "")
    with _lock:
        _hooked.discard(name)
        callbacks = list(_waiting.pop(name, {}))
    # Outside the lock: patching may import the SDK's submodules, and wrapt fails the application's
    # import if a hook raises, so each callback guards itself (see ``when_imported``).
    for pending in callbacks:
        pending.callback()


def when_imported(module: str, callback: Callable[[], None]) -> Pending | None:
    """Run ``callback`` now if ``module`` is imported, else right after its first import.

    Returns the ``Pending`` registration, or None when the callback already ran. Patching at
    import time means an SDK that is installed but never imported is never imported by us (which
    is what costs seconds at startup), while an SDK imported before ``instrument()`` is patched
    at once, as before. The callback runs after the module's own code, exactly as if the
    application had called ``instrument()`` right after ``import module``. It must not raise: an
    exception in a post-import hook fails the application's import.
    """
    with _lock:
        if module not in sys.modules:
            pending = Pending(module, callback)
            _waiting.setdefault(module, {})[pending] = None
            if module not in _hooked:
                _hooked.add(module)
                # Calls ``_imported`` at once if the module was imported since the check above.
                wrapt.register_post_import_hook(_imported, module)
            return pending
    callback()
    return None
