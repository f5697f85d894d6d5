"""Trainer overhead: the workbench trainer against a minimal hand-written PyTorch loop.

Both train the same student (same config, objective and frozen teacher) on the same
pre-collated batches, so data loading is out of the picture; what differs is only what
the trainer adds per batch: hooks, the metrics.jsonl line, the NaN check, the LR
schedule, accuracy bookkeeping. The two alternate epoch by epoch in one process (the
hand loop runs inside the trainer's validation hook), so a busy machine slows both alike.

Throughput is measured from the end of an epoch's first batch to the end of its last,
in samples per second; the first round is a warm-up and is not counted.

    python benchmarks/engine_overhead.py [--rounds 6] [--batch-size 32]

Prints the median throughput of each and the median of the per-round ratios (the target is
at least 0.95).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from workbench.config import ExperimentConfig, default_config
from workbench.data import check_dataset, collate_batch, prepare_data, write_sample_dataset
from workbench.engine.hooks import Callback
from workbench.engine.losses import Objective, objective_context
from workbench.engine.trainer import Trainer


class CachedBatchTrainer(Trainer):
    """The trainer, fed the benchmark's pre-collated batches instead of its DataLoader."""

    cached_batches: list[dict[str, torch.Tensor]] = []

    def _train_loader(self, sampler):
        return self.cached_batches


class HandLoop:
    """What one would write by hand: teacher forward, student forward, objective, backward, step."""

    def __init__(self, trainer: Trainer, batches: list[dict[str, torch.Tensor]]):
        self.teacher = trainer.teacher
        self.student = copy.deepcopy(trainer.student)
        specs = trainer.data.preprocessing.input_specs()
        context = objective_context(trainer.cfg.loss, specs, len(trainer.class_names), self.student, self.teacher)
        self.objective = Objective(trainer.cfg.loss, context)
        self.optimizer = torch.optim.Adam([*self.student.parameters(), *self.objective.parameters()],
                                          lr=trainer.cfg.train.lr)
        self.batches = batches
        self.device = trainer.device

    def epoch(self) -> float:
        """Train one epoch; samples per second from the end of the first batch to the end of the last."""
        self.student.train()
        self.teacher.eval()
        start = None
        for batch in self.batches:
            # Moved per batch, as the trainer does, so both pay the same host-to-device copies.
            batch = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
            with torch.no_grad():
                teacher_out = self.teacher(batch)
            loss, _ = self.objective(self.student(batch), teacher_out, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss.item()
            if start is None:
                start = time.perf_counter()
        return _samples_after_first(self.batches) / (time.perf_counter() - start)


def _samples_after_first(batches: list[dict[str, torch.Tensor]]) -> int:
    return sum(int(batch["label"].shape[0]) for batch in batches[1:])


class Interleave(Callback):
    """Times the trainer's student epochs and runs one hand-loop epoch after each."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self.batches = batches
        self.trainer: Trainer | None = None
        self.hand: HandLoop | None = None
        self.first_batch_end: float | None = None
        self.last_batch_end = 0.0
        self.trainer_rates: list[float] = []
        self.hand_rates: list[float] = []

    def on_train_batch_end(self, payload):
        if payload["stage"] != "student":
            return
        now = time.perf_counter()
        if payload["batch"] == 1:
            self.first_batch_end = now
        self.last_batch_end = now

    def on_validation_end(self, payload):
        if payload["stage"] != "student":
            return
        self.trainer_rates.append(_samples_after_first(self.batches) / (self.last_batch_end - self.first_batch_end))
        if self.hand is None:
            self.hand = HandLoop(self.trainer, self.batches)
        self.hand_rates.append(self.hand.epoch())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12, help="student epochs of each (the first is a warm-up)")
    parser.add_argument("--width", type=int, default=16,
                        help="CNN width of both networks: small networks make the per-batch overhead show")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; one keeps the figure steady when other jobs share the CPU")
    parser.add_argument("--per-class", type=int, default=100, help="sample dataset size per class (6 classes)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = write_sample_dataset(Path(tmp) / "data", classes=6, per_class=args.per_class, seed=0)
        config = default_config(check_dataset(root, ExperimentConfig().data, seed=0))
        for network in (config.teacher, config.student):
            for encoder in network.encoders.values():
                if encoder.type == "cnn":
                    encoder.params.update(width=args.width, depth=2)
        config.train.epochs = args.rounds
        config.train.teacher_epochs = 1
        config.train.batch_size = args.batch_size
        config.train.baseline = False  # the hand loop trains one student; so does the trainer here
        config.train.device = args.device
        config.train.runs_dir = str(Path(tmp) / "runs")

        dataset = prepare_data(config.data, config.train.seed).train  # what the trainer will see
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist()
        batches = [collate_batch([dataset[i] for i in order[start:start + args.batch_size]])
                   for start in range(0, len(order) - args.batch_size + 1, args.batch_size)]

        CachedBatchTrainer.cached_batches = batches
        interleave = Interleave(batches)
        trainer = CachedBatchTrainer(config, callbacks=[interleave])
        interleave.trainer = trainer
        trainer.fit()

    trainer_rate = statistics.median(interleave.trainer_rates[1:])
    hand_rate = statistics.median(interleave.hand_rates[1:])
    # Each round's two epochs ran back to back under the same machine load: compare them pairwise.
    ratio = statistics.median(t / h for t, h in zip(interleave.trainer_rates[1:], interleave.hand_rates[1:]))
    print(f"device {trainer.device}; batches per epoch: {len(batches)} x {args.batch_size} samples, "
          f"{args.rounds - 1} timed rounds, {torch.get_num_threads()} threads")
    print(f"workbench trainer: {trainer_rate:8.1f} samples/s  (rounds: "
          + ", ".join(f"{r:.0f}" for r in interleave.trainer_rates[1:]) + ")")
    print(f"hand-written loop: {hand_rate:8.1f} samples/s  (rounds: "
          + ", ".join(f"{r:.0f}" for r in interleave.hand_rates[1:]) + ")")
    print(f"throughput ratio (trainer / hand loop, median of rounds): {ratio:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
