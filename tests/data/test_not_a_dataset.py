"""A folder that is not a dataset (a home folder, /, a temp folder of logs) is answered at once."""

from __future__ import annotations

from pathlib import Path

from data_builders import make_cfg, write_class_folders

from workbench.data import check_dataset
from workbench.data.scan import DATASET_LAYOUTS, MAX_UNRECOGNISED, not_a_dataset


def write_logs(root: Path, folders: int, per_folder: int) -> Path:
    for folder in range(folders):
        (root / f"job{folder}").mkdir(parents=True)
        for index in range(per_folder):
            (root / f"job{folder}" / f"out{index}.log").touch()
    return root


def test_a_folder_of_other_files_stops_after_the_bound_with_one_problem(tmp_path):
    root = write_logs(tmp_path / "tmp", folders=6, per_folder=MAX_UNRECOGNISED // 2)
    report = check_dataset(root, make_cfg(root), seed=0)
    assert not report.trainable
    (problem,) = report.problems
    assert problem.severity == "error" and problem.path == "."
    assert problem.reason.startswith(f"not a dataset: after {MAX_UNRECOGNISED + 1} entries that are not samples "
                                     "(and 0 images) the scan stopped.")
    assert DATASET_LAYOUTS in problem.reason


def test_a_dataset_with_some_stray_files_is_still_scanned(tmp_path):
    root = write_class_folders(tmp_path / "data")
    write_logs(root / "cat", folders=1, per_folder=50)
    report = check_dataset(root, make_cfg(root), seed=0)
    assert len(report.index.samples) == 10
    assert sum("ignored: not an image" in p.reason for p in report.problems) == 50


def test_the_quick_answer_for_a_list_of_recent_folders(tmp_path):
    assert not_a_dataset(write_class_folders(tmp_path / "data")) is None
    (tmp_path / "manifest").mkdir()
    (tmp_path / "manifest" / "manifest.csv").write_text("label,text\na,b\n", encoding="utf-8")
    assert not_a_dataset(tmp_path / "manifest") is None
    logs = write_logs(tmp_path / "logs", folders=3, per_folder=MAX_UNRECOGNISED)
    reason = not_a_dataset(logs)
    assert reason.startswith(f"{logs} has no manifest and no class folder with images in the ")
    assert reason.endswith(DATASET_LAYOUTS)
    assert not_a_dataset(tmp_path / "missing") == f"{tmp_path / 'missing'} is not a folder. {DATASET_LAYOUTS}"
