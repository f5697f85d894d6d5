"""Splits: given ones are kept, drawn ones are stratified, deterministic, and never divide a file."""

from __future__ import annotations

from data_builders import make_cfg, write_class_folders, write_image

from workbench.data import check_dataset


def split_ids(report):
    return {name: sorted(report.index.samples[i].id for i in indices) for name, indices in report.splits.items()}


def test_drawn_split_is_stratified_and_deterministic(tmp_path):
    write_class_folders(tmp_path, classes=("a", "b", "c"), per_class=10, captions=False)
    cfg = make_cfg(tmp_path, val_fraction=0.2)
    first, again, other_seed = (check_dataset(tmp_path, cfg, seed=s) for s in (3, 3, 4))
    assert first.split_source == "drawn"
    assert split_ids(first) == split_ids(again)
    assert split_ids(first) != split_ids(other_seed)
    assert {name: counts["val"] for name, counts in first.class_counts.items()} == {"a": 2, "b": 2, "c": 2}
    assert not set(first.splits["train"]) & set(first.splits["val"])
    assert sorted(first.splits["train"] + first.splits["val"]) == list(range(30))


def test_every_class_keeps_a_training_sample(tmp_path):
    write_class_folders(tmp_path, classes=("a", "b"), per_class=2, captions=False)
    report = check_dataset(tmp_path, make_cfg(tmp_path, val_fraction=0.9), seed=0)
    assert all(counts["train"] >= 1 for counts in report.class_counts.values())


def test_given_manifest_split_is_used_and_rows_without_one_train(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "label,caption,split\na,x1,train\na,x2,val\nb,y1,train\nb,y2,VAL\nb,y3,\na,x3,test\n", encoding="utf-8"
    )
    report = check_dataset(tmp_path, make_cfg(tmp_path), seed=0)
    assert report.split_source == "given"
    assert split_ids(report) == {
        "train": ["manifest.csv:2", "manifest.csv:4", "manifest.csv:6"],
        "val": ["manifest.csv:3", "manifest.csv:5"],
        "test": ["manifest.csv:7"],
    }


def test_the_same_file_never_lands_on_both_sides(tmp_path):
    rows = ["label,image"]
    for k in range(12):
        write_image(tmp_path / f"img{k}.png", colour=(k, 0, 0))
        # Every image is listed twice, spelled two ways, so a split by row would divide them.
        label = "ab"[k % 2]
        rows += [f"{label},img{k}.png", f"{label},./img{k}.png"]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for seed in range(5):
        report = check_dataset(tmp_path, make_cfg(tmp_path, val_fraction=0.5), seed=seed)
        files = {
            name: {report.index.samples[i].values["image"] for i in indices} for name, indices in report.splits.items()
        }
        assert files["val"] and not files["train"] & files["val"]


def test_file_listed_in_two_given_splits_is_kept_in_one_with_a_warning(tmp_path):
    for name in ("a.png", "b.png", "c.png", "d.png"):
        write_image(tmp_path / name)
    (tmp_path / "manifest.csv").write_text(
        "label,image,split\nx,a.png,train\ny,b.png,train\nx,c.png,val\ny,d.png,val\nx,a.png,val\n", encoding="utf-8"
    )
    report = check_dataset(tmp_path, make_cfg(tmp_path), seed=0)
    assert [p.reason for p in report.problems if "several splits" in p.reason]
    val_files = {report.index.samples[i].values["image"] for i in report.splits["val"]}
    assert str(tmp_path / "a.png") not in val_files
