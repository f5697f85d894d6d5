"""Classification metrics on CPU numpy arrays: accuracy, macro-F1, top-k, agreement, confusion matrix."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def accuracy(labels: np.ndarray, preds: np.ndarray) -> float:
    labels = np.asarray(labels)
    return float((labels == np.asarray(preds)).mean()) if labels.size else 0.0


def macro_f1(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> float:
    """Mean per-class F1 over the classes present in the truth or the predictions.

    A class that neither occurs nor is predicted has an undefined F1 (0/0); counting it
    as 0 would punish a validation split that happens to lack it, so it is left out.
    """
    matrix = confusion_matrix(labels, preds, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    support = matrix.sum(1)
    predicted = matrix.sum(0)
    present = (support + predicted) > 0
    if not present.any():
        return 0.0
    f1 = 2.0 * true_positive[present] / (support[present] + predicted[present])
    return float(f1.mean())


def top_k_accuracy(labels: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` most probable."""
    labels = np.asarray(labels)
    if not labels.size:
        return 0.0
    top = np.argpartition(-probs, kth=min(k, probs.shape[1]) - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def agreement(preds_a: np.ndarray, preds_b: np.ndarray) -> float:
    """Share of samples on which two networks predict the same class (top-1)."""
    preds_a = np.asarray(preds_a)
    return float((preds_a == np.asarray(preds_b)).mean()) if preds_a.size else 0.0


def classification_metrics(labels: np.ndarray, probs: np.ndarray, loss: float) -> dict[str, float]:
    """The validation metrics of one network: ``val_loss``, ``val_accuracy``, ``val_macro_f1``,
    and ``val_top5`` when there are more than 5 classes."""
    preds = probs.argmax(1)
    num_classes = probs.shape[1]
    metrics = {
        "val_loss": float(loss),
        "val_accuracy": accuracy(labels, preds),
        "val_macro_f1": macro_f1(labels, preds, num_classes),
    }
    if num_classes > 5:
        metrics["val_top5"] = top_k_accuracy(labels, probs, 5)
    return metrics


def segmentation_metrics(labels: np.ndarray, masks: np.ndarray, num_classes: int, ignore_index: int,
                         class_names: list[str] | None = None) -> dict[str, float]:
    """Per-pixel scores over a whole split, pixels labelled ``ignore_index`` left out.

    ``val_miou``: mean over classes of intersection / union, over the classes present in the
    truth or the predictions (a class absent from both has an undefined IoU, 0/0, and is left
    out, as macro-F1 does); ``val_accuracy``: pixel accuracy; ``val_macro_f1``: the mean
    per-class F1 (Dice) of the pixels; ``val_iou/<class>`` for every class whose IoU is defined.
    """
    labels = np.asarray(labels).reshape(-1)
    masks = np.asarray(masks).reshape(-1)
    scored = labels != ignore_index
    labels, masks = labels[scored].astype(np.int64), masks[scored].astype(np.int64)
    matrix = confusion_matrix(labels, masks, num_classes)
    intersection = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    present = union > 0
    iou = np.full(num_classes, np.nan)
    iou[present] = intersection[present] / union[present]
    metrics = {
        "val_miou": float(iou[present].mean()) if present.any() else 0.0,
        "val_accuracy": accuracy(labels, masks),
        "val_macro_f1": macro_f1(labels, masks, num_classes),
    }
    names = class_names or [str(c) for c in range(num_classes)]
    metrics.update({f"val_iou/{name}": float(value) for name, value, defined in zip(names, iou, present) if defined})
    return metrics


def recall_at_k(queries: np.ndarray, gallery: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Instance retrieval by cosine similarity: query i's match is gallery row i.

    ``R@k`` is the share of queries whose match ranks among the k most similar gallery rows
    (ties counted against the query: a match must beat every row that is not it).
    """
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    similarity = queries @ gallery.T
    matched = np.diag(similarity)
    rank = (similarity >= matched[:, None]).sum(1) - 1  # rows at least as similar as the match, the match excluded
    return {f"R@{k}": float((rank < k).mean()) for k in ks}
