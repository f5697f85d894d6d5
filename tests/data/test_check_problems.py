"""Every kind of problem is reported with its file and reason, and never crashes the check."""

from __future__ import annotations

import numpy as np
import pytest
from data_builders import make_cfg, problem_reasons, write_class_folders, write_image, write_text
from PIL import Image

from workbench.data import check_dataset


def check(root, **overrides):
    return check_dataset(root, make_cfg(root, **overrides), seed=0)


def severity(report, path):
    return {p.path: p.severity for p in report.problems}[path]


@pytest.fixture
def good(tmp_path):
    """Two classes of three captioned images: the base that each test spoils in one way."""
    return write_class_folders(tmp_path / "d", per_class=3)


def test_truncated_image_is_skipped(good):
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good / "cat" / "cat0.png")
    data = (good / "cat" / "cat0.png").read_bytes()
    (good / "cat" / "cat0.png").write_bytes(data[: len(data) * 2 // 3])
    report = check(good)
    assert "truncated or corrupt" in problem_reasons(report)["cat/cat0.png"]
    assert severity(report, "cat/cat0.png") == "error"
    assert len(report.index.samples) == 5 and report.trainable


def test_unreadable_image_is_skipped(good):
    (good / "cat" / "cat0.png").write_bytes(b"this is not an image at all")
    assert "cannot read image" in problem_reasons(check(good))["cat/cat0.png"]


def test_zero_byte_file_is_skipped(good):
    (good / "dog" / "dog1.png").write_bytes(b"")
    (good / "dog" / "dog2.txt").write_bytes(b"")
    reasons = problem_reasons(check(good))
    assert reasons["dog/dog1.png"] == "empty file (0 bytes)"
    assert reasons["dog/dog2.txt"] == "empty file (0 bytes)"


def test_missing_caption_beside_an_image(good):
    (good / "dog" / "dog1.txt").unlink()
    reasons = problem_reasons(check(good))
    assert "missing text file" in reasons["dog/dog1.txt"]


def test_missing_file_named_by_the_manifest(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "manifest.csv").write_text("label,image\nx,a.png\ny,gone.png\n", encoding="utf-8")
    report = check(tmp_path)
    assert problem_reasons(report)["gone.png"] == "file not found"
    assert next(p for p in report.problems if p.path == "gone.png").sample_id == "manifest.csv:3"


def test_text_that_is_not_utf8_is_decoded_with_replacement_and_reported(good):
    (good / "cat" / "cat1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    report = check(good)
    assert "not valid UTF-8" in problem_reasons(report)["cat/cat1.txt"]
    assert severity(report, "cat/cat1.txt") == "warning"
    sample = next(s for s in report.index.samples if s.id == "cat/cat1.png")
    assert report.index.text(sample, "text") == "caf\ufffd au lait"


def test_empty_caption_file_and_empty_inline_caption(good, tmp_path):
    write_text(good / "cat" / "cat2.txt", "  \n")
    assert "empty caption" in problem_reasons(check(good))["cat/cat2.txt"]
    manifest_root = tmp_path / "m"
    manifest_root.mkdir()
    (manifest_root / "manifest.csv").write_text("label,caption\na,x\nb,\n", encoding="utf-8")
    assert "empty caption" in problem_reasons(check(manifest_root))["manifest.csv:3"]


def test_sample_with_no_label(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,caption\na,x\n  ,y\n", encoding="utf-8")
    assert "no label" in problem_reasons(check(tmp_path))["manifest.csv:3"]


def test_image_outside_any_class_folder_has_no_label(good):
    write_image(good / "stray.png")
    assert "not inside a class folder" in problem_reasons(check(good))["stray.png"]


def test_duplicate_rows(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,caption\na,same\nb,other\na,same\n", encoding="utf-8")
    report = check(tmp_path)
    assert problem_reasons(report)["manifest.csv:4"] == "duplicate of manifest.csv:2; remove one of the rows"
    assert len(report.index.samples) == 2


def test_class_with_fewer_than_two_samples(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,caption\na,x1\na,x2\nb,y1\nb,y2\nlonely,z\n", encoding="utf-8")
    report = check(tmp_path)
    assert "only 1 sample" in problem_reasons(report)["lonely"]
    assert severity(report, "lonely") == "warning"
    assert report.class_counts["lonely"] == {"train": 1, "val": 0, "test": 0, "total": 1}


def test_class_only_in_validation_is_dropped(tmp_path):
    write_class_folders(tmp_path / "train", per_class=2, captions=False)
    write_class_folders(tmp_path / "val", classes=("cat", "dog", "fox"), per_class=1, captions=False)
    report = check(tmp_path)
    assert "appears only in val" in problem_reasons(report)["fox"]
    assert report.skipped == 1
    assert report.index.class_names == ["cat", "dog"]
    assert all(report.index.samples[i].label != "fox" for i in report.splits["val"])
    assert report.trainable


def test_paths_that_leave_the_dataset_folder(tmp_path):
    root = tmp_path / "d"
    outside = write_image(tmp_path / "outside.png")
    write_image(root / "ok1.png")
    write_image(root / "ok2.png")
    (root / "link.png").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    (root / "manifest.csv").write_text(
        f"label,image\na,ok1.png\nb,ok2.png\na,../outside.png\nb,{outside}\na,link.png\nb,linkdir/outside.png\n",
        encoding="utf-8",
    )
    reasons = problem_reasons(check(root))
    assert "leaves the dataset folder" in reasons["../outside.png"]
    assert "absolute path" in reasons[str(outside)]
    assert "symbolic link points outside" in reasons["link.png"]
    assert "pointing outside" in reasons["linkdir/outside.png"]


def test_symlinked_folder_outside_is_not_followed_in_class_folders(good, tmp_path):
    elsewhere = write_class_folders(tmp_path / "elsewhere", classes=("owl",), per_class=2)
    (good / "cat" / "more").symlink_to(elsewhere / "owl", target_is_directory=True)
    report = check(good)
    assert "pointing outside" in problem_reasons(report)["cat/more"]
    assert len(report.index.samples) == 6


def test_decompression_bomb_is_refused_before_decoding(good):
    write_image(good / "cat" / "cat0.png", size=(64, 64))
    report = check(good, max_image_pixels=1000)
    assert "over the cap of 1000" in problem_reasons(report)["cat/cat0.png"]


def test_text_file_over_the_size_cap(good):
    write_text(good / "dog" / "dog0.txt", "word " * 100)
    assert "larger than the 64-byte cap" in problem_reasons(check(good, max_text_bytes=64))["dog/dog0.txt"]


def test_bad_arrays(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3, np.float32))
    np.save(tmp_path / "b.npy", np.zeros(3, np.float32))
    np.save(tmp_path / "wrong_shape.npy", np.zeros(4, np.float32))
    np.save(tmp_path / "strings.npy", np.array(["a", "b", "c"]))
    np.save(tmp_path / "objects.npy", np.array([{}, 1, "x"], dtype=object), allow_pickle=True)
    (tmp_path / "manifest.csv").write_text(
        "label,vec\na,a.npy\nb,b.npy\na,wrong_shape.npy\nb,strings.npy\na,objects.npy\n,a.npy\nb,\n", encoding="utf-8"
    )
    report = check(tmp_path)
    reasons = problem_reasons(report)
    assert "differs from the field's shape (3,)" in reasons["wrong_shape.npy"]
    assert "not numeric" in reasons["strings.npy"]
    assert "cannot read .npy" in reasons["objects.npy"]
    assert "no label" in reasons["manifest.csv:7"] and "no file named" in reasons["manifest.csv:8"]
    assert report.index.fields["vec"].shape == (3,)


def test_bad_audio(good):
    for i in range(3):
        for name in ("cat", "dog"):
            (good / name / f"{name}{i}.wav").write_bytes(b"RIFF....WAVEjunk" if (name, i) == ("cat", 0) else b"")
    reasons = problem_reasons(check(good))
    assert "WAV file has no 'fmt ' or 'data' chunk" in reasons["cat/cat0.wav"]


def test_file_of_the_wrong_kind_in_a_manifest_column(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    (tmp_path / "manifest.csv").write_text("label,image\na,a.png\nb,b.png\na,c.png\nb,notes.doc\n", encoding="utf-8")
    assert "holds image files" in problem_reasons(check(tmp_path))["notes.doc"]


def test_stray_files_are_reported_not_silently_dropped(good):
    write_text(good / "cat" / "orphan.txt", "no image for me")
    (good / "cat" / "readme.md").write_text("hello", encoding="utf-8")
    reasons = problem_reasons(check(good))
    assert "no image with the same name" in reasons["cat/orphan.txt"]
    assert "not an image, caption" in reasons["cat/readme.md"]


def test_nothing_trainable_left_gives_an_actionable_message(tmp_path):
    (tmp_path / "cat").mkdir()
    write_image(tmp_path / "cat" / "a.png").write_bytes(b"")
    report = check(tmp_path)
    assert not report.trainable
    assert "one folder per class" in report.advice and "workbench sample" in report.advice
    assert report.format_text().splitlines()[-1].startswith("Trainable: no.")


def test_a_single_class_is_not_trainable(tmp_path):
    write_class_folders(tmp_path, classes=("only",), per_class=4)
    report = check(tmp_path)
    assert not report.trainable and "at least 2 classes" in report.advice


def test_problems_of_several_kinds_do_not_hide_each_other(good):
    (good / "cat" / "cat0.png").write_bytes(b"")
    write_text(good / "cat" / "cat0.txt", "")
    reasons = problem_reasons(check(good))
    assert reasons["cat/cat0.png"] == "empty file (0 bytes)"
    assert reasons["cat/cat0.txt"] == "empty file (0 bytes)"


def test_palette_and_alpha_images_are_not_problems(good):
    Image.new("P", (8, 8)).save(good / "cat" / "cat1.png")
    Image.new("RGBA", (8, 8), (1, 2, 3, 0)).save(good / "cat" / "cat2.png")
    assert not check(good).problems


def test_manifest_that_is_not_utf8_is_read_with_a_warning(tmp_path):
    (tmp_path / "manifest.csv").write_bytes("label,caption\na,caf\xe9\nb,th\xe9\n".encode("latin-1"))
    report = check(tmp_path)
    assert "not valid UTF-8" in problem_reasons(report)["manifest.csv"]
    assert [s.values["caption"] for s in report.index.samples] == ["caf\ufffd", "th\ufffd"]


def test_unknown_split_value_is_a_warning_and_the_sample_is_split_automatically(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,caption,split\na,x,train\nb,y,holdout\n", encoding="utf-8")
    report = check(tmp_path)
    assert "unknown split 'holdout'" in problem_reasons(report)["manifest.csv:3"]
    assert report.index.samples[1].split is None


def test_loose_image_beside_split_folders(tmp_path):
    write_class_folders(tmp_path / "train", per_class=2, captions=False)
    write_class_folders(tmp_path / "val", per_class=1, captions=False)
    write_image(tmp_path / "stray.png")
    assert "not inside a class folder" in problem_reasons(check(tmp_path))["stray.png"]
