"""What the result views compute from one validation epoch's predictions: pure numpy, no Qt.

The gallery shows a *selection*: an int64 array of row positions into the prediction
arrays (rows are in ``samples.json`` order), made by a filter, an optional
confusion-matrix cell, a text search and a sort. Keeping this Qt-free lets the tests
check every filter on arrays with known answers, and lets the gallery model hold a
plain index array instead of going through a QSortFilterProxyModel (which calls back
into Python once per row and is slow at 10,000 rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from workbench.config import NETS
from workbench.engine.metrics import agreement, macro_f1, recall_at_k, top_k_accuracy


# Filter name -> label; the order is the order of the gallery's filter box.
FILTERS = {
    "all": "All samples",
    "student_wrong": "Student wrong",
    "teacher_right_student_wrong": "Teacher right, student wrong",
    "student_right_baseline_wrong": "Student right, baseline wrong (fixed by distillation)",
    "disagree": "Teacher and student disagree",
}
# Sort name -> (label, descending by default). Least confident and highest loss first:
# the samples worth looking at come to the top.
SORTS = {
    "none": ("Dataset order", False),
    "student_confidence": ("Student confidence (lowest first)", False),
    "student_loss": ("Student loss (highest first)", True),
    "kl": ("Teacher-student KL (highest first)", True),
}

_EPS = 1e-12


@dataclass
class PredictionSet:
    """One validation epoch: labels, each network's class probabilities and embeddings.

    ``probs`` and ``embeddings`` hold only the networks the epoch has (the teacher stage
    has no student). Derived per-sample arrays are computed once, on first use.
    """

    stage: str
    epoch: int
    label: np.ndarray  # (N,) int64
    probs: dict[str, np.ndarray]  # net -> (N, C) float32
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # net -> (N, D) float32
    index: np.ndarray | None = None  # (N,) position of each row in the dataset index
    # student and teacher embeddings in the contrastive term's shared space (runs with that term)
    shared: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, stage: str, epoch: int, arrays: dict[str, np.ndarray]) -> PredictionSet:
        """Build from the ``predictions`` arrays of the ``on_validation_end`` payload or an npz file."""
        probs = {net: np.asarray(arrays[f"{net}_probs"], dtype=np.float32)
                 for net in NETS if f"{net}_probs" in arrays}
        embeddings = {net: np.asarray(arrays[f"{net}_embedding"], dtype=np.float32)
                      for net in NETS if f"{net}_embedding" in arrays}
        index = np.asarray(arrays["index"], dtype=np.int64) if "index" in arrays else None
        shared = {net: np.asarray(arrays[f"{net}_shared"], dtype=np.float32)
                  for net in NETS if f"{net}_shared" in arrays}
        return cls(stage, int(epoch), np.asarray(arrays["label"], dtype=np.int64), probs, embeddings, index, shared)

    @property
    def nets(self) -> list[str]:
        return [net for net in NETS if net in self.probs]

    @property
    def num_samples(self) -> int:
        return int(self.label.shape[0])

    @property
    def num_classes(self) -> int:
        return int(next(iter(self.probs.values())).shape[1])

    @cached_property
    def predicted(self) -> dict[str, np.ndarray]:
        return {net: p.argmax(1) for net, p in self.probs.items()}

    @cached_property
    def confidence(self) -> dict[str, np.ndarray]:
        return {net: p.max(1) for net, p in self.probs.items()}

    @cached_property
    def correct(self) -> dict[str, np.ndarray]:
        return {net: pred == self.label for net, pred in self.predicted.items()}

    @cached_property
    def loss(self) -> dict[str, np.ndarray]:
        """Per-sample cross-entropy, -log p(true class)."""
        rows = np.arange(self.num_samples)
        return {net: -np.log(np.maximum(p[rows, self.label], _EPS)) for net, p in self.probs.items()}

    @cached_property
    def teacher_student_kl(self) -> np.ndarray | None:
        """Per-sample KL(teacher || student): how far the student is from the teacher's distribution."""
        if "teacher" not in self.probs or "student" not in self.probs:
            return None
        teacher = np.maximum(self.probs["teacher"], _EPS)
        student = np.maximum(self.probs["student"], _EPS)
        return (teacher * (np.log(teacher) - np.log(student))).sum(1)

    def derive(self) -> PredictionSet:
        """Compute every derived array now (in a worker thread, so the GUI thread finds them ready)."""
        for name in ("predicted", "confidence", "correct", "loss", "teacher_student_kl"):
            getattr(self, name)
        return self

    def available_filters(self) -> list[str]:
        """Filters whose networks this epoch has."""
        needs = {"student_wrong": ("student",), "teacher_right_student_wrong": ("teacher", "student"),
                 "student_right_baseline_wrong": ("student", "baseline"), "disagree": ("teacher", "student")}
        return [name for name in FILTERS if all(net in self.probs for net in needs.get(name, ()))]

    def available_sorts(self) -> list[str]:
        needs = {"student_confidence": "student", "student_loss": "student", "kl": "kl"}
        have = set(self.probs) | ({"kl"} if self.teacher_student_kl is not None else set())
        return [name for name in SORTS if needs.get(name, name) in have or name == "none"]


# ----------------------------------------------------------------------------- selection

def filter_mask(ps: PredictionSet, name: str) -> np.ndarray:
    """Boolean (N,) mask of the samples a named filter keeps."""
    correct = ps.correct
    if name == "all":
        return np.ones(ps.num_samples, dtype=bool)
    if name == "student_wrong":
        return ~correct["student"]
    if name == "teacher_right_student_wrong":
        return correct["teacher"] & ~correct["student"]
    if name == "student_right_baseline_wrong":
        return correct["student"] & ~correct["baseline"]
    if name == "disagree":
        return ps.predicted["teacher"] != ps.predicted["student"]
    raise ValueError(f"unknown filter {name!r}; expected one of {', '.join(FILTERS)}")


@dataclass(frozen=True)
class ConfusionCell:
    """The samples of true class ``true_class`` that ``net`` predicted as ``predicted_class``."""

    net: str
    true_class: int
    predicted_class: int


def cell_mask(ps: PredictionSet, cell: ConfusionCell) -> np.ndarray:
    return (ps.label == cell.true_class) & (ps.predicted[cell.net] == cell.predicted_class)


def search_mask(haystacks: list[str], text: str) -> np.ndarray:
    """Samples whose haystack (file names and captions, lower case) contains every word of ``text``."""
    words = text.lower().split()
    if not words:
        return np.ones(len(haystacks), dtype=bool)
    return np.fromiter((all(word in hay for word in words) for hay in haystacks), dtype=bool,
                       count=len(haystacks))


def sort_key(ps: PredictionSet, name: str) -> np.ndarray | None:
    """Per-sample value a named sort orders by (ascending); None for dataset order."""
    if name == "none":
        return None
    if name == "student_confidence":
        return ps.confidence["student"]
    if name == "student_loss":
        return ps.loss["student"]
    if name == "kl":
        return ps.teacher_student_kl
    raise ValueError(f"unknown sort {name!r}; expected one of {', '.join(SORTS)}")


def select(ps: PredictionSet, filter_name: str = "all", sort_name: str = "none", descending: bool | None = None,
           search: str = "", haystacks: list[str] | None = None, cell: ConfusionCell | None = None) -> np.ndarray:
    """Row positions the gallery shows, in display order.

    ``descending=None`` uses the sort's natural direction (see ``SORTS``). Ties keep
    dataset order (stable sort), so the same inputs always give the same gallery.
    """
    mask = filter_mask(ps, filter_name)
    if cell is not None:
        mask &= cell_mask(ps, cell)
    if search and haystacks is not None:
        mask &= search_mask(haystacks, search)
    rows = np.flatnonzero(mask)
    key = sort_key(ps, sort_name)
    if key is None:
        return rows
    if descending is None:
        descending = SORTS[sort_name][1]
    values = key[rows]
    order = np.argsort(-values if descending else values, kind="stable")
    return rows[order]


# ----------------------------------------------------------------------------- metrics

def row_normalized(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (recall per true class); empty rows stay 0."""
    totals = matrix.sum(1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0)


def per_class_accuracy(ps: PredictionSet, net: str) -> np.ndarray:
    """(C,) share of each class's samples the net got right; NaN for a class with no sample."""
    counts = np.bincount(ps.label, minlength=ps.num_classes).astype(np.float64)
    right = np.bincount(ps.label[ps.correct[net]], minlength=ps.num_classes)
    return np.divide(right, counts, out=np.full(ps.num_classes, np.nan), where=counts > 0)


def epoch_metrics(ps: PredictionSet) -> dict[str, dict[str, float]]:
    """Per net: accuracy, macro-F1, top-5 (more than 5 classes), loss, agreement with the teacher, and
    for the student and teacher of a run with the contrastive term, retrieval Recall@1/5/10."""
    metrics: dict[str, dict[str, float]] = {}
    for net in ps.nets:
        values = {
            "accuracy": float(ps.correct[net].mean()),
            "macro_f1": macro_f1(ps.label, ps.predicted[net], ps.num_classes),
            "loss": float(ps.loss[net].mean()),
        }
        if ps.num_classes > 5:
            values["top5"] = top_k_accuracy(ps.label, ps.probs[net], 5)
        if net != "teacher" and "teacher" in ps.probs:
            values["agreement"] = agreement(ps.predicted[net], ps.predicted["teacher"])
        metrics[net] = values
    if len(ps.shared) == 2:  # cross-modal retrieval: each side's embeddings query the other side's
        for query, gallery in (("student", "teacher"), ("teacher", "student")):
            recalls = recall_at_k(ps.shared[query], ps.shared[gallery])
            metrics[query].update({f"retrieval_r{k}": recalls[f"R@{k}"] for k in (1, 5, 10)})
    return metrics


def pca_2d(points: np.ndarray) -> np.ndarray:
    """(N, 2) projection on the two principal axes, signs fixed so reruns look the same."""
    centered = points.astype(np.float64) - points.mean(0)
    if centered.shape[1] < 2 or centered.shape[0] < 2:
        return np.zeros((points.shape[0], 2), dtype=np.float32)
    covariance = centered.T @ centered / (centered.shape[0] - 1)
    _, vectors = np.linalg.eigh(covariance)  # eigenvalues ascending
    axes = vectors[:, ::-1][:, :2]
    # An eigenvector's sign is arbitrary: make each axis's largest loading positive.
    signs = np.sign(axes[np.abs(axes).argmax(0), [0, 1]])
    return (centered @ (axes * np.where(signs == 0, 1, signs))).astype(np.float32)
