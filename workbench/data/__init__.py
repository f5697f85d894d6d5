"""The data layer: scanning and checking dataset folders, preprocessing, datasets, the sample dataset.

Qt-free: torch, numpy and Pillow only. See docs/architecture.md, "Data layer".
"""

from workbench.data.check import DatasetReport, check_dataset
from workbench.data.dataset import PairedDataset, PreparedData, collate_batch, dataset_fingerprint, make_loader, prepare_data
from workbench.data.index import DatasetIndex, FieldInfo, Problem, Sample
from workbench.data.preprocessing import Preprocessing
from workbench.data.sample import write_sample_dataset
from workbench.data.scan import detect_task, scan_dataset
from workbench.data.text import Tokenizer
from workbench.registry import FIELD_KINDS

__all__ = [
    "FIELD_KINDS",
    "DatasetIndex",
    "DatasetReport",
    "FieldInfo",
    "PairedDataset",
    "PreparedData",
    "Preprocessing",
    "Problem",
    "Sample",
    "Tokenizer",
    "check_dataset",
    "collate_batch",
    "dataset_fingerprint",
    "detect_task",
    "make_loader",
    "prepare_data",
    "scan_dataset",
    "write_sample_dataset",
]
