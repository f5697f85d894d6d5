"""Datasets, collation and loaders as the trainer uses them."""

from __future__ import annotations

import pytest
import torch
from data_builders import make_cfg, write_class_folders

from workbench.data import collate_batch, make_loader, prepare_data
from workbench.errors import WorkbenchError


def test_collate_pads_text_to_the_longest_in_the_batch():
    items = [
        {"image": torch.zeros(3, 2, 2), "text": torch.tensor([5, 6, 7]), "label": 1, "index": 4},
        {"image": torch.ones(3, 2, 2), "text": torch.tensor([8]), "label": 0, "index": 9},
    ]
    batch = collate_batch(items)
    assert batch["image"].shape == (2, 3, 2, 2)
    assert batch["text"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["label"].tolist() == [1, 0] and batch["label"].dtype == torch.int64
    assert batch["index"].tolist() == [4, 9] and batch["index"].dtype == torch.int64


def test_loader_batches_are_deterministic_for_a_seed(tmp_path):
    write_class_folders(tmp_path, per_class=6)
    data = prepare_data(make_cfg(tmp_path, image_size=8, text_max_length=4), seed=0)

    def order(seed):
        return [batch["index"].tolist() for batch in make_loader(data.train, 4, shuffle=True, seed=seed)]

    assert order(1) == order(1) != order(2)
    batch = next(iter(make_loader(data.train, 4, shuffle=False, seed=0)))
    assert batch["text"].shape == (4, 4), "captions of 7 tokens are truncated to text_max_length"
    assert batch["image"].shape == (4, 3, 8, 8)


def test_loader_with_a_worker_process(tmp_path):
    write_class_folders(tmp_path, per_class=3)
    data = prepare_data(make_cfg(tmp_path, image_size=8), seed=0)
    loader = make_loader(data.val, 2, shuffle=False, seed=0, num_workers=1)
    indices = [i for batch in loader for i in batch["index"].tolist()]
    assert indices == data.val.sample_indices


def test_augmentation_only_on_the_training_set(tmp_path):
    write_class_folders(tmp_path, per_class=4, captions=False)
    data = prepare_data(make_cfg(tmp_path, image_size=8, augment=True), seed=0)
    assert data.train.augment and not data.val.augment
    assert torch.equal(data.val[0]["image"], data.val[0]["image"])


def test_fingerprint_changes_with_the_data(tmp_path):
    write_class_folders(tmp_path, per_class=3)
    cfg = make_cfg(tmp_path, image_size=8)
    first = prepare_data(cfg, seed=0).fingerprint
    assert prepare_data(cfg, seed=0).fingerprint == first
    (tmp_path / "cat" / "cat0.txt").write_text("a different caption, longer", encoding="utf-8")
    assert prepare_data(cfg, seed=0).fingerprint != first


def test_text_only_manifest_trains(tmp_path):
    rows = ["label,caption"] + [f"{'ab'[i % 2]},\"caption {i}, in 中文 {'红' * i}\"" for i in range(10)]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = prepare_data(make_cfg(tmp_path, text_max_length=6), seed=0)
    batch = next(iter(make_loader(data.train, 8, shuffle=False, seed=0)))
    assert set(batch) == {"caption", "label", "index"}
    assert batch["caption"].shape == (8, 6)


def test_only_the_named_fields_are_fitted_and_decoded(tmp_path):
    write_class_folders(tmp_path, per_class=3, audio=True)
    cfg = make_cfg(tmp_path, image_size=8)
    everything = prepare_data(cfg, seed=0)
    assert set(everything.preprocessing.processors) == {"image", "text", "audio"}
    images_only = prepare_data(cfg, seed=0, fields={"image"})
    assert set(images_only.preprocessing.processors) == set(images_only.fields) == {"image"}
    assert set(images_only.train[0]) == {"image", "label", "index"}  # no spectrogram computed
    # A field's fitted state does not depend on which other fields are used.
    assert images_only.preprocessing.to_dict()["fields"]["image"] == everything.preprocessing.to_dict()["fields"]["image"]
    assert torch.equal(images_only.val[0]["image"], everything.val[0]["image"])


def test_an_unknown_field_is_named(tmp_path):
    write_class_folders(tmp_path, per_class=3)
    with pytest.raises(WorkbenchError, match="no field 'depth'"):
        prepare_data(make_cfg(tmp_path, image_size=8), seed=0, fields={"image", "depth"})
