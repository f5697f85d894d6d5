"""Predictions on new raw inputs and latency measurement for a finished (or stopped) run. Qt-free.

A run folder holds everything needed: the networks' checkpoints, the fitted
preprocessing (vocabulary included) and the class names, so "try it" and the metrics
table's latency column use exactly what the run trained with.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from workbench.config import MAX_TEXT_BYTES, NETS
from workbench.data.dataset import collate_batch
from workbench.data.preprocessing import Preprocessing
from workbench.data.text import PAD_ID, read_text_file
from workbench.engine.device import cpu_threads
from workbench.engine.runs import RunRecord, load_network
from workbench.errors import WorkbenchError


def raw_value(preprocessing: Preprocessing, field: str, value: Any) -> Any:
    """What ``Preprocessing.encode`` takes for a value as stored in ``samples.json``.

    File-based text fields store the caption file's path; the tokenizer needs its text.
    """
    info = preprocessing.fields[field]
    if info.kind == "text" and info.source == "file" and isinstance(value, (str, Path)):
        return read_text_file(str(value), MAX_TEXT_BYTES)[0]
    return value


def encode_batch(preprocessing: Preprocessing, fields: list[str], items: list[Mapping[str, Any]],
                 pad_text: bool = False) -> dict[str, torch.Tensor]:
    """Encode raw inputs (one mapping field -> raw value per sample) into a network batch.

    ``pad_text`` pads text to the tokenizer's ``max_length`` (the fixed input shape of
    exported models) instead of the batch's longest text.
    """
    encoded = []
    for item in items:
        sample = {}
        for field in fields:
            tensor = preprocessing.encode(field, item[field])
            if pad_text and preprocessing.fields[field].kind == "text":
                max_length = preprocessing.input_specs()[field]["max_length"]
                tensor = nn.functional.pad(tensor, (0, max_length - tensor.shape[0]), value=PAD_ID)
            sample[field] = tensor
        encoded.append(sample)
    return collate_batch(encoded)


def validation_items(run_dir: Path, preprocessing: Preprocessing, fields: list[str],
                     limit: int | None = None) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Raw inputs of the run's validation samples (``samples.json`` order) and their label ids."""
    record = RunRecord.open(run_dir)
    samples = record.samples()[:limit]
    class_ids = {name: i for i, name in enumerate(record.summary.get("class_names") or [])}
    items = [{field: raw_value(preprocessing, field, sample["values"][field]) for field in fields}
             for sample in samples]
    labels = np.array([class_ids.get(sample["label"], -1) for sample in samples], dtype=np.int64)
    return items, labels


@torch.no_grad()
def run_network(network: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, embeddings) as numpy, network in eval mode."""
    network.eval()
    output = network(batch)
    return torch.softmax(output.logits.float(), dim=1).numpy(), output.embedding.float().numpy()


class Predictor:
    """A run's networks with its preprocessing: ``predict`` turns raw inputs into class probabilities."""

    def __init__(self, networks: dict[str, nn.Module], preprocessing: Preprocessing, class_names: list[str],
                 task: str = "classification"):
        self.networks = networks
        self.preprocessing = preprocessing
        self.class_names = class_names
        self.task = task
        for network in networks.values():
            network.eval()

    @classmethod
    def from_run(cls, run_dir: str | Path, nets: tuple[str, ...] = NETS, which: str = "best") -> Predictor:
        """Load the networks of ``nets`` that have a checkpoint (the best one, else the last)."""
        run_dir = Path(run_dir)
        networks: dict[str, nn.Module] = {}
        preprocessing = class_names = config = None
        for net in nets:
            choice = which if (run_dir / "checkpoints" / f"{net}-{which}.pt").is_file() else "last"
            if not (run_dir / "checkpoints" / f"{net}-{choice}.pt").is_file():
                continue
            network, preprocessing, class_names, config = load_network(run_dir, net, choice)
            networks[net] = network
        if not networks or preprocessing is None:
            raise WorkbenchError(f"{run_dir} has no checkpoint to predict with (checkpoints/ is empty).")
        return cls(networks, preprocessing, list(class_names), config.data.task)

    def fields(self, net: str) -> list[str]:
        return list(self.networks[net].fields)

    def missing_fields(self, net: str, values: Mapping[str, Any]) -> list[str]:
        """Fields ``net`` needs that ``values`` lacks (an empty text counts as given)."""
        return [field for field in self.fields(net)
                if values.get(field) is None or (values[field] == "" and self.preprocessing.fields[field].kind != "text")]

    def predict(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Class probabilities (C,) of each network whose every field is in ``values``; for
        segmentation, per-pixel probabilities (C, H, W) on the image grid.

        Values are raw inputs as a user gives them: image/sound/array file paths, text itself.
        """
        result = {}
        for net, network in self.networks.items():
            if self.missing_fields(net, values):
                continue
            batch = encode_batch(self.preprocessing, self.fields(net), [values])
            result[net] = run_network(network, batch)[0][0]
        return result


@dataclasses.dataclass(frozen=True)
class Latency:
    """Seconds per sample: the median of the repeats and their interquartile range."""

    median: float
    low: float  # 25th percentile
    high: float  # 75th percentile


@torch.no_grad()
def latency_spread(network: nn.Module, batch: dict[str, torch.Tensor], repeats: int = 20, warmup: int = 3) -> Latency:
    """Seconds per sample of a forward pass over ``batch`` (eval mode, no grad), over ``repeats`` passes."""
    network.eval()
    size = len(next(iter(batch.values())))
    for _ in range(warmup):
        network(batch)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        network(batch)
        timings.append((time.perf_counter() - start) / size)
    low, median, high = np.percentile(timings, [25, 50, 75])
    return Latency(float(median), float(low), float(high))


def measure_latency(network: nn.Module, batch: dict[str, torch.Tensor], repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds per sample of a forward pass over ``batch`` (eval mode, no grad)."""
    return latency_spread(network, batch, repeats, warmup).median


def measure_run_latency(run_dir: str | Path, samples: int = 64, repeats: int = 20) -> dict[str, Latency]:
    """Seconds per sample of each network's best checkpoint, on a batch of its validation samples.

    On one CPU thread, so that a figure does not depend on what else the machine (or the app's other
    background jobs) is doing with the other cores; the interquartile range shows what is left of
    the noise.
    """
    predictor = Predictor.from_run(run_dir)
    latency = {}
    with cpu_threads(1):
        for net, network in predictor.networks.items():
            items, _ = validation_items(Path(run_dir), predictor.preprocessing, predictor.fields(net), samples)
            if items:
                batch = encode_batch(predictor.preprocessing, predictor.fields(net), items)
                latency[net] = latency_spread(network, batch, repeats)
    return latency
