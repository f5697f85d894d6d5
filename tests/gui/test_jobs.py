"""The one job runner: newest result per key wins, failures keep their traceback, the owner's shutdown ends the thread."""

from __future__ import annotations

import threading

from workbench.errors import WorkbenchError
from workbench.gui.jobs import JobError, JobRunner


def test_a_newer_job_under_the_same_key_makes_the_older_result_stale(qtbot):
    runner = JobRunner("test-jobs")
    gate = threading.Event()
    results = []
    runner.submit("check", lambda: gate.wait(5) and "first", results.append)  # running when the next ones come
    runner.submit("check", lambda: "second", results.append)  # displaced while queued
    runner.submit("check", lambda: "third", results.append)
    runner.submit("other", lambda: "other key", results.append)
    assert runner.is_pending("check") and not runner.is_idle()
    gate.set()
    qtbot.waitUntil(runner.is_idle, timeout=5_000)
    assert results == ["third", "other key"]
    runner.shutdown()


def test_a_failure_reaches_the_error_callback_with_message_and_traceback(qtbot):
    runner = JobRunner("test-jobs")
    errors: list[JobError] = []

    def broken():
        raise WorkbenchError("The folder is not a dataset.")

    runner.submit("check", broken, lambda _result: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5_000)
    assert errors[0] == "The folder is not a dataset."
    assert "Traceback" in errors[0].details and "broken" in errors[0].details
    runner.shutdown()


def test_shutdown_drops_what_is_pending_and_the_runner_starts_again(qtbot):
    runner = JobRunner("test-jobs")
    results = []
    runner.submit("a", lambda: 1, results.append)
    runner.shutdown()
    assert runner.is_idle()  # and its thread has ended: the autouse leak check would fail the test otherwise
    runner.submit("a", lambda: 2, results.append)
    qtbot.waitUntil(lambda: results[-1:] == [2], timeout=5_000)
    runner.shutdown()
