"""The gallery's filters, sorts and search, and the metrics, on predictions with known answers (no Qt)."""

import numpy as np
import pytest

from workbench.engine.metrics import confusion_matrix
from workbench.gui.results.run_data import config_diff, flatten
from workbench.gui.results.selection import (
    ConfusionCell,
    PredictionSet,
    epoch_metrics,
    pca_2d,
    per_class_accuracy,
    row_normalized,
    select,
)
from synthetic_runs import predictions_for, wrong_networks

COUNT, CLASSES, EPOCH = 60, 6, 2


@pytest.fixture
def predictions() -> PredictionSet:
    return PredictionSet.from_arrays("student", EPOCH, predictions_for(COUNT, CLASSES, EPOCH))


def expected(rule) -> list[int]:
    return [i for i in range(COUNT) if rule(wrong_networks(i, EPOCH))]


@pytest.mark.parametrize("name, rule", [
    ("all", lambda wrong: True),
    ("student_wrong", lambda wrong: wrong["student"]),
    ("teacher_right_student_wrong", lambda wrong: not wrong["teacher"] and wrong["student"]),
    ("student_right_baseline_wrong", lambda wrong: not wrong["student"] and wrong["baseline"]),
    # A wrong network always predicts label + 1, so the two disagree exactly when one of them is wrong.
    ("disagree", lambda wrong: wrong["teacher"] != wrong["student"]),
])
def test_each_filter_keeps_exactly_its_samples(predictions, name, rule):
    rows = select(predictions, name)
    assert rows.tolist() == expected(rule)
    assert len(expected(rule)) > 0 or name == "all"


def test_confusion_cell_selects_the_samples_of_that_cell(predictions):
    # Student wrong at epoch 2 when i % 4 == 0 and then predicts label + 1.
    cell = ConfusionCell("student", true_class=2, predicted_class=3)
    rows = select(predictions, "all", cell=cell)
    assert rows.tolist() == [i for i in range(COUNT) if i % CLASSES == 2 and i % 4 == 0]
    diagonal = select(predictions, "all", cell=ConfusionCell("student", 2, 2))
    assert diagonal.tolist() == [i for i in range(COUNT) if i % CLASSES == 2 and i % 4 != 0]


def test_sorts_order_by_their_key(predictions):
    by_confidence = select(predictions, "all", "student_confidence")
    assert np.all(np.diff(predictions.confidence["student"][by_confidence]) >= 0)
    by_loss = select(predictions, "student_wrong", "student_loss")
    assert set(by_loss.tolist()) == set(expected(lambda wrong: wrong["student"]))
    assert np.all(np.diff(predictions.loss["student"][by_loss]) <= 0)
    by_kl = select(predictions, "all", "kl")
    assert np.all(np.diff(predictions.teacher_student_kl[by_kl]) <= 0)
    ascending = select(predictions, "all", "kl", descending=False)
    assert np.all(np.diff(predictions.teacher_student_kl[ascending]) >= 0)


def test_search_matches_every_word_case_insensitively(predictions):
    haystacks = [f"class_{i % CLASSES}/sample_{i:05d}.png a {'red' if i % 2 else 'blue'} ball" for i in range(COUNT)]
    rows = select(predictions, "all", search="BLUE class_3", haystacks=haystacks)
    assert rows.tolist() == [i for i in range(COUNT) if i % 2 == 0 and i % CLASSES == 3]
    assert select(predictions, "all", search="   ", haystacks=haystacks).tolist() == list(range(COUNT))


def test_filters_combine_with_cell_and_search(predictions):
    haystacks = [f"sample_{i:05d}" for i in range(COUNT)]
    rows = select(predictions, "teacher_right_student_wrong", search="sample_0001", haystacks=haystacks,
                  cell=ConfusionCell("student", 0, 1))
    assert rows.tolist() == [12]  # 12: class 0, student wrong (12 % 4 == 0), teacher right (12 % 5 != 0)


def test_teacher_stage_offers_only_the_teacher_filters():
    arrays = {key: value for key, value in predictions_for(COUNT, CLASSES, 1).items()
              if not key.startswith(("student", "baseline"))}
    teacher_only = PredictionSet.from_arrays("teacher", 1, arrays)
    assert teacher_only.available_filters() == ["all"]
    assert teacher_only.available_sorts() == ["none"]


def test_metrics_match_hand_computed_values(predictions):
    metrics = epoch_metrics(predictions)
    student_right = 1 - len(expected(lambda wrong: wrong["student"])) / COUNT
    assert metrics["student"]["accuracy"] == pytest.approx(student_right)
    assert metrics["baseline"]["accuracy"] == pytest.approx(0.5)
    assert metrics["student"]["top5"] == 1.0  # the true class is always second at worst
    agreement = np.mean([wrong_networks(i, EPOCH)["teacher"] == wrong_networks(i, EPOCH)["student"]
                         for i in range(COUNT)])
    assert metrics["student"]["agreement"] == pytest.approx(agreement)
    assert "agreement" not in metrics["teacher"]


def test_confusion_matrix_row_normalized_and_per_class_accuracy():
    label = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    matrix = confusion_matrix(label, predicted, 4)
    assert matrix.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert row_normalized(matrix)[1].tolist() == pytest.approx([1 / 3, 2 / 3, 0, 0])
    assert row_normalized(matrix)[3].tolist() == [0, 0, 0, 0]
    probs = np.eye(4, dtype=np.float32)[predicted]
    ps = PredictionSet("student", 1, label, {"student": probs})
    accuracy = per_class_accuracy(ps, "student")
    assert accuracy[:3].tolist() == pytest.approx([0.5, 2 / 3, 1.0]) and np.isnan(accuracy[3])
    # F1 per present class: class 0: 2*1/(2+2)=0.5, class 1: 2*2/(3+3)=2/3, class 2: 1.
    assert epoch_metrics(ps)["student"]["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)


def test_pca_finds_the_axis_of_largest_spread():
    rng = np.random.default_rng(0)
    points = np.zeros((500, 5))
    points[:, 3] = rng.normal(0, 10, 500)  # the main axis
    points[:, 1] = rng.normal(0, 1, 500)
    projected = pca_2d(points)
    assert projected.shape == (500, 2)
    assert abs(np.corrcoef(projected[:, 0], points[:, 3])[0, 1]) > 0.99
    assert abs(np.corrcoef(projected[:, 1], points[:, 1])[0, 1]) > 0.99


def test_config_diff_lists_only_the_changed_dotted_keys():
    first = {"train": {"lr": 0.001, "epochs": 10}, "loss": {"kd": {"temperature": 4.0}}, "data": {"grayscale": []}}
    second = {"train": {"lr": 0.003, "epochs": 10}, "loss": {"kd": {"temperature": 2.0}}, "data": {"grayscale": []}}
    assert flatten(first)["loss.kd.temperature"] == 4.0
    assert config_diff(first, second) == [("loss.kd.temperature", 4.0, 2.0), ("train.lr", 0.001, 0.003)]
    assert config_diff(first, first) == []
