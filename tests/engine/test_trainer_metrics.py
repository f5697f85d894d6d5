"""Validation metrics against hand-computed values."""

import numpy as np
import pytest

from workbench.engine.metrics import accuracy, agreement, classification_metrics, confusion_matrix, macro_f1, top_k_accuracy


def test_confusion_matrix_rows_are_truth_columns_predictions():
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 4)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]


def test_macro_f1_leaves_out_classes_absent_from_truth_and_predictions():
    labels, preds = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1])
    # F1: class 0 = 2/3, class 1 = 2*1/(1+3) = 0.5, class 2 = 0; class 3 never occurs: left out.
    assert macro_f1(labels, preds, 4) == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert accuracy(labels, preds) == 0.5 and agreement(preds, labels) == 0.5


def test_top5_appears_only_with_more_than_five_classes():
    probs = np.eye(6, dtype=np.float32)[[5, 4, 3]] + np.linspace(0, 0.1, 6, dtype=np.float32)
    labels = np.array([0, 4, 5])
    assert top_k_accuracy(labels, probs, 5) == pytest.approx(2 / 3)  # class 0 has the least probability in row 0
    assert "val_top5" in classification_metrics(labels, probs, 1.0)
    assert "val_top5" not in classification_metrics(labels[:2], probs[:2, :5], 1.0)
