"""The results view's epoch bookkeeping: follow the live run, keep the user's epoch, cache a few (no Qt)."""

from types import SimpleNamespace

from workbench.gui.results.epoch_state import EpochState, epoch_marks


def _set(stage: str, epoch: int) -> SimpleNamespace:
    return SimpleNamespace(stage=stage, epoch=epoch)


def test_epochs_sort_teacher_stage_first_and_follow_the_newest():
    state = EpochState()
    assert state.current is None
    assert state.add([("student", 1), ("teacher", 2), ("teacher", 1)])
    assert state.epochs == [("teacher", 1), ("teacher", 2), ("student", 1)]
    assert state.current == ("student", 1)
    assert state.add([("student", 2)]) and state.current == ("student", 2)  # on the last: follows
    assert not state.add([("student", 2)])  # already there: nothing moves


def test_an_epoch_the_user_moved_back_to_stays_shown():
    state = EpochState()
    state.add([("teacher", 1), ("student", 1)])
    state.position = 0
    assert not state.add([("student", 2), ("teacher", 2)])
    assert state.current == ("teacher", 1) and state.position == 0
    state.position = 2  # ("student", 1): not the newest
    assert not state.add([("student", 3)])
    assert state.current == ("student", 1)


def test_reset_forgets_epochs_and_cache_and_sets_live():
    state = EpochState()
    state.add([("student", 1)])
    state.remember(_set("student", 1))
    state.reset(live=True)
    assert state.live and state.epochs == [] and state.position == 0
    assert state.cached_set(("student", 1)) is None


def test_cache_keeps_the_most_recently_used_sets():
    state = EpochState(cached=2)
    first, second, third = _set("student", 1), _set("student", 2), _set("student", 3)
    state.remember(first)
    state.remember(second)
    state.remember(first)  # used again: now the newest
    state.remember(third)
    assert state.cached_set(("student", 1)) is first
    assert state.cached_set(("student", 2)) is None
    assert state.cached_set(("student", 3)) is third


def test_marks_and_caption_name_best_and_last_epochs():
    summary = {net: {"val_accuracy": 0.5, "best_epoch": best, "last_epoch": 3}
               for net, best in (("teacher", 2), ("student", 2), ("baseline", 3))}
    assert epoch_marks(summary, "student", 2) == " (best student)"
    assert epoch_marks(summary, "student", 3) == " (best baseline, last)"
    assert epoch_marks(summary, "teacher", 2) == " (best teacher)"
    assert epoch_marks(summary, "student", 1) == ""
    assert epoch_marks({}, "student", 3) == ""
    state = EpochState()
    state.add([("teacher", 1), ("teacher", 2), ("student", 1), ("student", 2), ("student", 3)])
    assert state.caption(summary) == "student stage, epoch 3 of 3 (best baseline, last)"
    state.position = 1
    assert state.caption({}) == "teacher stage, epoch 2 of 2"
