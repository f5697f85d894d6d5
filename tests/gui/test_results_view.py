"""ResultsView on runs whose predictions the tests know (tests/synthetic_runs.py)."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from workbench.gui.results import ResultsView
from synthetic_runs import predictions_for, wrong_networks, write_synthetic_run

COUNT, CLASSES, EPOCHS = 60, 6, 3


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_synthetic_run(tmp_path_factory.mktemp("runs"), count=COUNT, classes=CLASSES, epochs=EPOCHS)


@pytest.fixture
def view(qtbot, make_results_view, run_dir):
    widget = make_results_view()
    widget.resize(1400, 900)
    widget.show()
    with qtbot.waitSignal(widget.epoch_shown, timeout=10_000) as shown:
        widget.show_run(str(run_dir))
    assert shown.args == ["student", EPOCHS]  # a past run opens on its last validation epoch
    return widget


def student_wrong(epoch: int) -> list[int]:
    return [i for i in range(COUNT) if wrong_networks(i, epoch)["student"]]


def click_cell(qtbot, view: ResultsView, true_class: int, predicted_class: int) -> None:
    plot = view.confusion
    point = plot.mapFromScene(plot.cell_center(true_class, predicted_class))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_past_run_lists_every_validation_epoch(view):
    assert view.epoch_state.epochs == [("teacher", 1), ("teacher", 2), ("teacher", 3), ("student", 1), ("student", 2),
                           ("student", 3)]
    assert view.epoch_slider.value() == len(view.epoch_state.epochs) - 1
    assert view.gallery_model.rowCount() == COUNT
    assert view.count_label.text().startswith(f"{COUNT} of {COUNT} samples · tiles: image (")


def test_clicking_a_confusion_cell_filters_the_gallery_to_that_cell(qtbot, view):
    view.confusion_net.setCurrentIndex(view.confusion_net.findData("student"))
    view.filter_box.setCurrentIndex(view.filter_box.findData("disagree"))  # the click replaces it
    click_cell(qtbot, view, true_class=2, predicted_class=3)
    expected = [i for i in student_wrong(EPOCHS) if i % CLASSES == 2]  # a wrong student predicts label + 1
    assert view.gallery_model.rows.tolist() == expected
    assert view.filter_box.currentData() == "all"
    assert view.cell_label.isVisible()
    counts = view.confusion.matrix
    assert counts[2, 3] == len(expected)

    click_cell(qtbot, view, true_class=4, predicted_class=4)
    assert view.gallery_model.rows.tolist() == [i for i in range(COUNT) if i % CLASSES == 4
                                               and i not in student_wrong(EPOCHS)]
    qtbot.mouseClick(view.cell_clear, Qt.MouseButton.LeftButton)
    assert view.gallery_model.rowCount() == COUNT
    assert not view.cell_label.isVisible()


@pytest.mark.parametrize("name, rule", [
    ("student_wrong", lambda wrong: wrong["student"]),
    ("teacher_right_student_wrong", lambda wrong: not wrong["teacher"] and wrong["student"]),
    ("student_right_baseline_wrong", lambda wrong: not wrong["student"] and wrong["baseline"]),
    ("disagree", lambda wrong: wrong["teacher"] != wrong["student"]),
])
def test_gallery_filters_show_the_known_samples(view, name, rule):
    view.filter_box.setCurrentIndex(view.filter_box.findData(name))
    assert view.gallery_model.rows.tolist() == [i for i in range(COUNT) if rule(wrong_networks(i, EPOCHS))]


def test_gallery_sort_and_search(qtbot, view):
    view.sort_box.setCurrentIndex(view.sort_box.findData("student_confidence"))
    confidence = view.predictions.confidence["student"][view.gallery_model.rows]
    assert np.all(np.diff(confidence) >= 0)
    view.search.setText("sample_0001")
    qtbot.waitUntil(lambda: view.gallery_model.rowCount() == 10, timeout=3000)  # sample_00010 .. _00019
    assert sorted(view.gallery_model.rows.tolist()) == list(range(10, 20))


def test_epoch_slider_changes_every_view(qtbot, view):
    view.filter_box.setCurrentIndex(view.filter_box.findData("student_wrong"))
    assert view.gallery_model.rows.tolist() == student_wrong(3)
    with qtbot.waitSignal(view.epoch_shown, timeout=5000) as shown:
        view.epoch_slider.setValue(3)  # student stage, epoch 1
    assert shown.args == ["student", 1]
    assert view.gallery_model.rows.tolist() == student_wrong(1)
    accuracy = view.metrics_table.item(0, 1).text()
    assert accuracy == f"{1 - len(student_wrong(1)) / COUNT:.1%}"
    assert view.confusion.matrix.sum() == COUNT
    assert "epoch 1 of 3" in view.epoch_label.text()

    with qtbot.waitSignal(view.epoch_shown, timeout=5000) as shown:
        view.epoch_slider.setValue(0)  # teacher stage: no student, so its filters are off
    assert shown.args == ["teacher", 1]
    assert view.filter_box.currentData() == "all"
    assert view.metrics_table.horizontalHeaderItem(0).text() == "Teacher"


def test_tile_click_shows_the_sample_in_detail_with_top_k_bars(qtbot, view):
    index = view.gallery_model.index(7)
    rect = view.gallery.visualRect(index)
    with qtbot.waitSignal(view.sample_shown, timeout=3000) as shown:
        qtbot.mouseClick(view.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert shown.args == [7]
    assert "sample_00007" in view.detail.title.text()
    assert set(view.detail.bars.bars) == {"teacher", "student", "baseline"}
    heights = view.detail.bars.bars["student"].opts["height"]
    assert heights[0] == pytest.approx(view.predictions.probs["student"][7].max())
    qtbot.waitUntil(lambda: view.detail.picture(0).pixmap() is not None
                    and not view.detail.picture(0).pixmap().isNull(), timeout=3000)


def test_embedding_projects_both_networks_and_a_click_opens_the_sample(qtbot, view):
    plot = view.embedding.plots["student"]
    qtbot.wait(300)  # the projection is computed in the background ...
    assert plot.point_count() == 0  # ... and drawn only once its tab is shown
    view.right_tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: plot.point_count() == COUNT, timeout=5000)
    assert view.embedding.plots["teacher"].point_count() == COUNT
    assert "sample_00005" in view.embedding.tip(5)
    qtbot.waitUntil(lambda: plot.isVisible() and plot.width() > 100, timeout=3000)
    scatter = next(item for item in plot._scatters if 5 in item.data["data"])
    spot = scatter.points()[list(scatter.data["data"]).index(5)]
    point = plot.mapFromScene(plot.plotItem.vb.mapViewToScene(spot.pos()))
    with qtbot.waitSignal(view.sample_shown, timeout=3000) as shown:
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert shown.args[0] in {5} | {int(p.data()) for p in scatter.pointsAt(spot.pos())}
    # The clicked sample is ringed in both plots: the teacher's point and the student's point of it.
    row = shown.args[0]
    for net, other in view.embedding.plots.items():
        assert other.marked() == pytest.approx(tuple(other._points[row])), net


@pytest.fixture
def live_view(make_results_view, tmp_path):
    """A results view following a run that has no validation epoch yet."""
    live_dir = write_synthetic_run(tmp_path, "live", count=COUNT, classes=CLASSES, epochs=0, status="running")
    widget = make_results_view()
    widget.on_run_started(str(live_dir))
    return widget


def test_live_run_follows_each_validation_epoch(qtbot, live_view):
    view = live_view
    for epoch in (1, 2):
        arrays = predictions_for(COUNT, CLASSES, epoch)
        with qtbot.waitSignal(view.epoch_shown, timeout=10_000) as shown:
            view.on_validation_finished({"stage": "student", "epoch": epoch, "predictions": arrays})
        assert shown.args == ["student", epoch]
        view.filter_box.setCurrentIndex(view.filter_box.findData("student_wrong"))
        assert view.gallery_model.rows.tolist() == student_wrong(epoch)
        view.filter_box.setCurrentIndex(0)
    assert view.epoch_state.epochs == [("student", 1), ("student", 2)]
    assert view.epoch_slider.value() == 1


def test_thumbnails_are_decoded_in_the_background(qtbot, view):
    model = view.gallery_model
    qtbot.waitUntil(lambda: model._thumbnails.get(0) is not None, timeout=5000)
    assert model._thumbnails[0].width() == 80


def test_live_run_stays_on_an_epoch_the_user_chose(qtbot, live_view):
    view = live_view
    for epoch in (1, 2):
        with qtbot.waitSignal(view.epoch_shown, timeout=10_000):
            view.on_validation_finished({"stage": "student", "epoch": epoch,
                                         "predictions": predictions_for(COUNT, CLASSES, epoch)})
    with qtbot.waitSignal(view.epoch_shown, timeout=5000):
        view.epoch_slider.setValue(0)
    view.on_validation_finished({"stage": "student", "epoch": 3, "predictions": predictions_for(COUNT, CLASSES, 3)})
    qtbot.waitUntil(lambda: view.epoch_state.epochs[-1] == ("student", 3), timeout=5000)
    assert view.epoch_slider.value() == 0
    assert (view.predictions.stage, view.predictions.epoch) == ("student", 1)


def test_the_result_is_labelled_and_another_run_shows_nothing_stale_while_it_loads(qtbot, view, tmp_path):
    # The header says which figure is the best checkpoint and which the last epoch; the slider marks them.
    text = view.result_label.text()
    assert "Best checkpoint (by val accuracy)" in text and f"Last epoch ({EPOCHS})" in text and "gain" in text
    assert view.epoch_label.text().endswith("(best student/baseline, last)")  # synthetic bests are at the end

    other = write_synthetic_run(tmp_path / "runs", "other", count=12, classes=3, epochs=2, seed=1)
    view.show_run(str(other))
    # At once, before anything of the new run is read: no table, no matrix, no tiles, no points of the old one.
    assert view.metrics_table.rowCount() == 0 and view.confusion.matrix.size == 0
    assert view.gallery_model.rowCount() == 0
    assert all(plot.point_count() == 0 for plot in view.embedding.plots.values())
    assert not view.body.isEnabled() and view.epoch_label.text() == "loading…" and view.result_label.text() == ""
    with qtbot.waitSignal(view.epoch_shown, timeout=10_000):
        pass
    assert view.body.isEnabled() and view.gallery_model.rowCount() == 12 and view.confusion.matrix.shape == (3, 3)


def test_the_detail_names_each_picture_and_a_manifest_sample_by_its_file(qtbot, view, tmp_path):
    import numpy as np

    from workbench.gui.results.detail import array_picture
    from workbench.gui.results.run_data import SampleInfo

    view.show_sample(0)
    captions = view.detail.image_captions()
    assert captions and all(caption.endswith("input)") for caption in captions)
    assert captions[0].startswith("image (") and "student" in captions[0]

    info = SampleInfo(ids=["manifest.csv:5"], labels=["cat"], image_paths=[None], texts=[""], field_texts=[{}],
                      haystacks=[""], values=[{"photo": "/data/img/cat_12.png", "caption": "a cat"}],
                      kinds={"photo": "image", "caption": "text"}, field_users={"photo": ["student"]})
    assert info.title(0) == "cat_12.png, manifest.csv row 5"
    assert info.field_caption("photo") == "photo (student input)"
    np.save(tmp_path / "depth.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    picture = array_picture(str(tmp_path / "depth.npy"), 100)
    assert not isinstance(picture, str) and picture.width() == 100
    np.save(tmp_path / "vector.npy", np.arange(5.0))
    assert array_picture(str(tmp_path / "vector.npy"), 100).endswith("min 0, max 4")
