"""The training batches: which samples each holds, a pure function of the seed, the stage and the epoch.

Every random stream of a run derives its seed from the run's seed and where the run is
(``derived_seed``), so a resumed run draws the same numbers as one that never stopped.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from workbench.data import collate_batch
from workbench.engine import distributed


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``parts`` (e.g. "shuffle", stage, epoch)."""
    text = "/".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def epoch_batches(seed: int, stage: str, epoch: int, samples: int, batch_size: int,
                  dist: distributed.DistributedContext) -> list[list[int]]:
    """This epoch's batches of dataset positions: a shuffle that depends only on (seed, stage, epoch).

    A last batch of one sample is dropped: batch norm cannot train on it, nor can the
    relational and contrastive terms, which compare samples within a batch. Under torchrun each
    rank takes its equal share of the order, so every rank has as many batches, of the same sizes,
    and ``batch_size`` is per rank.
    """
    generator = torch.Generator().manual_seed(derived_seed(seed, "shuffle", stage, epoch))
    order = distributed.shard(torch.randperm(samples, generator=generator).tolist(), dist)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches.pop()
    return batches


class EpochBatches(Sampler):
    """The batches of the current epoch; the trainer sets them before each epoch.

    One sampler and one DataLoader serve the whole stage, so persistent workers (and
    their image caches) live across epochs.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def train_loader(dataset: Dataset, sampler: EpochBatches, workers: int, device: torch.device,
                 seed: int) -> Iterable[dict[str, torch.Tensor]]:
    """The stage's training batches, in the order ``sampler`` gives each epoch."""
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_batch, num_workers=workers,
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                      # Its own generator: creating an iterator must not draw from the global RNG.
                      generator=torch.Generator().manual_seed(derived_seed(seed, "loader")))
