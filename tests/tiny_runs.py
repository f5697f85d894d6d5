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


def save_tiny_bert(dataset: Path, folder: Path, hidden: int = 32, layers: int = 1) -> Path:
    """A randomly initialised BERT and a word-level tokenizer of ``dataset``'s caption words in ``folder``
    (what ``save_pretrained`` writes; no download). Needs transformers."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()  # tqdm's monitor thread would outlive a GUI test
    words = sorted({word for path in dataset.rglob("*.txt") for word in path.read_text().lower().split()})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    transformers.BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                                     intermediate_size=37, vocab_size=len(vocabulary), max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)
    return folder
