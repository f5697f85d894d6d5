"""Fixtures of the data-layer tests."""

from pathlib import Path

import pytest
from data_builders import write_class_folders


@pytest.fixture
def class_folder_root(tmp_path: Path) -> Path:
    return write_class_folders(tmp_path / "data")
