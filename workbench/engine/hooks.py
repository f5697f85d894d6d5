"""Training hooks: a callback implements only the hooks it needs.

Every hook takes one ``payload`` dict of plain data (numbers, strings, lists, dicts,
CPU numpy arrays); the ``TypedDict``s below say the keys of each, and ``EVENT_OF_HOOK``
the name of the event record it becomes (``workbench.engine.events``). Callbacks run in
the training thread, in the order given; an exception in a callback ends the run like
any other error.
"""

from __future__ import annotations

from typing import Any, Iterable, NotRequired, TypedDict

import numpy as np

HOOKS = (
    "on_fit_start",
    "on_stage_start",
    "on_train_batch_end",
    "on_validation_end",
    "on_stage_end",
    "on_fit_end",
    "on_exception",
)
# The one table from hook to event name: metrics.jsonl's "event", the GUI's stream, the log lines.
EVENT_OF_HOOK = {
    "on_fit_start": "fit_start",
    "on_stage_start": "stage_start",
    "on_train_batch_end": "train_batch",
    "on_validation_end": "validation",
    "on_stage_end": "stage_end",
    "on_fit_end": "fit_end",
    "on_exception": "exception",
}


class LossValue(TypedDict):
    raw: float
    weighted: float


class FitStartPayload(TypedDict):
    run_dir: str
    config: dict[str, Any]
    device: str
    device_name: str
    class_names: list[str]
    fields: dict[str, str]  # field -> kind
    params: dict[str, int]  # teacher / student / baseline -> parameter count (0 when absent)
    stages: list[str]
    epochs: dict[str, int]  # stage -> planned epochs
    steps_per_epoch: dict[str, int]
    resumed: bool
    loss_terms: dict[str, list[str]]  # stage -> the keys of its train_batch "losses" ("total" last)
    trained_nets: dict[str, list[str]]  # stage -> the nets it trains (train_accuracy and validation metrics)
    summary: dict[str, Any]  # summary.json as it stands


class StageStartPayload(TypedDict):
    stage: str  # teacher / student
    epochs: int
    start_epoch: int  # epochs already done (a resumed stage)
    steps_per_epoch: int


class TrainBatchPayload(TypedDict):
    stage: str
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches: int
    step: int  # 1-based, global within the stage
    samples: int
    lr: float
    seconds: float
    losses: dict[str, LossValue | float]  # term -> raw/weighted; "total" -> a number
    train_accuracy: dict[str, float]  # net -> accuracy on this batch
    baseline_loss: NotRequired[float]  # stage student, baseline on


class NetMetrics(TypedDict):
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    val_top5: NotRequired[float]
    agreement: NotRequired[float]


class ValidationPayload(TypedDict):
    stage: str
    epoch: int
    step: int
    metrics: dict[str, NetMetrics]  # the nets trained in the stage
    predictions: dict[str, np.ndarray]  # index, label, <net>_probs, <net>_embedding
    distillation_gain: NotRequired[float]  # student stage, baseline on
    paired_test: NotRequired[dict[str, Any]]  # student stage, baseline on: engine.stats.paired_test


class BestValue(TypedDict):
    metric: str
    value: float | None
    epoch: int | None


class StageEndPayload(TypedDict):
    stage: str
    epochs_run: int
    best: BestValue
    stopped: bool
    early_stopped: bool
    summary: dict[str, Any]


class FitEndPayload(TypedDict):
    status: str  # finished / stopped
    summary: dict[str, Any]


class ExceptionPayload(TypedDict):
    message: str
    traceback: str
    stage: str | None
    step: int
    summary: dict[str, Any]


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, payload: FitStartPayload) -> None: ...

    def on_stage_start(self, payload: StageStartPayload) -> None: ...

    def on_train_batch_end(self, payload: TrainBatchPayload) -> None: ...

    def on_validation_end(self, payload: ValidationPayload) -> None: ...

    def on_stage_end(self, payload: StageEndPayload) -> None: ...

    def on_fit_end(self, payload: FitEndPayload) -> None: ...

    def on_exception(self, payload: ExceptionPayload) -> None: ...


class EventListener(Callback):
    """A callback that takes every hook as one event record, ``{"event": EVENT_OF_HOOK[hook], **payload}``.

    The run folder's writer and the app's worker are listeners: they see the same record.
    """

    def on_event(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def on_fit_start(self, payload: FitStartPayload) -> None:
        self.on_event(event_record("on_fit_start", payload))

    def on_stage_start(self, payload: StageStartPayload) -> None:
        self.on_event(event_record("on_stage_start", payload))

    def on_train_batch_end(self, payload: TrainBatchPayload) -> None:
        self.on_event(event_record("on_train_batch_end", payload))

    def on_validation_end(self, payload: ValidationPayload) -> None:
        self.on_event(event_record("on_validation_end", payload))

    def on_stage_end(self, payload: StageEndPayload) -> None:
        self.on_event(event_record("on_stage_end", payload))

    def on_fit_end(self, payload: FitEndPayload) -> None:
        self.on_event(event_record("on_fit_end", payload))

    def on_exception(self, payload: ExceptionPayload) -> None:
        self.on_event(event_record("on_exception", payload))


def event_record(hook: str, payload: Any) -> dict[str, Any]:
    """The event a hook's payload becomes: the payload with its event name under ``"event"``."""
    return {"event": EVENT_OF_HOOK[hook], **payload}


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
