"""Both folder layouts, field detection and the manifest formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_builders import make_cfg, problem_reasons, write_class_folders, write_image, write_text, write_wav

from workbench.data import check_dataset, scan_dataset
from workbench.errors import WorkbenchError


def test_class_folders_give_image_text_and_audio_fields(tmp_path):
    root = write_class_folders(tmp_path / "d", per_class=3, audio=True)
    index = scan_dataset(root, make_cfg(root))
    assert index.layout == "class_folders"
    assert index.class_names == ["cat", "dog"]
    assert {name: info.kind for name, info in index.fields.items()} == {"image": "image", "text": "text", "audio": "audio"}
    assert len(index.samples) == 6 and not index.problems
    sample = index.samples[0]
    assert sample.id == "cat/cat0.png" and sample.label == "cat" and sample.split is None
    assert sample.values["text"] == str(root / "cat" / "cat0.txt")
    assert index.text(sample, "text") == "a picture of a cat number 0"


def test_class_folders_without_captions_have_only_an_image_field(tmp_path):
    root = write_class_folders(tmp_path / "d", captions=False)
    assert list(scan_dataset(root, make_cfg(root)).fields) == ["image"]


def test_split_folders_give_the_split(tmp_path):
    write_class_folders(tmp_path / "train", per_class=3)
    write_class_folders(tmp_path / "val", per_class=2)
    report = check_dataset(tmp_path, make_cfg(tmp_path), seed=0)
    assert report.index.class_names == ["cat", "dog"]
    assert report.split_source == "given"
    assert [len(report.splits[s]) for s in ("train", "val", "test")] == [6, 4, 0]
    assert all(report.index.samples[i].id.startswith("val/") for i in report.splits["val"])


def test_nested_folders_inside_a_class_are_part_of_it(tmp_path):
    write_class_folders(tmp_path, per_class=2, captions=False)
    write_image(tmp_path / "cat" / "sub" / "deep.png")
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert "cat/sub/deep.png" in {s.id for s in index.samples}


def test_manifest_csv_detects_every_field_kind(tmp_path):
    write_image(tmp_path / "img" / "a.png")
    write_image(tmp_path / "img" / "b.jpg", fmt="JPEG")
    write_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "b.wav")
    np.save(tmp_path / "a.npy", np.zeros((4, 3), np.float32))
    np.save(tmp_path / "b.npy", np.ones((4, 3), np.int16))
    write_text(tmp_path / "a.txt", "caption from a file")
    write_text(tmp_path / "b.txt", "another caption")
    (tmp_path / "manifest.csv").write_text(
        "label,photo,sound,depth,notes,note_inline,split\n"
        "x,img/a.png,a.wav,a.npy,a.txt,hello there,train\n"
        "y,img/b.jpg,b.wav,b.npy,b.txt,second,val\n",
        encoding="utf-8",
    )
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert index.layout == "manifest" and not index.problems
    kinds = {name: (info.kind, info.source) for name, info in index.fields.items()}
    assert kinds == {
        "photo": ("image", "file"),
        "sound": ("audio", "file"),
        "depth": ("array", "file"),
        "notes": ("text", "file"),
        "note_inline": ("text", "inline"),
    }
    assert index.fields["depth"].shape == (4, 3)
    first = index.samples[0]
    assert first.id == "manifest.csv:2" and first.split == "train"
    assert first.values["photo"] == str(tmp_path / "img" / "a.png")
    assert index.text(first, "notes") == "caption from a file"
    assert first.values["note_inline"] == "hello there"


def test_explicit_field_type_overrides_detection(tmp_path):
    write_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png")
    (tmp_path / "manifest.csv").write_text("label,look,path_as_text\nx,a.png,a.png\ny,b.png,b.png\n", encoding="utf-8")
    index = scan_dataset(tmp_path, make_cfg(tmp_path, field_types={"path_as_text": "text"}, grayscale=["look"]))
    assert index.fields["path_as_text"].kind == "text" and index.fields["path_as_text"].source == "inline"
    assert index.fields["look"].kind == "image" and index.fields["look"].grayscale


def test_unknown_explicit_field_type_is_a_user_error(tmp_path):
    write_class_folders(tmp_path)
    with pytest.raises(WorkbenchError, match="unknown field type"):
        scan_dataset(tmp_path, make_cfg(tmp_path, field_types={"image": "video"}))


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(WorkbenchError, match="does not exist"):
        check_dataset(tmp_path / "nope", make_cfg(), seed=0)


def test_csv_with_bom_crlf_and_quoted_commas_quotes_and_newlines(tmp_path):
    rows = [
        "label,caption",
        'a,"red, round ""ball""\r\non two lines"',
        "b,plain caption",
        'a,"中文说明，很短"',
        "b,mixed English 和中文 😀",
    ]
    (tmp_path / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8") + b"\r\n")
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert list(index.fields) == ["caption"], "the BOM must not end up in the first column name"
    assert [s.values["caption"] for s in index.samples] == [
        'red, round "ball"\r\non two lines',
        "plain caption",
        "中文说明，很短",
        "mixed English 和中文 😀",
    ]
    assert [s.id for s in index.samples] == ["manifest.csv:2", "manifest.csv:3", "manifest.csv:4", "manifest.csv:5"]
    assert not index.problems


def test_csv_row_with_wrong_number_of_values_is_reported(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,caption\na,one\nb,two,extra\na,three\n", encoding="utf-8")
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert len(index.samples) == 2
    assert "header has 2 columns" in problem_reasons(index)["manifest.csv:3"]


def test_manifest_jsonl(tmp_path):
    lines = [
        json.dumps({"label": "a", "text": "first", "score": 3}),
        "",
        "{not json",
        json.dumps({"label": "b", "text": "second", "split": "validation", "score": 4}),
        json.dumps(["a", "list"]),
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines), encoding="utf-8")
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert [s.id for s in index.samples] == ["manifest.jsonl:1", "manifest.jsonl:4"]
    assert index.samples[1].split == "val"
    assert index.samples[1].values == {"text": "second", "score": "4"}
    reasons = problem_reasons(index)
    assert "not valid JSON" in reasons["manifest.jsonl:3"]
    assert "not a JSON object" in reasons["manifest.jsonl:5"]


def test_csv_wins_over_jsonl_with_a_warning(tmp_path):
    (tmp_path / "manifest.csv").write_text("label,t\na,x\n", encoding="utf-8")
    (tmp_path / "manifest.jsonl").write_text('{"label": "b", "t": "y"}\n', encoding="utf-8")
    index = scan_dataset(tmp_path, make_cfg(tmp_path))
    assert [s.label for s in index.samples] == ["a"]
    assert problem_reasons(index)["manifest.jsonl"].startswith("ignored")


def test_manifest_without_label_column_has_no_samples(tmp_path):
    (tmp_path / "manifest.csv").write_text("class,caption\na,x\n", encoding="utf-8")
    report = check_dataset(tmp_path, make_cfg(tmp_path), seed=0)
    assert not report.trainable and not report.index.samples
    assert "no 'label' column" in problem_reasons(report)["manifest.csv"]
