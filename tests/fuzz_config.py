"""Fuzz ``workbench train`` with hostile configs: every case must train or exit 2 with one ``error:`` line.

    python tests/fuzz_config.py --files 500 --sets 150 --timeout 60

Each case mutates a tiny, valid config (a 1 + 1 epoch run on 36 samples): a value replaced by
a hostile one (NaN, infinities, 2^63-1, negative, a string, a list, a date, /dev/null, /, ...),
a key removed or invented, a section replaced by a value, or the file's text damaged; the
``--set`` cases pass hostile ``section.key=value`` strings. Each case runs the real CLI
(``workbench.cli.main``) in a forked child of a process that imported torch once, so a case
costs its training, not an interpreter start; a case that outlives ``--timeout`` seconds is
killed. Outcomes:

- ``trained``: exit 0;
- ``refused``: exit 2 and stderr is one ``error: ...`` line (also counted: lines naming the
  mutated key);
- ``slow``: killed at the limit while still logging training batches (a valid, expensive config);
- ``hang``: killed at the limit without progress;
- ``traceback`` / ``other``: anything else (the defects this script exists to find).

The exit status is 1 when any case is a traceback, a hang or other. ``tests/test_fuzz_sample.py``
runs a few cases of each kind in the test suite.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from workbench import config as config_module  # noqa: E402
from workbench.config import config_to_toml  # noqa: E402

# Values that broke or could break something: non-finite and huge numbers, wrong types, special paths.
HOSTILE_VALUES: list[Any] = [
    math.nan, math.inf, -math.inf, 0, -1, 1, 2, 2**63 - 1, -(2**63), 1e308, -1e308, 1e-308, 0.5, -0.5, 3.7,
    "", " ", "x", "nan", "1e999", "-1", "/dev/null", "/", "/proc/self/mem", "../../..", "🙂 字", "a" * 5000,
    True, False, [], [1, 2], ["image", "image"], ["nope"], {}, {"a": 1}, {"type": "cnn"},
    datetime.date(2020, 1, 1), datetime.datetime(2020, 1, 1, 12, 0), datetime.time(12, 0),
]
# runs_dir and the other paths get unusable folders of this machine rather than "/" (a run as root
# in / would succeed, and litter it).
HOSTILE_PATHS = ["/dev/null", "/proc/version", "/proc", "/sys/kernel", "/no/such/dir/at/all", "", "\0bad",
                 "relative/runs"]
PATH_KEYS = {"train.runs_dir"}
SET_TEMPLATES = [
    "{key}={value}", "{key}={value}", "{key}={value}", "{key}", "{key}=", "={value}", "{key}.extra={value}",
    "{section}={value}", "{key}=[{value}, {value}]", "{key}={{x = {value}}}", "{key}='{value}",
]


@dataclasses.dataclass
class Case:
    kind: str  # "file" or "set"
    description: str
    key: str  # the mutated keys, comma-separated ("" for whole-file damage or an override without a key)
    config_text: str
    overrides: list[str]


@dataclasses.dataclass
class Outcome:
    case: Case
    result: str
    code: int | None
    seconds: float
    stderr: str
    names_key: bool = False


def base_config_text(workdir: Path) -> str:
    from tiny_runs import tiny_config, write_tiny_dataset

    dataset = write_tiny_dataset(workdir / "data")
    cfg = tiny_config(dataset, workdir / "runs", epochs=1, teacher_epochs=1)
    cfg.train.cpu_threads = 1
    return config_to_toml(cfg, comments=False)


def leaves(table: dict, prefix: str = "") -> list[str]:
    keys = []
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        keys += leaves(value, key) if isinstance(value, dict) and value and name != "field_types" else [key]
    return keys


def sections(table: dict, prefix: str = "") -> list[str]:
    found = []
    for name, value in table.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            found += [key, *sections(value, key)]
    return found


def _get_parent(table: dict, key: str) -> tuple[dict, str]:
    *path, last = key.split(".")
    for part in path:
        table = table[part]
    return table, last


def hostile_value(key: str, rng: random.Random) -> Any:
    if key in PATH_KEYS:
        return rng.choice(HOSTILE_PATHS)
    meta = _metadata(key)
    bounds = [b for b in (meta.get("low"), meta.get("high")) if b is not None]
    extra = []
    if meta.get("high") is not None:
        extra.append(meta["high"] * 2 + 1)  # just out of range; the bound itself is a valid (maybe slow) config
    if meta.get("low") is not None:
        extra.append(meta["low"] - 1)
    if bounds and rng.random() < 0.3:
        return rng.choice(extra)
    return rng.choice(HOSTILE_VALUES)


def _metadata(key: str) -> dict:
    """The option(...) metadata of a dotted config key, or {} for encoder params and unknown keys."""
    node: Any = config_module.ExperimentConfig
    meta: dict = {}
    for part in key.split("."):
        fields = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in fields:
            return {}
        meta = dict(fields[part].metadata)
        node = fields[part].type
        node = getattr(config_module, node, None) if isinstance(node, str) else node
    return meta


def file_cases(base_text: str, count: int, rng: random.Random) -> list[Case]:
    base = tomllib.loads(base_text)
    keys, tables = leaves(base), sections(base)
    cases = []
    while len(cases) < count:
        data = copy.deepcopy(base)
        roll = rng.random()
        key = rng.choice(keys)
        if roll < 0.62:
            value = hostile_value(key, rng)
            parent, last = _get_parent(data, key)
            parent[last] = value
            description = f"{key} = {_short(value)}"
        elif roll < 0.72:  # two or three keys at once
            chosen = rng.sample(keys, rng.randint(2, 3))
            for one in chosen:
                parent, last = _get_parent(data, one)
                parent[last] = hostile_value(one, rng)
            key = ",".join(chosen)
            description = "several: " + ", ".join(chosen)
        elif roll < 0.80:
            parent, last = _get_parent(data, key)
            del parent[last]
            description = f"removed {key}"
        elif roll < 0.87:
            key = rng.choice(tables)
            parent, last = _get_parent(data, key)
            parent[last]["no_such_key"] = rng.choice(HOSTILE_VALUES)
            key = f"{key}.no_such_key"
            description = f"unknown key {key}"
        elif roll < 0.93:
            key = rng.choice(tables)
            parent, last = _get_parent(data, key)
            parent[last] = rng.choice([1, "x", [1], math.nan])
            description = f"section {key} replaced by a value"
        else:
            text = _damage(tomli_w.dumps(data), rng)
            cases.append(Case("file", "damaged text", "", text, []))
            continue
        try:
            text = tomli_w.dumps(data)
        except (TypeError, ValueError):  # a value TOML cannot hold
            continue
        cases.append(Case("file", description, key, text, []))
    return cases


def _damage(text: str, rng: random.Random) -> str:
    how = rng.choice(["truncate", "garbage", "bytes", "duplicate", "empty"])
    if how == "truncate":
        return text[: rng.randint(0, len(text))]
    if how == "garbage":
        at = rng.randint(0, len(text))
        return text[:at] + rng.choice(["[[", "= =", "\"", "]\n[", "x = 1\nx = 2\n", "\x00", "[train]\n"]) + text[at:]
    if how == "bytes":
        return text + "\udcff\udc85"  # written with surrogateescape: bytes that are not UTF-8
    if how == "duplicate":
        return text + "\n" + text
    return ""


def set_cases(base_text: str, count: int, rng: random.Random) -> list[Case]:
    base = tomllib.loads(base_text)
    keys, tables = leaves(base), sections(base)
    raw_values = ["nan", "inf", "-inf", "9223372036854775807", "-9223372036854775808", "1e999", "0", "-1", "1",
                  "true", "[]", "{}", "'/dev/null'", "/", "''", "\"unterminated", "[1,", "{a=", "2020-01-01",
                  "x" * 3000, "🙂", "0x10", "1_000", "+5", "'/proc/version'", "1e-400"]
    cases = []
    for _ in range(count):
        key = rng.choice(keys + ["train.epoch", "loss.nothing.weight", "student.encoders.nofield.type",
                                 "a.b.c.d.e", "train..lr", ".", "student.encoders.image.width.x"])
        template = rng.choice(SET_TEMPLATES)
        value = rng.choice(raw_values)
        override = template.format(key=key, value=value, section=rng.choice(tables))
        path = override.partition("=")[0]  # what the override names: a key, a section, or nothing
        cases.append(Case("set", f"--set {_short(override)}", path, base_text, [override]))
    return cases


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_case(case: Case, workdir: Path, timeout: float) -> Outcome:
    """Run ``workbench train`` on the case in a forked child; kill it after ``timeout`` seconds."""
    from workbench import cli

    folder = Path(tempfile.mkdtemp(prefix="case-", dir=workdir))
    config_path = folder / "exp.toml"
    config_path.write_text(case.config_text, encoding="utf-8", errors="surrogateescape")
    err_path = folder / "stderr.txt"
    argv = ["train", str(config_path), "--quiet"]
    for override in case.overrides:
        argv += ["--set", override]
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: the CLI exactly as a user runs it, its stdout and stderr in files
        code = 1
        try:
            os.chdir(folder)
            out = os.open(folder / "stdout.txt", os.O_WRONLY | os.O_CREAT)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT)
            os.dup2(out, 1)
            os.dup2(err, 2)
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # what Python would print for an uncaught error
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    result, code = "", None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - started > timeout:
            progressing = _still_training(folder, case)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            result = "slow" if progressing else "hang"
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    stderr = err_path.read_text(encoding="utf-8", errors="replace") if err_path.exists() else ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    names_key = False
    if not result:
        if code == 0:
            result = "trained"
        elif code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr:
            result = "refused"
            names_key = _names_key(lines[0], case.key)
        elif "Traceback" in stderr:
            result = "traceback"
        else:
            result = "other"
    return Outcome(case, result, code, seconds, stderr, names_key)


def _still_training(folder: Path, case: Case) -> bool:
    """Whether the killed case's run folder shows training batches: a slow, valid config, not a hang."""
    runs = list(folder.glob("**/metrics.jsonl")) + list(Path(tomllib_runs_dir(case)).glob("*/metrics.jsonl"))
    return any(b'"train_batch"' in path.read_bytes() for path in runs if path.is_file())


def tomllib_runs_dir(case: Case) -> str:
    try:
        return str(tomllib.loads(case.config_text)["train"]["runs_dir"])
    except (tomllib.TOMLDecodeError, KeyError, TypeError, UnicodeError):
        return "/nonexistent"


def _names_key(line: str, keys: str) -> bool:
    """Whether the error line names one of the mutated keys (comma-separated), by its path or its last part."""
    if not keys:
        return True  # a damaged file names the file; "--set =1" quotes the override
    for key in keys.split(","):
        parts = [part for part in key.split(".") if part]
        # The key itself, or a part below its section: "kd" of loss.kd.weight, "seed" of train.seed.extra.
        if key in line or any(part in line for part in parts[1:]):
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500, help="config-file mutations (default 500)")
    parser.add_argument("--sets", type=int, default=150, help="--set mutations (default 150)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", help="write every case's outcome to this JSON file")
    args = parser.parse_args(argv)
    outcomes = fuzz(args.files, args.sets, args.timeout, args.seed, progress=True)
    if args.report:
        Path(args.report).write_text(json.dumps([{
            "kind": o.case.kind, "case": o.case.description, "key": o.case.key, "result": o.result, "code": o.code,
            "seconds": round(o.seconds, 2), "names_key": o.names_key, "stderr": o.stderr[:2000]}
            for o in outcomes], indent=1), encoding="utf-8")
    return 1 if any(o.result in ("traceback", "hang", "other") for o in outcomes) else 0


def fuzz(files: int, sets: int, timeout: float, seed: int = 0, progress: bool = False) -> list[Outcome]:
    import workbench.cli  # noqa: F401  (imported once, before the forks)
    import workbench.engine.trainer  # noqa: F401

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as tmp:
        workdir = Path(tmp)
        base = base_config_text(workdir)
        cases = file_cases(base, files, rng) + set_cases(base, sets, rng)
        outcomes = []
        started = time.monotonic()
        for number, case in enumerate(cases, 1):
            outcome = run_case(case, workdir, timeout)
            outcomes.append(outcome)
            if progress and outcome.result in ("traceback", "hang", "other"):
                print(f"[{number}] {outcome.result}: {case.kind} {case.description}\n{outcome.stderr[-1500:]}",
                      file=sys.stderr, flush=True)
            if progress and number % 50 == 0:
                print(f"{number}/{len(cases)} cases, {time.monotonic() - started:.0f} s: "
                      f"{dict(Counter(o.result for o in outcomes))}", file=sys.stderr, flush=True)
    if progress:
        print(summary(outcomes))
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    lines = []
    for kind in ("file", "set"):
        mine = [o for o in outcomes if o.case.kind == kind]
        if not mine:
            continue
        counts = Counter(o.result for o in mine)
        refused = [o for o in mine if o.result == "refused"]
        slowest = max(o.seconds for o in mine)
        lines.append(f"{'config-file' if kind == 'file' else '--set'} mutations: {len(mine)}; "
                     + ", ".join(f"{name} {counts.get(name, 0)}" for name in
                                 ("trained", "refused", "slow", "traceback", "hang", "other"))
                     + f"; refusals naming the key {sum(o.names_key for o in refused)}/{len(refused)}"
                     + f"; slowest case {slowest:.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
