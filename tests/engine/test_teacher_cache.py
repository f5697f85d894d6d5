"""The teacher-output cache: the student stage gives the same metrics with and without it, in memory or on disk,
and it stays off when augmentation changes what the teacher sees."""

from __future__ import annotations

import torch

from workbench.config import NETS
from workbench.engine.models import NetworkOutput
from workbench.engine.teacher_cache import TeacherOutputCache
from workbench.engine.trainer import Trainer

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


def _metrics(summary: dict) -> dict:
    return {net: {key: summary[net][key] for key in ("val_accuracy", "val_macro_f1", "val_loss")} for net in NETS}


def test_the_cache_gives_the_metrics_of_the_uncached_run(tiny_dataset, tmp_path, monkeypatch):
    runs = {}
    for label, budget in (("uncached", 0), ("memory", 1024), ("disk", 0.0001)):
        cfg = tiny_config(tiny_dataset, tmp_path / label, epochs=3)
        cfg.loss.feature.weight = 0.5  # the teacher's embedding is used too, not only its logits
        cfg.train.teacher_cache_mb = 1 if budget else 0
        if budget and budget < 1:  # a budget below one row: every output goes to the file
            monkeypatch.setattr(TeacherOutputCache, "__init__", _tiny_budget(TeacherOutputCache.__init__))
        forwards = _count_teacher_forwards(monkeypatch)
        runs[label] = (_metrics(Trainer(cfg).fit()), forwards["student"])
        monkeypatch.undo()
    assert runs["memory"][0] == runs["uncached"][0]
    assert runs["disk"][0] == runs["uncached"][0]
    assert runs["uncached"][1] > 0
    assert runs["memory"][1] == runs["disk"][1] == runs["uncached"][1] / 3  # the first of 3 epochs only


def test_augmented_teacher_images_are_not_cached(tiny_dataset, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=2)
    cfg.data.augment = True
    forwards = _count_teacher_forwards(monkeypatch)
    cfg.train.teacher_cache_mb = 0
    Trainer(cfg).fit()
    uncached, forwards["student"] = forwards["student"], 0
    cfg.train.teacher_cache_mb = 1024
    Trainer(cfg).fit()
    assert forwards["student"] == uncached > 0


def test_rows_round_trip_exactly_in_their_dtype(tmp_path):
    for budget in (2**20, 0):
        cache = TeacherOutputCache(10, budget, tmp_path)
        output = NetworkOutput(torch.randn(4, 3).to(torch.bfloat16), torch.randn(4, 5))
        indices = torch.tensor([7, 2, 9, 0])
        assert cache.lookup(indices, torch.device("cpu")) is None
        cache.store(indices, output)
        assert cache.on_disk == (budget == 0)
        assert cache.lookup(torch.tensor([2, 3]), torch.device("cpu")) is None  # 3 was never stored
        again = cache.lookup(torch.tensor([0, 7]), torch.device("cpu"))
        assert again.logits.dtype == torch.bfloat16
        assert torch.equal(again.logits, output.logits[[3, 0]]) and torch.equal(again.embedding, output.embedding[[3, 0]])
        cache.close()
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def _tiny_budget(init):
    def patched(self, num_samples, budget_bytes, folder):
        init(self, num_samples, 0, folder)

    return patched


def _count_teacher_forwards(monkeypatch) -> dict:
    """Counts the teacher's forward passes in student training steps (validation is not counted)."""
    counts = {"student": 0}
    original = Trainer._train_step

    def counting_step(self, stage, *args, **kwargs):
        if stage != "student":
            return original(self, stage, *args, **kwargs)
        forward = self.teacher.forward

        def counted(batch):
            counts["student"] += 1
            return forward(batch)

        self.teacher.forward = counted
        try:
            return original(self, stage, *args, **kwargs)
        finally:
            del self.teacher.forward

    monkeypatch.setattr(Trainer, "_train_step", counting_step)
    return counts
