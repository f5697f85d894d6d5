"""Which validation epochs the results view has, which one it shows, and the last few loaded (no Qt).

The view follows the newest epoch while its slider sits on the last one; once the user moves it back,
new epochs are added without moving it. Prediction sets of recently shown epochs stay in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from workbench.engine.result import NetResult, run_result
from workbench.gui.results.selection import PredictionSet

EpochKey = tuple[str, int]  # (stage, epoch)

CACHED_EPOCHS = 6  # prediction sets kept in memory (10k samples x 3 nets: ~10 MB each)


def epoch_order(key: EpochKey) -> tuple[int, int]:
    """The teacher stage's epochs come before the student's."""
    stage, epoch = key
    return (0 if stage == "teacher" else 1, epoch)


def epoch_marks(summary: dict, stage: str, epoch: int) -> str:
    """Which networks' best checkpoint this epoch is, and whether it is the last: the epoch's
    figures are that epoch's, and the run's header says where best and last come from."""
    if not summary:
        return ""
    result = run_result(summary)
    nets = ("teacher",) if stage == "teacher" else ("student", "baseline")
    best = [net for net in nets if (result.net("best", net) or NetResult(None, {})).epoch == epoch]
    last = [net for net in nets if (result.net("last", net) or NetResult(None, {})).epoch == epoch]
    marks = ([f"best {'/'.join(best)}"] if best else []) + (["last"] if last else [])
    return f" ({', '.join(marks)})" if marks else ""


class EpochState:
    """The epochs of one run (sorted: teacher stage first), the shown one's position, whether the run is
    live, and a small most-recently-used cache of prediction sets."""

    def __init__(self, cached: int = CACHED_EPOCHS):
        self.cached = cached
        self.epochs: list[EpochKey] = []
        self.position = 0
        self.live = False
        self._sets: OrderedDict[EpochKey, PredictionSet] = OrderedDict()

    def reset(self, live: bool) -> None:
        """A new run: no epochs, nothing cached."""
        self.epochs, self.position, self.live = [], 0, live
        self._sets.clear()

    @property
    def current(self) -> EpochKey | None:
        return self.epochs[self.position] if self.epochs else None

    def add(self, keys: Iterable[EpochKey]) -> bool:
        """Merge in epochs. Stay on the shown one unless it was the newest (follow the run) or is gone.
        Returns whether the shown epoch changed."""
        previous = self.current
        following = not self.epochs or self.position == len(self.epochs) - 1
        self.epochs = sorted(set(self.epochs) | set(keys), key=epoch_order)
        if following or previous not in self.epochs:
            self.position = max(0, len(self.epochs) - 1)
        else:
            self.position = self.epochs.index(previous)
        return self.current != previous

    def caption(self, summary: dict) -> str:
        """The shown epoch, e.g. ``student stage, epoch 2 of 3 (best student, last)``."""
        stage, epoch = self.current
        count = sum(1 for s, _ in self.epochs if s == stage)
        return f"{stage} stage, epoch {epoch} of {count}" + epoch_marks(summary, stage, epoch)

    def remember(self, predictions: PredictionSet) -> None:
        key = (predictions.stage, predictions.epoch)
        self._sets[key] = predictions
        self._sets.move_to_end(key)
        while len(self._sets) > self.cached:
            self._sets.popitem(last=False)

    def cached_set(self, key: EpochKey) -> PredictionSet | None:
        return self._sets.get(key)
