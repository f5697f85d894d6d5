"""The quick-start sample: its own train/val split, label noise in training only, the same defaults everywhere."""

from __future__ import annotations

from workbench.cli import build_parser
from workbench.config import SAMPLE_QUICK_START, DataConfig
from workbench.data import check_dataset, write_sample_dataset
from workbench.data.sample import SHAPES


def test_the_split_is_given_and_only_training_labels_are_noisy(tmp_path):
    root = write_sample_dataset(tmp_path / "s", classes=3, per_class=20, val_per_class=10, label_noise=0.5,
                                image_size=16, seed=0)
    report = check_dataset(root, DataConfig(root=str(root)), seed=0)
    assert report.split_source == "given" and report.trainable
    samples = report.index.samples
    val = [samples[i] for i in report.splits["val"]]
    train = [samples[i] for i in report.splits["train"]]
    assert len(val) == 30 and len(train) == 60
    true_shape = lambda sample: sample.id.rsplit("/", 1)[-1].rsplit("_", 1)[0]  # the file keeps its true shape's name
    assert all(true_shape(sample) == sample.label for sample in val)
    wrong = sum(true_shape(sample) != sample.label for sample in train)
    assert 15 <= wrong <= 45  # about half, drawn per sample
    assert {sample.label for sample in train} == set(SHAPES[:3])


def test_the_cli_writes_the_quick_start_sample_by_default():
    args = build_parser().parse_args(["sample", "out"])
    assert {key: getattr(args, key) for key in SAMPLE_QUICK_START} == SAMPLE_QUICK_START
