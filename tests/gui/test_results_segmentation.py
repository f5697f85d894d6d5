"""The Results tab on a segmentation run: scores as the trainer's, gallery by IoU gap, overlays."""

import json

import numpy as np
import pytest
from tiny_runs import shrink_networks

from workbench.config import DataConfig, default_config
from workbench.data import check_dataset
from workbench.data.sample_tasks import write_segmentation_sample
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.gui.results.masks import MaskSet


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seg")
    dataset = write_segmentation_sample(folder / "data", scenes=24, image_size=16)
    config = shrink_networks(default_config(check_dataset(dataset, DataConfig(task="segmentation"), seed=0)),
                             folder / "runs", epochs=1, teacher_epochs=1)
    trainer = Trainer(config)
    trainer.fit()
    return trainer.run_dir


def test_mask_set_scores_are_the_trainers(run_dir):
    record = RunRecord.open(run_dir)
    masks = MaskSet.from_arrays("student", 1, record.predictions("student", 1))
    names = record.summary["class_names"]
    for net in ("teacher", "student", "baseline"):
        assert masks.scores(names)[net]["val_miou"] == pytest.approx(record.summary[net]["val_miou"])
    gap = masks.image_iou["teacher"] - masks.image_iou["student"]
    assert np.all(np.diff(gap[masks.gap_order()]) <= 0)


def test_results_tab_shows_overlays_sorted_by_gap(qtbot, make_results_view, run_dir):
    view = make_results_view()
    view.resize(1280, 720)
    view.show()
    with qtbot.waitSignal(view.epoch_shown, timeout=20_000):
        view.show_run(str(run_dir))
    page = view.segmentation
    assert view.pages.currentWidget() is page
    samples = json.loads((run_dir / "samples.json").read_text())
    assert page.gallery.count() == len(samples)
    order = [page.gallery.item(i).data(256) for i in range(page.gallery.count())]  # Qt.UserRole
    assert order == page.masks.gap_order().tolist()
    qtbot.waitUntil(lambda: page.images and page.images[0] is not None, timeout=10_000)
    with qtbot.waitSignal(page.sample_shown, timeout=5_000):
        page.gallery.setCurrentRow(0)
    truth, student = page.panels["truth"][0], page.panels["student"][0]
    before = student.pixmap().toImage()
    assert not truth.pixmap().isNull() and not before.isNull()
    page.opacity.setValue(0)  # no paint: every overlay is the bare image
    assert student.pixmap().toImage() == truth.pixmap().toImage()
    view.shutdown()


def test_model_tab_counts_the_segmentation_network_the_trainer_builds(run_dir):
    from workbench.engine.runs import load_network
    from workbench.engine.models import count_parameters
    from workbench.gui.panels.model_panel import count_network_parameters

    record = RunRecord.open(run_dir)
    network, preprocessing, class_names, config = load_network(run_dir, "student", "best")
    counts = count_network_parameters(config, preprocessing.input_specs(), len(class_names))
    assert counts["student"] == count_parameters(network) == record.summary["params"]["student"]
