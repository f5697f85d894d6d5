"""The check report as text, as JSON, and the data layer's independence from Qt."""

from __future__ import annotations

import json
import subprocess
import sys

from data_builders import make_cfg, write_class_folders

from workbench.data import check_dataset


def test_report_text_names_layout_classes_fields_splits_and_problems(tmp_path):
    write_class_folders(tmp_path, per_class=5)
    (tmp_path / "dog" / "dog3.png").write_bytes(b"")
    text = check_dataset(tmp_path, make_cfg(tmp_path), seed=0).format_text()
    for expected in (
        "Layout    class folders",
        "Samples   9 usable, 1 skipped",
        "  cat         4      1      0      5",
        "  dog         3      1      0      4",
        "  image        image  (file, RGB)",
        "  text         text   (file)",
        "Splits    train 7, val 2, test 0 (validation drawn: 20% per class, seed 0)",
        "  error   dog/dog3.png: empty file (0 bytes)",
        "Trainable: yes (7 training and 2 validation samples in 2 classes)",
    ):
        assert expected in text, expected


def test_report_to_dict_is_json(tmp_path):
    write_class_folders(tmp_path, per_class=3)
    report = check_dataset(tmp_path, make_cfg(tmp_path), seed=0)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["layout"] == "class_folders" and data["samples"] == 6 and data["trainable"] is True
    assert data["classes"] == [
        {"name": "cat", "train": 2, "val": 1, "test": 0, "total": 3},
        {"name": "dog", "train": 2, "val": 1, "test": 0, "total": 3},
    ]
    assert data["fields"]["text"] == {"name": "text", "kind": "text", "source": "file", "shape": None, "grayscale": False}
    assert data["splits"] == {"train": 4, "val": 2, "test": 0}
    assert data["text_stats"]["text"]["count"] == 6


def test_importing_the_data_layer_loads_no_qt():
    code = (
        "import sys, workbench.data\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "print(loaded)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
