"""A test fixture: a run folder with known predictions, written without training (Qt-free).

The result views' tests need runs whose every prediction they know, the gallery
benchmark needs 10,000 validation samples, and the screenshot script needs a run
that looks like a real one; training a network for each would be slow and would not
give known answers. The folder follows docs/architecture.md ("Run folder"): the
views read it through ``workbench.engine.runs`` exactly as they read a trained run.

Predictions follow simple rules on the sample number ``i`` (label ``i % classes``):

- the teacher is wrong when ``i % 5 == 0``,
- the student is wrong when ``i % (epoch + 2 + seed) == 0`` (so each epoch, and each seed, differs),
- the baseline is wrong when ``i % 2 == 0``,

and a wrong network predicts class ``(label + 1) % classes``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.config import EncoderConfig, ExperimentConfig, save_config
from workbench.data.index import FieldInfo
from workbench.data.preprocessing import ImageProcessor, Preprocessing, TextProcessor
from workbench.data.text import Tokenizer
from workbench.engine.result import run_result

_WORDS = ("red", "green", "blue", "round", "square", "striped", "small", "large", "bright", "dark")
_PALETTE = np.array([(220, 60, 60), (60, 170, 80), (60, 90, 220), (230, 180, 40), (150, 70, 190),
                     (40, 180, 190), (240, 120, 40), (120, 120, 120), (200, 90, 160), (90, 60, 30)])


def wrong_networks(i: int, epoch: int, seed: int = 0) -> dict[str, bool]:
    """Which networks get sample ``i`` wrong at ``epoch`` (the rules of the module docstring)."""
    return {"teacher": i % 5 == 0, "student": i % (epoch + 2 + seed) == 0, "baseline": i % 2 == 0}


def predictions_for(count: int, classes: int, epoch: int, embed_dim: int = 16, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """The ``predictions`` arrays of a student-stage validation epoch, as the trainer writes them."""
    rng = np.random.default_rng(seed + epoch)
    label = np.arange(count) % classes
    arrays: dict[str, np.ndarray] = {"index": np.arange(count, dtype=np.int64), "label": label.astype(np.int64)}
    for net_number, net in enumerate(("teacher", "student", "baseline")):
        wrong = np.array([wrong_networks(i, epoch, seed)[net] for i in range(count)])
        predicted = np.where(wrong, (label + 1) % classes, label)
        # Confidence varies with i so that sorting by it has a known, tie-free order.
        confidence = 0.45 + 0.5 * ((np.arange(count) * 7 + net_number) % 97) / 97
        # The rest is shared by the other classes, the true class (when wrong) getting twice a share:
        # it is then always second, which makes top-k accuracies known too.
        weights = np.ones((count, classes))
        weights[np.arange(count), label] = np.where(wrong, 2.0, 1.0)
        weights[np.arange(count), predicted] = 0.0
        probs = weights / weights.sum(1, keepdims=True) * (1 - confidence)[:, None]
        probs[np.arange(count), predicted] = confidence
        arrays[f"{net}_probs"] = probs.astype(np.float32)
        centers = rng.normal(0, 3, (classes, embed_dim))
        arrays[f"{net}_embedding"] = (centers[predicted] + rng.normal(0, 1, (count, embed_dim))).astype(np.float32)
    return arrays


def write_synthetic_run(runs_dir: str | Path, name: str = "synthetic", count: int = 60, classes: int = 6,
                        epochs: int = 3, image_size: int = 24, write_images: bool = True,
                        status: str = "finished", student_lr: float = 1e-3, seed: int = 0) -> Path:
    """Write a complete run folder (no checkpoints) and return its path."""
    run_dir = Path(runs_dir) / f"20260101-000000-{name}"
    data_dir = Path(runs_dir) / f"{name}-data"
    (run_dir / "predictions").mkdir(parents=True, exist_ok=True)
    class_names = [f"class_{c}" for c in range(classes)]

    samples = []
    for i in range(count):
        label = class_names[i % classes]
        image_path = data_dir / label / f"sample_{i:05d}.png"
        caption_path = image_path.with_suffix(".txt")
        if write_images:
            image_path.parent.mkdir(parents=True, exist_ok=True)
            color = _PALETTE[i % classes % len(_PALETTE)]
            pixels = np.clip(color + np.random.default_rng(i).normal(0, 25, (image_size, image_size, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(image_path)
            caption_path.write_text(f"a {_WORDS[i % len(_WORDS)]} {_WORDS[(i // 3) % len(_WORDS)]} {label}",
                                    encoding="utf-8")
        samples.append({"index": i, "id": f"{label}/sample_{i:05d}.png", "label": label,
                        "values": {"image": str(image_path), "caption": str(caption_path)}})
    (run_dir / "samples.json").write_text(json.dumps(samples), encoding="utf-8")

    tokenizer = Tokenizer(["<pad>", "<unk>", "a", *_WORDS, *class_names], max_length=8)
    fields = {"image": FieldInfo("image", "image"), "caption": FieldInfo("caption", "text")}
    preprocessing = Preprocessing(fields, {
        "image": ImageProcessor(image_size, False, [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], 40_000_000),
        "caption": TextProcessor(tokenizer),
    })
    preprocessing.save(run_dir / "preprocessing.json")

    config = ExperimentConfig()
    config.data.root = str(data_dir)
    config.teacher.fields = ["image", "caption"]
    config.teacher.encoders = {"image": EncoderConfig("cnn", {"width": 8, "depth": 2}),
                               "caption": EncoderConfig("bag", {"dim": 16})}
    config.student.fields = ["image"]
    config.student.encoders = {"image": EncoderConfig("cnn", {"width": 4, "depth": 2})}
    config.train.lr = student_lr
    save_config(config, run_dir / "config.toml")

    params = {"teacher": 25_000, "student": 6_000, "baseline": 6_000}
    events = [{"event": "fit_start", "run_dir": str(run_dir), "class_names": class_names,
               "fields": ["image", "caption"], "params": params, "stages": ["teacher", "student"],
               "epochs": {"teacher": epochs, "student": epochs}, "resumed": False}]
    rng = np.random.default_rng(seed)
    for stage in ("teacher", "student"):
        for epoch in range(1, epochs + 1):
            arrays = predictions_for(count, classes, epoch, seed=seed)
            if stage == "teacher":
                arrays = {key: value for key, value in arrays.items() if not key.startswith(("student", "baseline"))}
            np.savez(run_dir / "predictions" / f"{stage}-epoch{epoch:03d}.npz", **arrays)
            metrics = {}
            for net in ("teacher",) if stage == "teacher" else ("teacher", "student", "baseline"):
                accuracy = float((arrays[f"{net}_probs"].argmax(1) == arrays["label"]).mean())
                metrics[net] = {"val_accuracy": accuracy, "val_macro_f1": accuracy,
                                "val_loss": float(1.5 / epoch + rng.uniform(0, 0.05))}
            events.append({"event": "validation", "stage": stage, "epoch": epoch, "step": epoch * 10,
                           "metrics": metrics})
    events.append({"event": "fit_end", "status": status})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")

    final = predictions_for(count, classes, epochs, seed=seed)
    summary = {"status": status, "class_names": class_names, "params": params, "dataset_fingerprint": "synthetic"}
    for net in ("teacher", "student", "baseline"):
        accuracy = float((final[f"{net}_probs"].argmax(1) == final["label"]).mean())
        summary[net] = {"val_accuracy": accuracy, "best_val_accuracy": accuracy, "best_epoch": epochs,
                        "last_epoch": epochs, "best_metric": "val_accuracy"}
    summary["result"] = run_result(summary).to_dict()
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return run_dir
