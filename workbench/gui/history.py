"""A run's curves as growing numpy buffers: full resolution, fed by live payloads or by metrics.jsonl.

Qt-free on purpose: the live plots and ``MainWindow.open_run`` feed the same
:class:`RunHistory`, so what the app shows during a run is what it shows when the run
folder is reloaded later.

The x axis runs across stages: the student's steps (and epochs) continue after the
teacher's, so both stages share one time line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EMA_BLOCK = 64  # block length of the vectorised EMA; keeps beta**-i far from overflow for beta >= 0.01


class SeriesBuffer:
    """x by step, x by epoch and y, appended one point at a time in amortised O(1)."""

    def __init__(self, capacity: int = 256):
        self._data = np.empty((3, capacity), dtype=np.float64)
        self.size = 0
        self.version = 0  # bumps on every append; the plots redraw a series only when it changed

    def append(self, x_step: float, x_epoch: float, y: float) -> None:
        if self.size == self._data.shape[1]:
            grown = np.empty((3, 2 * self.size), dtype=np.float64)
            grown[:, : self.size] = self._data
            self._data = grown
        self._data[:, self.size] = (x_step, x_epoch, y)
        self.size += 1
        self.version += 1

    @property
    def x_step(self) -> np.ndarray:
        return self._data[0, : self.size]

    @property
    def x_epoch(self) -> np.ndarray:
        return self._data[1, : self.size]

    @property
    def y(self) -> np.ndarray:
        return self._data[2, : self.size]


def ema(values: np.ndarray, beta: float, state: tuple[float, int] = (0.0, 0)) -> tuple[np.ndarray, tuple[float, int]]:
    """Debiased exponential moving average of ``values``, continuing from ``state``.

    ``state`` is (biased average, points seen so far); the result divides the biased
    average by ``1 - beta**t`` (as Adam and TensorBoard do), so early points are not
    pulled towards 0. Vectorised in short blocks: within a block,
    ``s_i = beta**i * (s_0 + (1 - beta) * sum_j beta**-j * y_j)``.
    """
    if beta <= 0.0:
        return values.astype(np.float64, copy=True), (float(values[-1]) if values.size else state[0],
                                                      state[1] + values.size)
    out = np.empty(values.size, dtype=np.float64)
    biased, seen = state
    for start in range(0, values.size, EMA_BLOCK):
        block = values[start: start + EMA_BLOCK].astype(np.float64)
        powers = beta ** np.arange(1, block.size + 1)
        sums = np.cumsum(block / powers)
        smoothed = powers * (biased + (1.0 - beta) * sums)
        t = seen + np.arange(1, block.size + 1)
        out[start: start + block.size] = smoothed / (1.0 - beta ** t)
        biased, seen = float(smoothed[-1]), seen + block.size
    return out, (biased, seen)


@dataclass
class RunHistory:
    """Every curve of one run. Series are named ``<plot>:<name>``, e.g. ``loss:student/kd``."""

    run_dir: str = ""
    series: dict[str, SeriesBuffer] = field(default_factory=dict)
    stage_starts: list[tuple[str, float, float]] = field(default_factory=list)  # stage, x step, x epoch
    counts: dict[str, int] = field(default_factory=dict)  # events seen, by kind
    _offsets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _end: tuple[float, float] = (0.0, 0.0)

    def add_event(self, event: dict) -> None:
        """One metrics.jsonl record (``event`` names the hook) or live payload tagged the same way."""
        kind = event.get("event")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "fit_start":
            self.run_dir = str(event.get("run_dir", self.run_dir))
        elif kind == "stage_start":
            self.start_stage(event)
        elif kind == "train_batch":
            self.add_batch(event)
        elif kind == "validation":
            self.add_validation(event)

    @staticmethod
    def planned_series(fit_start: dict) -> list[str]:
        """The series a run will fill, in the order its events would create them, from what its fit_start
        record announces each stage reports (``loss_terms``, ``trained_nets``; empty for a record without
        them). Named by this class's own ``add_batch`` and ``add_validation``, fed one stand-in batch and
        validation per stage with the keys the hooks' payloads have (engine/hooks.py)."""
        plan = RunHistory()
        for stage in fit_start.get("stages", []):
            terms = (fit_start.get("loss_terms") or {}).get(stage, [])
            nets = (fit_start.get("trained_nets") or {}).get(stage, [])
            if not terms and not nets:
                continue
            with_baseline = {"baseline_loss": 0.0} if "baseline" in nets else {}
            plan.add_batch({"stage": stage, "epoch": 1, "batch": 1, "batches": 1, "step": 1, "lr": 0.0,
                            "losses": {term: 0.0 if term == "total" else {"raw": 0.0, "weighted": 0.0} for term in terms},
                            "train_accuracy": {net: 0.0 for net in nets}, **with_baseline})
            plan.add_validation({"stage": stage, "epoch": 1, "step": 1,
                                 "metrics": {net: {"val_accuracy": 0.0, "val_loss": 0.0} for net in nets},
                                 **({"distillation_gain": 0.0} if with_baseline else {})})
        return list(plan.series)

    def start_stage(self, payload: dict) -> None:
        stage = payload["stage"]
        start_epoch = int(payload.get("start_epoch", 0) or 0)
        steps = int(payload.get("steps_per_epoch", 0) or 0)
        if stage not in self._offsets:
            # A resumed stage continues at start_epoch; put its origin where its epoch 1 would have been.
            x_step, x_epoch = self._end
            self._offsets[stage] = (x_step - start_epoch * steps, x_epoch - start_epoch)
            self.stage_starts.append((stage, x_step, x_epoch))

    def _x(self, payload: dict, epoch_x: float) -> tuple[float, float]:
        step_offset, epoch_offset = self._offsets.get(payload["stage"], (0.0, 0.0))
        x = (step_offset + float(payload["step"]), epoch_offset + epoch_x)
        self._end = (max(self._end[0], x[0]), max(self._end[1], float(np.ceil(x[1]))))
        return x

    def _add(self, name: str, x: tuple[float, float], y: float | None) -> None:
        if y is None:
            return
        buffer = self.series.get(name)
        if buffer is None:
            buffer = self.series[name] = SeriesBuffer()
        buffer.append(x[0], x[1], float(y))

    def add_batch(self, payload: dict) -> None:
        stage = payload["stage"]
        batches = max(1, int(payload.get("batches", 1)))
        x = self._x(payload, payload["epoch"] - 1 + payload["batch"] / batches)
        for term, value in payload.get("losses", {}).items():
            if isinstance(value, dict):
                self._add(f"loss:{stage}/{term}", x, value.get("raw"))
                self._add(f"weighted:{stage}/{term}", x, value.get("weighted"))
            else:  # "total" is a single number: the same raw and weighted
                self._add(f"loss:{stage}/{term}", x, value)
                self._add(f"weighted:{stage}/{term}", x, value)
        if payload.get("baseline_loss") is not None:
            self._add("loss:baseline/ce", x, payload["baseline_loss"])
            self._add("weighted:baseline/ce", x, payload["baseline_loss"])
        for net, accuracy in payload.get("train_accuracy", {}).items():
            self._add(f"accuracy:{net} train", x, accuracy)
        self._add(f"lr:{stage}", x, payload.get("lr"))

    def add_validation(self, payload: dict) -> None:
        x = self._x(payload, float(payload["epoch"]))
        for net, metrics in payload.get("metrics", {}).items():
            self._add(f"accuracy:{net} val", x, metrics.get("val_accuracy"))
            self._add(f"val_loss:{net} val", x, metrics.get("val_loss"))
        self._add("gain:distillation gain", x, payload.get("distillation_gain"))
