"""Training hooks: a callback implements only the hooks it needs.

Every hook takes one ``payload`` dict of plain data (numbers, strings, lists, dicts,
CPU numpy arrays); docs/architecture.md lists the keys of each. Callbacks run in the
training thread, in the order given; an exception in a callback ends the run like
any other error.
"""

from __future__ import annotations

from typing import Any, Iterable

HOOKS = (
    "on_fit_start",
    "on_stage_start",
    "on_train_batch_end",
    "on_validation_end",
    "on_stage_end",
    "on_fit_end",
    "on_exception",
)


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, payload: dict[str, Any]) -> None: ...

    def on_stage_start(self, payload: dict[str, Any]) -> None: ...

    def on_train_batch_end(self, payload: dict[str, Any]) -> None: ...

    def on_validation_end(self, payload: dict[str, Any]) -> None: ...

    def on_stage_end(self, payload: dict[str, Any]) -> None: ...

    def on_fit_end(self, payload: dict[str, Any]) -> None: ...

    def on_exception(self, payload: dict[str, Any]) -> None: ...


class CallbackList:
    """Calls one hook on every callback that overrides it.

    The overriding callbacks are looked up once per hook, so a batch costs one loop over
    the callbacks that actually listen, not a call into every no-op base method.
    """

    def __init__(self, callbacks: Iterable[Callback]):
        self.callbacks = list(callbacks)
        self._listeners = {
            hook: [getattr(cb, hook) for cb in self.callbacks if getattr(type(cb), hook) is not getattr(Callback, hook)]
            for hook in HOOKS
        }

    def call(self, hook: str, payload: dict[str, Any]) -> None:
        for method in self._listeners[hook]:
            method(payload)
