"""The built-in sample dataset."""

from __future__ import annotations

import hashlib

import pytest
from data_builders import make_cfg

from workbench.data import check_dataset, prepare_data, write_sample_dataset
from workbench.errors import WorkbenchError


def digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_sample_is_byte_identical_for_a_seed(tmp_path):
    options = dict(classes=3, per_class=4, image_size=16, audio=True)
    first = digest(write_sample_dataset(tmp_path / "a", seed=7, **options))
    assert first == digest(write_sample_dataset(tmp_path / "b", seed=7, **options))
    assert first != digest(write_sample_dataset(tmp_path / "c", seed=8, **options))


def test_sample_is_a_trainable_class_folder_dataset_with_all_modalities(tmp_path):
    root = write_sample_dataset(tmp_path / "s", classes=3, per_class=5, image_size=16, audio=True)
    report = check_dataset(root, make_cfg(root), seed=0)
    assert report.trainable and not report.problems
    assert report.index.layout == "class_folders"
    assert report.index.class_names == ["circle", "square", "triangle"]
    assert set(report.index.fields) == {"image", "text", "audio"}
    data = prepare_data(make_cfg(root, image_size=16), seed=0, report=report)
    assert data.train[0]["image"].shape == (3, 16, 16)


def test_sample_defaults_and_without_audio(tmp_path):
    root = write_sample_dataset(tmp_path / "s", per_class=2)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(
        ["circle", "square", "triangle", "diamond", "star", "cross"]
    )
    assert not list(root.rglob("*.wav"))
    assert len(list(root.rglob("*.png"))) == len(list(root.rglob("*.txt"))) == 12


def test_noise_options_change_images_and_captions(tmp_path):
    clean = write_sample_dataset(tmp_path / "clean", classes=2, per_class=6, image_noise=0.0, caption_noise=0.0)
    noisy = write_sample_dataset(tmp_path / "noisy", classes=2, per_class=6, image_noise=1.0, caption_noise=1.0)
    captions = [p.read_text(encoding="utf-8") for p in sorted(clean.rglob("circle*.txt"))]
    assert all(any(word in c for word in ("circle", "round")) for c in captions)
    noisy_captions = [p.read_text(encoding="utf-8") for p in sorted(noisy.rglob("circle*.txt"))]
    assert not any("circle" in c for c in noisy_captions), "every caption is vague or names the wrong shape"
    assert digest(clean)["circle/circle_0000.png"] != digest(noisy)["circle/circle_0000.png"]


def test_sample_overwrites_only_an_earlier_sample(tmp_path):
    root = write_sample_dataset(tmp_path / "s", classes=2, per_class=2)
    write_sample_dataset(root, classes=3, per_class=2)
    assert len([p for p in root.iterdir() if p.is_dir()]) == 3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="not an earlier sample"):
        write_sample_dataset(tmp_path / "mine")
    assert (tmp_path / "mine" / "precious.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(
    "options", [{"classes": 1}, {"classes": 11}, {"per_class": 1}, {"image_size": 4}, {"image_noise": 1.5}]
)
def test_sample_options_are_checked(tmp_path, options):
    with pytest.raises(WorkbenchError):
        write_sample_dataset(tmp_path / "s", **options)
