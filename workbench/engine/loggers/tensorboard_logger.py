"""TensorBoard: event files under ``<run>/tb/<stage>/``, so ``tensorboard --logdir runs`` shows every run.

One writer per stage, because each stage counts its own steps (as metrics.jsonl and the app's
plots do): ``<run>/tb/teacher`` and ``<run>/tb/student`` appear as two TensorBoard runs. Each
holds the scalars of :mod:`workbench.engine.loggers.scalars` against the stage's step, a
custom-scalars layout that draws the networks' validation curves in one chart, the config as
text, a confusion matrix per network and a gallery of validation images at every validation,
and at the stage's end the validation embeddings of its networks for the projector, labelled
with their classes. A resumed run's writer drops what the killed run logged after its
checkpoint (TensorBoard's ``purge_step``), so no step shows twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from workbench.config import NETS
from workbench.engine.loggers.images import confusion_image, gallery_image, gallery_samples
from workbench.engine.loggers.scalars import finite_scalars
from workbench.engine.metrics import confusion_matrix

GALLERY_IMAGES = 16
# The projector's files are text (tensors.tsv): past this many samples only an even spread of them is written.
PROJECTOR_SAMPLES = 2000


class TensorBoardBackend:
    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise RuntimeError(f"the tensorboard package is missing ({error}); install it with "
                               "pip install 'workbench[tensorboard]'") from None
        self._summary_writer = SummaryWriter
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / "tb"
        self._writers: dict[str, Any] = {}
        self._resumed = False
        self._config_text = ""
        self._class_names: list[str] = []
        self._image_field: str | None = None
        self._samples: dict[int, dict[str, Any]] = {}
        self._last_validation: dict[str, Any] | None = None

    def handle(self, event: str, payload: dict[str, Any], wall_time: float) -> None:
        if event == "fit_start":
            self._start(payload)
        elif event == "train_batch":
            writer = self._writer(payload["stage"], payload["step"])
            for name, value in finite_scalars(event, payload):
                writer.add_scalar(name, value, payload["step"], walltime=wall_time)
        elif event == "validation":
            self._validation(payload, wall_time)
        elif event == "stage_end":
            self._projector(payload["stage"])
        elif event in ("fit_end", "exception"):
            self.close()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def _start(self, payload: dict[str, Any]) -> None:
        self._resumed = bool(payload["resumed"])
        self._class_names = list(payload["class_names"])
        # Markdown: four leading spaces make a code block, which keeps the TOML's layout.
        toml = tomli_w.dumps(payload["config"])
        self._config_text = "\n".join("    " + line for line in toml.splitlines())
        fields = payload["fields"]
        student_fields = payload["config"]["student"]["fields"]
        images = [name for name in (*student_fields, *fields) if fields.get(name) == "image"]
        self._image_field = images[0] if images else None
        samples_file = self.run_dir / "samples.json"
        if self._image_field and samples_file.is_file():
            self._samples = {sample["index"]: sample for sample in json.loads(samples_file.read_text("utf-8"))}

    def _writer(self, stage: str, step: int) -> Any:
        """The stage's writer, made at its first event; a resumed run purges what came after that step."""
        writer = self._writers.get(stage)
        if writer is None:
            writer = self._summary_writer(str(self.root / stage), purge_step=step if self._resumed else None)
            writer.add_text("config", self._config_text, 0)
            writer.add_custom_scalars({
                "validation": {metric: ["Multiline", [f"^{metric}/"]]
                               for metric in ("val_accuracy", "val_macro_f1", "val_loss", "agreement")},
                "training": {"loss by term": ["Multiline", ["^loss/"]],
                             "train accuracy": ["Multiline", ["^train_accuracy/"]]},
            })
            self._writers[stage] = writer
        return writer

    def _validation(self, payload: dict[str, Any], wall_time: float) -> None:
        stage, step = payload["stage"], payload["step"]
        writer = self._writer(stage, step)
        for name, value in finite_scalars("validation", payload):
            writer.add_scalar(name, value, step, walltime=wall_time)
        predictions = payload["predictions"]
        labels = predictions["label"]
        for net in [net for net in payload["metrics"] if f"{net}_probs" in predictions]:  # classification
            counts = confusion_matrix(labels, predictions[f"{net}_probs"].argmax(1), len(self._class_names))
            title = f"{net}, {stage} stage epoch {payload['epoch']}"
            writer.add_image(f"confusion/{net}", confusion_image(counts, self._class_names, title), step,
                             walltime=wall_time, dataformats="HWC")
        gallery = self._gallery(payload)
        if gallery is not None:
            writer.add_image("gallery", gallery, step, walltime=wall_time, dataformats="HWC")
        self._last_validation = payload

    def _gallery(self, payload: dict[str, Any]) -> np.ndarray | None:
        """A few validation images captioned with their true class and the stage's main network's prediction."""
        predictions = payload["predictions"]
        net = "teacher" if payload["stage"] == "teacher" else "student"
        if not self._samples or f"{net}_probs" not in predictions:
            return None
        order = [self._samples[int(index)] for index in predictions["index"] if int(index) in self._samples]
        chosen = gallery_samples(order, self._image_field, GALLERY_IMAGES)
        if not chosen:
            return None
        position = {int(index): i for i, index in enumerate(predictions["index"])}
        paths, captions = [], []
        for i in chosen:
            sample = order[i]
            row = position[int(sample["index"])]
            true, guess = int(predictions["label"][row]), int(predictions[f"{net}_probs"][row].argmax())
            paths.append(str(sample["values"][self._image_field]))
            captions.append((self._class_names[true], self._class_names[guess]))
        return gallery_image(paths, captions)

    def _projector(self, stage: str) -> None:
        """The stage's last validation embeddings of each network, labelled with the true class."""
        payload = self._last_validation
        if payload is None or payload["stage"] != stage:
            return
        predictions = payload["predictions"]
        labels = predictions["label"]
        keep = np.arange(labels.shape[0])
        if keep.size > PROJECTOR_SAMPLES:
            keep = np.linspace(0, keep.size - 1, PROJECTOR_SAMPLES).round().astype(np.int64)
        metadata = [self._class_names[int(label)] for label in labels[keep]]
        writer = self._writer(stage, payload["step"])
        for net in NETS:
            embedding = predictions.get(f"{net}_embedding")
            if embedding is not None:
                writer.add_embedding(embedding[keep], metadata=metadata, tag=f"{net}_embedding",
                                     global_step=payload["step"])
