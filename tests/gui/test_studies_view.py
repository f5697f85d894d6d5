"""The Studies tab: trials table, gain-vs-parameter plot with intervals, heatmap, live refresh, open a trial."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from workbench.engine.stats import describe_gain, paired_test
from workbench.engine.study import STUDY_FILE, summarize, write_study_json
from workbench.gui.studies_view import StudiesView

LABELS = np.arange(60) % 3


def _trial(number: int, params: dict, seed: int, flips: int, tmp_path) -> dict:
    """A finished trial whose student gets ``flips`` more samples right than its baseline."""
    baseline = np.where(np.arange(60) < 30, LABELS, (LABELS + 1) % 3)
    student = baseline.copy()
    student[30:30 + flips] = LABELS[30:30 + flips]
    test = paired_test(LABELS, student, baseline, ["a", "b", "c"])
    return {"number": number, "params": params, "seed": seed, "state": "complete",
            "run_dir": str(tmp_path / f"run{number}"), "error": None, "worker": "here:1",
            "teacher": 0.8, "student": 0.5 + flips / 60, "baseline": 0.5, "gain": test["gain"], "paired_test": test}


def _write(study_dir, trials, parameters):
    write_study_json(study_dir, summarize("kd", "sweep", parameters, trials, {"seeds": [0, 1]}))


@pytest.fixture
def sweep(tmp_path):
    study_dir = tmp_path / "runs" / "20260101-000000-study-kd"
    study_dir.mkdir(parents=True)
    trials = [_trial(i, {"loss.kd.temperature": t, "loss.kd.weight": w}, seed, 2 + i, tmp_path)
              for i, (t, w, seed) in enumerate((t, w, s) for t in (1, 4) for w in (0.5, 1.0) for s in (0, 1))]
    _write(study_dir, trials[:7], ["loss.kd.temperature", "loss.kd.weight"])
    return study_dir, trials


def test_a_sweep_shows_its_trials_plots_and_opens_a_trial(qtbot, sweep, tmp_path):
    study_dir, trials = sweep
    view = StudiesView()
    qtbot.addWidget(view)
    view.resize(1280, 720)
    view.show()
    view.set_runs_dir(tmp_path / "runs")
    assert view.study_box.currentText() == study_dir.name
    headers = [view.model.horizontalHeaderItem(i).text() for i in range(view.model.columnCount())]
    assert headers[:5] == ["#", "state", "seed", "loss.kd.temperature", "loss.kd.weight"]
    assert view.proxy.rowCount() == 7
    gain_column = headers.index("gain [95% interval], p")
    assert view.proxy.index(0, gain_column).data() == describe_gain(trials[0]["paired_test"])
    assert "mean gain" in view.headline.text() and "pooled paired test" in view.headline.text()

    error_bars = [item for item in view.gain_plot.getPlotItem().items if isinstance(item, pg.ErrorBarItem)]
    assert len(error_bars) == 2  # one series per value of the other parameter
    assert view.heatmap.isVisible()
    images = [item for item in view.heatmap.getPlotItem().items if isinstance(item, pg.ImageItem)]
    assert images and images[0].image.shape == (2, 2)

    with qtbot.waitSignal(view.open_run_requested) as opened:
        view.table.doubleClicked.emit(view.proxy.index(3, 0))
    assert opened.args == [trials[3]["run_dir"]]

    # Live: the eighth trial appears once study.json changes.
    _write(study_dir, trials, ["loss.kd.temperature", "loss.kd.weight"])
    qtbot.waitUntil(lambda: view.proxy.rowCount() == 8, timeout=5000)


def test_a_study_over_seeds_plots_each_seed_and_the_mean_band(qtbot, tmp_path):
    study_dir = tmp_path / "runs" / "20260101-000000-study-ce-kd"
    study_dir.mkdir(parents=True)
    write_study_json(study_dir, summarize("ce-kd", "seeds", [], [_trial(s, {}, s, 3 + s, tmp_path) for s in range(3)],
                                          {"seeds": [0, 1, 2]}))
    view = StudiesView()
    qtbot.addWidget(view)
    view.show()
    view.show_study(study_dir)
    assert view.x_box.currentText() == "(seed)" and not view.heatmap.isVisible()
    items = view.gain_plot.getPlotItem().items
    assert any(isinstance(item, pg.LinearRegionItem) for item in items)  # the mean's interval over seeds
    assert "over 3 seeds" in view.headline.text()
    assert (study_dir / STUDY_FILE).is_file()


def test_start_with_seeds_runs_a_study_that_the_studies_tab_shows(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=1))
    window.seeds_box.setValue(2)
    starts = []
    window.session.event_received.connect(
        lambda record: starts.append(record["run_dir"]) if record["event"] == "fit_start" else None)
    with qtbot.waitSignal(window.session.run_finished, timeout=120_000) as finished:
        window.start_action.trigger()
    assert finished.args[0]["status"] == "finished" and len(starts) == 2  # each seed's run streamed in turn
    view = window.studies_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.study is not None and view.proxy.rowCount() == 2, timeout=5000)
    assert [trial["state"] for trial in view.study["trials"]] == ["complete", "complete"]
    assert [trial["seed"] for trial in view.study["trials"]] == [0, 1]
    assert view.study["points"][0]["gain"]["n"] == 2
