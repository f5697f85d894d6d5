"""The dataset overview's input specs are the data layer's processors' description."""

from __future__ import annotations

import dataclasses

import workbench.data.preprocessing as preprocessing_module
from workbench.config import DataConfig
from workbench.data import write_sample_dataset
from workbench.gui.overview import inspect_dataset


def test_overview_input_specs_follow_the_processors(tmp_path, monkeypatch):
    root = write_sample_dataset(tmp_path / "sample", classes=2, per_class=4, image_size=16)
    cfg = dataclasses.replace(DataConfig(root=str(root)), image_size=24, text_max_length=6)
    specs = inspect_dataset(root, cfg, seed=0).input_specs
    assert specs["image"]["input_shape"] == [3, 24, 24]
    assert specs["text"]["max_length"] == 6
    monkeypatch.setattr(preprocessing_module.TextProcessor, "spec",
                        lambda self: {"kind": "text", "vocab_size": 7, "max_length": 3, "input_shape": [3],
                                      "dtype": "int64"})
    assert inspect_dataset(root, cfg, seed=0).input_specs["text"]["vocab_size"] == 7
