"""VQA and segmentation data: manifests, the answer vocabulary, mask checks, joint augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_builders import make_cfg, problem_reasons, write_image
from PIL import Image

from workbench.data import check_dataset, detect_task, prepare_data
from workbench.data.sample_tasks import write_segmentation_sample, write_vqa_sample
from workbench.errors import WorkbenchError


def write_manifest(root, header, rows):
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root


def vqa_folder(root, answers):
    for i in range(len(answers)):
        write_image(root / f"i{i}.png", colour=(10 * i, 0, 0))
    rows = [f"i{i}.png,what colour?,{answer},colour" for i, answer in enumerate(answers)]
    return write_manifest(root, "image,question,answer,question_type", rows)


def test_vqa_keeps_the_most_frequent_answers_and_counts_the_rest(tmp_path):
    root = vqa_folder(tmp_path / "v", ["red"] * 4 + ["Blue "] * 3 + ["blue"] + ["green"] * 2 + ["teal"])
    report = check_dataset(root, make_cfg(root, task="vqa", answer_classes=2), seed=0)
    assert report.index.class_names == ["blue", "red"]  # answers normalised: "Blue " is "blue"
    assert report.index.out_of_vocabulary == 3 and report.skipped == 3
    reasons = problem_reasons(report)
    assert "2 sample(s) with this answer left out" in reasons["answer 'green'"]
    assert "data.answer_classes" in reasons["answer 'teal'"]
    assert "3 sample(s) with an out-of-vocabulary answer left out" in report.format_text()
    assert report.index.samples[0].meta == {"question_type": "colour"}


def test_vqa_missing_question_is_named(tmp_path):
    root = vqa_folder(tmp_path / "v", ["red", "red", "blue", "blue"])
    text = (root / "manifest.csv").read_text().replace("i1.png,what colour?", "i1.png,")
    (root / "manifest.csv").write_text(text)
    report = check_dataset(root, make_cfg(root, task="vqa"), seed=0)
    assert problem_reasons(report)["manifest.csv:3"] == "no question in column 'question'"
    no_column = write_manifest(tmp_path / "n", "image,answer", ["i.png,red"])
    reasons = problem_reasons(check_dataset(no_column, make_cfg(no_column, task="vqa"), seed=0))
    assert "no 'question' column" in reasons["manifest.csv"]


def test_a_task_other_than_classification_needs_a_manifest(tmp_path):
    write_image(tmp_path / "d" / "cat" / "a.png")
    with pytest.raises(WorkbenchError, match="data.task = vqa needs a manifest"):
        check_dataset(tmp_path / "d", make_cfg(tmp_path / "d", task="vqa"), seed=0)


def seg_folder(root, masks):
    """One 8x8 image per mask (given as arrays), classes background/a/b."""
    rows = []
    for i, mask in enumerate(masks):
        write_image(root / f"i{i}.png", size=(8, 8))
        Image.fromarray(np.asarray(mask, dtype=np.uint8), "L").save(root / f"m{i}.png")
        rows.append(f"i{i}.png,m{i}.png,the thing")
    (root / "classes.txt").write_text("background\na\nb\n")
    return write_manifest(root, "image,mask,text", rows)


def test_masks_are_checked_with_a_message_per_bad_file(tmp_path):
    good = np.zeros((8, 8)); good[2:5, 2:5] = 2
    unknown = np.zeros((8, 8)); unknown[0, 0] = 7
    root = seg_folder(tmp_path / "s", [good, good, np.zeros((6, 8)), unknown, good])
    (root / "m4.png").write_bytes(b"not a png")
    report = check_dataset(root, make_cfg(root, task="segmentation"), seed=0)
    reasons = problem_reasons(report)
    assert reasons["m2.png"] == "mask is 8x6 pixels but its image is 8x8; a mask must have its image's size"
    assert "class id(s) 7 outside the 3 classes of classes.txt" in reasons["m3.png"]
    assert reasons["m4.png"].startswith("cannot read mask")
    assert [s.label for s in report.index.samples] == ["b", "b"]  # the main class of each good mask
    assert report.index.target_names == ["background", "a", "b"]


def test_segmentation_needs_classes_txt(tmp_path):
    root = seg_folder(tmp_path / "s", [np.zeros((8, 8))] * 2)
    (root / "classes.txt").unlink()
    report = check_dataset(root, make_cfg(root, task="segmentation"), seed=0)
    assert "segmentation needs classes.txt" in problem_reasons(report)["classes.txt"]
    assert not report.trainable


def test_augmentation_moves_image_and_mask_together(tmp_path):
    root = tmp_path / "s"
    rows = []
    for i in range(6):  # a bright block on black; the mask marks the block
        pixels = np.zeros((16, 16, 3), dtype=np.uint8)
        mask = np.zeros((16, 16), dtype=np.uint8)
        top, left = 3 + i % 3, 4 + i % 2
        pixels[top:top + 6, left:left + 7] = 255
        mask[top:top + 6, left:left + 7] = 1
        root.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / f"i{i}.png")
        Image.fromarray(mask, "L").save(root / f"m{i}.png")
        rows.append(f"i{i}.png,m{i}.png")
    (root / "classes.txt").write_text("background\nblock\n")
    write_manifest(root, "image,mask", rows)
    data = prepare_data(make_cfg(root, task="segmentation", image_size=16, augment=True), seed=0)
    torch.manual_seed(3)
    moved = 0
    for position in range(len(data.train)):
        for _ in range(4):
            item = data.train[position]
            image, mask = item["image"][0], item["label"]
            # Brightness and contrast jitter keep the order of pixel values: the block stays the brightest.
            assert image[mask == 1].min() > image[mask == 0].max()
            moved += not np.array_equal(mask.numpy(), data.train.mask(position))
    assert moved > 0  # the flips and shifts did move the masks


def test_detect_task_reads_the_manifest_columns(tmp_path):
    assert detect_task(write_vqa_sample(tmp_path / "v", scenes=10, image_size=16)) == "vqa"
    assert detect_task(write_segmentation_sample(tmp_path / "s", scenes=10, image_size=16)) == "segmentation"
    assert detect_task(tmp_path) == "classification"
