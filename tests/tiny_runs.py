"""A tiny dataset and a tiny-network config: a whole run trains in about a second.

Shared by the engine, GUI and inference tests (``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

from pathlib import Path

from workbench.config import ExperimentConfig, default_config
from workbench.data import check_dataset, write_sample_dataset


def write_tiny_dataset(folder: Path) -> Path:
    """3 classes x 12 samples of 16 px images with captions."""
    return write_sample_dataset(folder, classes=3, per_class=12, image_size=16, seed=0)


def tiny_config(dataset: Path, runs_dir: Path, epochs: int = 2, teacher_epochs: int = 1) -> ExperimentConfig:
    """The dataset's default config with tiny networks on the CPU (``teacher_epochs`` 0 = same as ``epochs``)."""
    config = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
    return shrink_networks(config, runs_dir, epochs, teacher_epochs)


def shrink_networks(config: ExperimentConfig, runs_dir: Path, epochs: int = 2, teacher_epochs: int = 1
                    ) -> ExperimentConfig:
    """Tiny networks, 16 px images, small batches, CPU: a run of ``config`` in about a second."""
    config.data.image_size = 16
    for network in (config.teacher, config.student):
        network.embed_dim = 16
        network.fusion_hidden = 16
        for encoder in network.encoders.values():
            if encoder.type == "cnn":
                encoder.params.update(width=4, depth=1)
            elif "dim" in encoder.params:
                encoder.params["dim"] = 8
    config.train.epochs = epochs
    config.train.teacher_epochs = teacher_epochs
    config.train.batch_size = 8
    config.train.device = "cpu"
    config.train.runs_dir = str(runs_dir)
    return config
