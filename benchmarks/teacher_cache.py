"""Teacher-output cache: student-stage throughput with and without it, side by side.

For each teacher, one run trains it (one epoch; a library backbone stays frozen, its head
trains), then the student stage is run from that teacher (``teacher.checkpoint``) with
``train.teacher_cache_mb = 0`` and with the cache, alternating, ``--rounds`` times. The first
student epoch fills the cache, so the figure is the throughput of the later epochs
(samples per second over each epoch's batches, as the trainer times them), median over the
rounds; the first epoch's is printed too.

Teachers (``--teachers``, by default those whose library imports here):
- small: the sample config's fused image + text teacher (CNN + bag of words);
- timm: timm's resnet18 at its own 224 px input (11 M parameters), frozen, plus the text field;
- hf_image: a ViT-Tiny-sized transformers ViT (12 layers, width 192, 16 px patches) on the
  image field at 112 px, frozen, plus the text field.
The backbones are randomly initialised (no download: this machine is offline; speed does not
depend on the weight values). timm needs a torchvision that imports beside torch, so on the
CPU build of torch run it with a Python that has both (README, Pretrained backbones).

    python benchmarks/teacher_cache.py [--rounds 2] [--epochs 3] [--teachers small,timm,hf_image]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
from pathlib import Path

from workbench.config import EncoderConfig, ExperimentConfig, default_config
from workbench.data import check_dataset, write_sample_dataset
from workbench.engine.hooks import Callback
from workbench.engine.trainer import Trainer


class EpochThroughput(Callback):
    """Student samples per second of each epoch, from the trainer's own per-batch timings."""

    def __init__(self):
        self.samples: dict[int, int] = {}
        self.seconds: dict[int, float] = {}

    def on_train_batch_end(self, payload):
        if payload["stage"] == "student":
            epoch = payload["epoch"]
            self.samples[epoch] = self.samples.get(epoch, 0) + payload["samples"]
            self.seconds[epoch] = self.seconds.get(epoch, 0.0) + payload["seconds"]

    def per_epoch(self) -> list[float]:
        return [self.samples[e] / self.seconds[e] for e in sorted(self.samples)]


def vit_tiny_folder(folder: Path) -> Path:
    import transformers

    config = transformers.ViTConfig(hidden_size=192, num_hidden_layers=12, num_attention_heads=3,
                                    intermediate_size=768, image_size=112, patch_size=16)
    config.save_pretrained(folder)
    return folder


def base_config(dataset: Path, runs: Path, epochs: int) -> ExperimentConfig:
    cfg = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
    cfg.train.epochs = epochs
    cfg.train.teacher_epochs = 1
    cfg.train.device = "cpu"
    cfg.train.runs_dir = str(runs)
    cfg.loss.feature.weight = 0.1  # embedding and logits both used
    return cfg


def measure(cfg: ExperimentConfig, rounds: int) -> dict[str, list[list[float]]]:
    teacher_run = Trainer(cfg).fit()["run_dir"]
    results: dict[str, list[list[float]]] = {"off": [], "on": []}
    for _ in range(rounds):
        for label, budget in (("off", 0), ("on", 1024)):
            student_cfg = cfg.copy()
            student_cfg.teacher.checkpoint = teacher_run
            student_cfg.train.teacher_cache_mb = budget
            meter = EpochThroughput()
            Trainer(student_cfg, callbacks=[meter]).fit()
            results[label].append(meter.per_epoch())
    return results


def backbone_teachers(root: Path) -> dict[str, tuple[str, EncoderConfig, str]]:
    """Name -> (what the table calls it, the teacher's image encoder, the library it needs)."""
    return {
        "timm": ("timm resnet18 224 px (frozen) + bag",
                 EncoderConfig("timm", {"model": "resnet18"}, train="frozen"), "timm"),
        "hf_image": ("ViT-Tiny-sized hf_image (frozen) + bag",
                     EncoderConfig("hf_image", {"model": str(root / "vit-tiny")}, train="frozen"), "transformers"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="student epochs per run (the first fills the cache)")
    parser.add_argument("--per-class", type=int, default=40, help="samples per class of the 6-class sample")
    parser.add_argument("--teachers", default="small,timm,hf_image",
                        help="comma-separated: small, timm, hf_image (a backbone whose library does not import is "
                             "skipped, with a line saying so)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = write_sample_dataset(root / "sample", classes=6, per_class=args.per_class, image_size=32, seed=0)
        backbones = backbone_teachers(root)
        print(f"{'teacher':<38} {'epoch 1 (fills) samples/s':>26} {'later epochs: no cache':>24} "
              f"{'cache':>8} {'ratio':>7}")
        for name in args.teachers.split(","):
            cfg = base_config(dataset, root / f"runs-{name}", args.epochs)
            label = "small (CNN + bag, fused)"
            if name != "small":
                label, encoder, library = backbones[name]
                try:
                    importlib.import_module(library)
                except Exception as error:  # noqa: BLE001 - e.g. timm beside the CPU build of torch
                    print(f"{label:<38} skipped: {library} does not import here ({type(error).__name__})")
                    continue
                if name == "hf_image":
                    vit_tiny_folder(root / "vit-tiny")
                cfg.teacher.encoders["image"] = encoder
            results = measure(cfg, args.rounds)
            first = statistics.median(run[0] for run in results["on"])
            later = {cache: statistics.median(statistics.mean(run[1:]) for run in runs)
                     for cache, runs in results.items()}
            print(f"{label:<38} {first:>26.0f} {later['off']:>24.0f} {later['on']:>8.0f} "
                  f"{later['on'] / later['off']:>6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
