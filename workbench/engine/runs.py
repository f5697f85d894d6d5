"""Run folders: the writer callback the trainer logs through, and the reader the GUI and CLI use.

Layout (docs/architecture.md, "Run folder")::

    RUNS_DIR/<YYYYmmdd-HHMMSS>-<name>/
        config.toml  metrics.jsonl  summary.json  preprocessing.json  samples.json
        predictions/<stage>-epoch<NNN>.npz  checkpoints/<net>-<last|best>.pt  error.txt

``metrics.jsonl`` is appended one event per line and flushed per line (never fsynced:
that would cost more than a small batch), so a reader sees a live run's progress; every
other file is replaced atomically.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from workbench.atomic import atomic_open, atomic_write_json, atomic_write_text, write_error
from workbench.config import NETS, ExperimentConfig, config_from_dict, config_to_dict
from workbench.engine.checkpoint import checkpoint_file, load_checkpoint
from workbench.engine.hooks import EventListener
from workbench.errors import WorkbenchError

# A run whose summary says "running" counts as live while metrics.jsonl changed this recently;
# otherwise its process is gone (killed, crashed, machine off) and it shows as "stopped".
LIVE_SECONDS = 300.0

def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """A new, empty run folder ``<timestamp>-<name>``; a clash within the same second gets a suffix."""
    runs_dir = Path(runs_dir).expanduser()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{safe}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            candidate = runs_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                candidate.mkdir()  # fails if it exists: two runs never share a folder
            except FileExistsError:
                continue
            return candidate.resolve()
    except OSError as error:  # a file or a device (/dev/null) in the way, a read-only or full disk
        reason = "it is not a folder" if runs_dir.exists() and not runs_dir.is_dir() else error.strerror or error
        raise WorkbenchError(f"Cannot create a run folder in {runs_dir}: {reason}. Set "
                             "train.runs_dir (or --out) to a folder you can write to.") from None
    raise WorkbenchError(f"Cannot create a run folder in {runs_dir}: too many runs named {stem}.")


def prediction_file(run_dir: Path, stage: str, epoch: int) -> Path:
    return run_dir / "predictions" / f"{stage}-epoch{epoch:03d}.npz"


class RunWriter(EventListener):
    """Writes a run's metrics.jsonl, summary.json, predictions and error.txt from the event records.

    The trainer adds ``summary`` (the current summary.json content) to the payloads of
    ``on_fit_start``, ``on_stage_end``, ``on_exception`` and ``on_fit_end``; summary.json
    is rewritten at those moments only. ``events_offset`` (resume) truncates metrics.jsonl
    to where the resumed checkpoint was taken, so events after it are not logged twice.
    """

    def __init__(self, run_dir: Path, events_offset: int | None = None):
        self.run_dir = Path(run_dir)
        path = self.run_dir / "metrics.jsonl"
        try:
            if events_offset is not None and path.exists():
                with open(path, "r+b") as handle:
                    handle.truncate(events_offset)
            self._events = open(path, "ab")
        except OSError as error:
            raise write_error(error, path) from None

    def events_offset(self) -> int:
        """Bytes of metrics.jsonl written so far (everything is flushed per line)."""
        return self._events.tell()

    def close(self) -> None:
        try:
            self._events.close()
        except OSError:
            pass  # a full disk refused the last line's bytes: already reported by the write that failed

    def on_event(self, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "exception":
            try:
                self._write(record)
            except OSError:
                # The error being reported may be this very disk (full, read-only): it is raised to the user
                # anyway, and the run folder keeps its last complete files, so its last checkpoint resumes.
                pass
        else:
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        event = record["event"]
        if event == "validation":
            with atomic_open(prediction_file(self.run_dir, record["stage"], record["epoch"]), "wb") as handle:
                np.savez(handle, **record["predictions"])
        try:
            self._events.write(json.dumps(logged_fields(record), ensure_ascii=False, default=_plain).encode() + b"\n")
            self._events.flush()
        except OSError as error:  # a half line may be left: readers skip it, a resume truncates it
            raise write_error(error, self._events.name) from None
        if event == "exception":
            atomic_write_text(self.run_dir / "error.txt", record["traceback"])
        if "summary" in record:
            atomic_write_json(self.run_dir / "summary.json", record["summary"])


def logged_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The part of an event record that metrics.jsonl keeps: the arrays go to predictions/, the summary
    to summary.json (only the final one, at fit_end, stays in the line)."""
    return {key: value for key, value in record.items()
            if key != "predictions" and (key != "summary" or record["event"] == "fit_end")}


def _plain(value: Any) -> Any:
    """JSON for the numpy scalars and paths a callback-free payload might still hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class RunRecord:
    """Read access to one run folder; every file is read when first asked for."""

    def __init__(self, path: Path):
        self.path = path
        self._config: ExperimentConfig | None = None
        self._summary: dict[str, Any] | None = None

    @classmethod
    def open(cls, path: str | Path) -> RunRecord:
        path = Path(path).expanduser()
        if not path.is_dir():
            raise WorkbenchError(f"Run folder not found: {path}")
        if not ((path / "config.toml").is_file() or (path / "summary.json").is_file()):
            raise WorkbenchError(f"{path} is not a run folder (it has no config.toml or summary.json).")
        return cls(path.resolve())

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> ExperimentConfig:
        """The exact config the run used, read without running its plug-ins (listing a folder runs no code of it).

        Building the run's networks needs them: ``config_with_plugins()``.
        """
        if self._config is None:
            file = self.path / "config.toml"
            try:
                self._config = config_from_dict(tomllib.loads(file.read_text(encoding="utf-8")), run_plugins=False)
            except FileNotFoundError:
                raise WorkbenchError(f"{self.path} has no config.toml.") from None
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise WorkbenchError(f"Cannot read {file}: {error}") from None
        return self._config

    def config_with_plugins(self) -> ExperimentConfig:
        """The run's config with its plug-ins imported (their encoders and terms registered): to build or resume it."""
        return config_from_dict(config_to_dict(self.config))

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json (empty when the run never got that far)."""
        if self._summary is None:
            try:
                self._summary = json.loads((self.path / "summary.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._summary = {}
        return self._summary

    @property
    def status(self) -> str:
        """finished / stopped / failed, or running while a live process still writes metrics.jsonl.

        A run killed without a chance to say so keeps ``running`` in its summary; it reads as
        ``running`` only while metrics.jsonl changed in the last ``LIVE_SECONDS``.
        """
        status = self.summary.get("status", "unknown")
        if status == "running":
            try:
                age = time.time() - (self.path / "metrics.jsonl").stat().st_mtime
            except OSError:
                return "stopped"
            return "running" if age < LIVE_SECONDS else "stopped"
        return status

    def events(self) -> list[dict[str, Any]]:
        """Every logged event in order; a live run's half-written last line is left out."""
        try:
            data = (self.path / "metrics.jsonl").read_bytes()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")  # anything after the last newline is a line still being written
        if end < 0:
            return []
        lines = data[:end].split(b"\n")
        try:
            # One parse of the whole file as a JSON array is several times faster than one per line.
            return json.loads(b"[" + b",".join(line for line in lines if line.strip()) + b"]")
        except ValueError:
            return [event for event in map(_parse_line, lines) if event is not None]

    def prediction_epochs(self, stage: str) -> list[int]:
        """Epochs of ``stage`` (teacher / student) that have validation predictions, ascending."""
        pattern = re.compile(rf"^{re.escape(stage)}-epoch(\d+)\.npz$")
        folder = self.path / "predictions"
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for m in map(pattern.match, (p.name for p in folder.iterdir())) if m)

    def predictions(self, stage: str, epoch: int) -> dict[str, np.ndarray]:
        """The validation arrays of one epoch: index, label, <net>_probs, <net>_embedding."""
        file = prediction_file(self.path, stage, epoch)
        try:
            with np.load(file, allow_pickle=False) as arrays:
                return {key: arrays[key] for key in arrays.files}
        except FileNotFoundError:
            raise WorkbenchError(f"{self.path.name} has no {stage} predictions for epoch {epoch}.") from None
        except (OSError, ValueError) as error:
            raise WorkbenchError(f"Cannot read {file}: {error}") from None

    def samples(self) -> list[dict[str, Any]]:
        """Validation samples in prediction order: [{index, id, label, values}]."""
        try:
            return json.loads((self.path / "samples.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            raise WorkbenchError(f"Cannot read {self.path / 'samples.json'}: {error}") from None

    def checkpoint_path(self, net: str, which: str = "best") -> Path:
        return checkpoint_file(self.path, net, which)


def _parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except ValueError:
        return None


def list_runs(runs_dir: str | Path) -> list[RunRecord]:
    """The run folders directly inside ``runs_dir``, oldest first (folder names start with the time)."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        return []
    runs = []
    for path in sorted(runs_dir.iterdir()):
        if path.is_dir() and ((path / "config.toml").is_file() or (path / "summary.json").is_file()):
            runs.append(RunRecord(path.resolve()))
    return runs


def load_network(run_dir: str | Path, net: str = "student", which: str = "best"):
    """Rebuild a trained network from a run folder: ``(network, preprocessing, class_names, config)``.

    ``net`` is teacher, student or baseline (the baseline has the student's architecture);
    ``which`` is best or last. The network is on the CPU, in eval mode.
    """
    from workbench.data.preprocessing import Preprocessing
    from workbench.engine.hf_text import offline_encoders
    from workbench.engine.models import build_network
    from workbench.engine.tasks import get_task

    record = RunRecord.open(run_dir)
    if net not in NETS:
        raise WorkbenchError(f"Unknown network '{net}': use teacher, student or baseline.")
    config = record.config_with_plugins()
    class_names = list(record.summary.get("class_names") or [])
    if not class_names:
        raise WorkbenchError(f"{record.path} has no class names in summary.json; the run ended before training.")
    preprocessing = Preprocessing.load(record.path / "preprocessing.json")
    net_cfg = offline_encoders(config.teacher if net == "teacher" else config.student, record.path,
                               "teacher" if net == "teacher" else "student")
    network = build_network(net_cfg, preprocessing.input_specs(), len(class_names), "teacher" if net == "teacher"
                            else "student", get_task(config.data.task).spatial)
    checkpoint = load_checkpoint(record.checkpoint_path(net, which))
    network.load_state_dict(checkpoint["model"])
    network.eval()
    return network, preprocessing, class_names, config
