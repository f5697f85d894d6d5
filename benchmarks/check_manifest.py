"""How fast ``check_dataset`` reads a large manifest: 100,000 rows of text fields only.

Writes the manifest to a temporary folder, times the check and prints rows per second.
Usage: python benchmarks/check_manifest.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from workbench.config import DataConfig
from workbench.data import check_dataset

WORDS = "red blue green small large round square bright dark striped shape circle star on a the with near".split()


def write_manifest(folder: Path, rows: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path = folder / "manifest.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "caption", "notes"])
        for i in range(rows):
            caption = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))
            # Every tenth caption has a comma, a quote and a line break, which the CSV quoting must carry.
            if i % 10 == 0:
                caption += ', "quoted"\nsecond line'
            writer.writerow([f"class{i % 20}", caption, f"row {i} 中文 ✓"])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_manifest(Path(tmp), args.rows)
        started = time.perf_counter()
        report = check_dataset(tmp, DataConfig(root=tmp), seed=0)
        seconds = time.perf_counter() - started
    assert report.trainable and len(report.index.samples) == args.rows, report.format_text()[-2000:]
    print(f"check_dataset on a {args.rows}-row manifest (2 text fields): {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
