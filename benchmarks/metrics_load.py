"""How fast a run's metrics.jsonl loads: ``RunRecord.events()`` against one ``json.loads`` per line.

Writes a 100,000-event metrics.jsonl (a long run's batch events) to a temporary run folder,
then times both ways of reading it, interleaved, and prints the best of each and their ratio.
Usage: python benchmarks/metrics_load.py [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from workbench.engine.runs import RunRecord

EVENT = {"event": "train_batch", "stage": "student", "epoch": 3, "batch": 17, "batches": 400, "step": 817,
         "samples": 32, "lr": 0.001, "seconds": 0.0123,
         "losses": {"ce": {"raw": 1.2345678, "weighted": 1.2345678}, "kd": {"raw": 0.3456789, "weighted": 0.3456789},
                    "total": 1.5802467},
         "train_accuracy": {"student": 0.59375, "baseline": 0.5625}, "baseline_loss": 1.3456789}


def best_time(load, expected: int) -> float:
    started = time.perf_counter()
    assert len(load()) == expected
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        run_dir.mkdir()
        (run_dir / "summary.json").write_text(json.dumps({"status": "finished"}), encoding="utf-8")
        metrics = run_dir / "metrics.jsonl"
        metrics.write_text((json.dumps(EVENT) + "\n") * args.events, encoding="utf-8")
        record = RunRecord.open(run_dir)
        batched, per_line = [], []
        for _ in range(args.repeats):
            batched.append(best_time(record.events, args.events))
            per_line.append(best_time(lambda: [json.loads(line) for line in metrics.read_bytes().splitlines()],
                                      args.events))
    print(f"{args.events:,} events: RunRecord.events() {min(batched):.2f} s, "
          f"one json.loads per line {min(per_line):.2f} s, ratio {min(per_line) / min(batched):.2f}x")


if __name__ == "__main__":
    main()
