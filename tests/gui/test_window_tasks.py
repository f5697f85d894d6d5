"""The app on the VQA and segmentation samples: the Data tab reads the task, Start trains, Results shows it."""

from __future__ import annotations

import pytest
from conftest import wait_until_idle
from tiny_runs import shrink_networks

from workbench.config import ExperimentConfig
from workbench.data.sample_tasks import write_segmentation_sample, write_vqa_sample


def start_and_wait(qtbot, window) -> None:
    with qtbot.waitSignal(window.session.run_finished, timeout=90_000), \
            qtbot.waitSignal(window.results_view.epoch_shown, timeout=90_000):
        window.start_run()


@pytest.mark.parametrize("task", ["vqa", "segmentation"])
def test_choosing_a_task_folder_and_start(task, make_window, qtbot, tmp_path):
    writer = write_vqa_sample if task == "vqa" else write_segmentation_sample
    dataset = writer(tmp_path / task, scenes=24, image_size=16)
    window = make_window(ExperimentConfig(), wait_for_dataset=False)
    window.data_panel.check_folder(str(dataset))
    wait_until_idle(qtbot, window)
    config = window.config
    assert config.data.task == task
    assert window.data_panel.options_form.editor("task").value() == task
    assert config.student.fields == (["image", "question"] if task == "vqa" else ["image"])
    assert config.train.early_stopping_metric == ("val_miou" if task == "segmentation" else "val_accuracy")
    shrink_networks(config, tmp_path / "runs", epochs=1, teacher_epochs=1)
    start_and_wait(qtbot, window)
    results = window.results_view
    try_it = window.try_it
    qtbot.waitUntil(lambda: try_it.predictor is not None and try_it.run_dir == window.run_dir, timeout=30_000)
    try_it.set_input("image", str(dataset / "images" / "scene_0000.png"))
    if task == "segmentation":
        assert results.pages.currentWidget() is results.segmentation
        assert results.segmentation.gallery.count() > 0
        try_it.set_input("text", "the circle")
    else:
        assert results.pages.currentIndex() == 0 and results.predictions is not None
        results.show_sample(0)
        assert "true answer" in results.detail.title.text()
        try_it.set_input("question", "how many shapes are there?")
        try_it.set_input("caption", "a red circle")
    with qtbot.waitSignal(try_it.predicted, timeout=20_000) as predicted:
        try_it.predict()
    assert set(predicted.args[0]) == {"teacher", "student", "baseline"}
    if task == "segmentation":  # Try it shows each network's mask over the image
        assert not try_it.mask_panel.isHidden() and try_it.mask_row.count() == 3
        assert try_it.bars.isHidden()
    else:
        assert try_it.result.text().count("%") >= 3
