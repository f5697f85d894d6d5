"""The experiment config: typed dataclasses that validate themselves and round-trip to TOML.

The GUI edits an :class:`ExperimentConfig`, the CLI loads one from a file, the engine only
reads it, and every run folder stores the exact config it ran with. Each field carries its
help text, allowed choices and bounds in ``metadata`` so that the commented TOML, the
validation messages and the GUI's tooltips all come from one place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import tomli_w

from workbench.atomic import atomic_write_text
from workbench.errors import ConfigError

# The kinds of dataset field (and of encoder input); the data layer and the encoder registry use these.
FIELD_KINDS = ("image", "text", "audio", "array")
# The networks of a run, in the order every table, plot and file lists them. A config describes the first two
# ([teacher], [student]); the baseline is the student's architecture trained without distillation.
NETS = ("teacher", "student", "baseline")
CONFIGURED_NETS = ("teacher", "student")
# The tasks of workbench.engine.tasks (kept here as names: validating a config imports no torch).
TASKS = ("classification", "vqa", "segmentation")
# Upper bounds that keep a value meaningful and its memory finite; a network that is still too big
# for the machine within them is refused by the engine's memory estimate (engine/budget.py).
MAX_WIDTH = 65536
MAX_EPOCHS = 100_000
# Upper bound of a loss term's weight and of the weights inside a term (DKD's alpha and beta, RKD's parts).
MAX_LOSS_WEIGHT = 1000.0
# Text files larger than this are refused (data.max_text_bytes's default; captions read outside a dataset scan use it too).
MAX_TEXT_BYTES = 1_048_576
# The built-in sample a new user gets (write_sample_dataset's options, for `workbench sample` and the app's
# first start): big enough to show distillation, small enough to train in a minute on a CPU. Kept here so that
# the app names it without importing the data layer (and torch) at start-up.
SAMPLE_QUICK_START = {"classes": 6, "per_class": 80, "val_per_class": 60, "label_noise": 0.3, "image_size": 32, "seed": 0}


def option(default: Any, help: str, *, choices: tuple | None = None, low: float | None = None,
           high: float | None = None, low_open: bool = False) -> Any:
    """A dataclass field with its help text and constraints (``low_open``: value must exceed ``low``)."""
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    root: str = option("", "Dataset folder: a manifest (manifest.csv / manifest.jsonl) or class folders.")
    task: str = option("classification", "What the networks predict: classification (the label column), vqa (the "
                       "answer to the question column) or segmentation (a class per pixel, the mask column).",
                       choices=TASKS)
    answer_classes: int = option(100, "VQA: the most frequent answers become the classes; rarer answers are out of "
                                      "vocabulary (those samples are left out and counted by check).", low=2,
                                 high=1_000_000)
    val_fraction: float = option(0.2, "Share of each class held out for validation when the data gives no split.",
                                 low=0.0, high=0.9, low_open=True)
    field_types: dict = option({}, "Explicit kind per field, e.g. {depth = \"array\"}: image, text, audio or array.")
    grayscale: list[str] = option([], "Image fields kept single-channel instead of converted to RGB.")
    image_size: int = option(32, "Images are resized to image_size x image_size pixels.", low=8, high=1024)
    augment: bool = option(False, "Light training augmentation of images: flip, crop, colour jitter.")
    cache_mb: int = option(1024, "Memory budget (MiB) for decoded images, spectrograms and arrays kept between "
                                 "epochs.", low=0, high=1 << 20)
    text_max_length: int = option(32, "Tokens per text field; longer texts are truncated (and counted).", low=1,
                                 high=8192)
    text_lowercase: bool = option(True, "Lower-case text before tokenizing.")
    text_nfkc: bool = option(True, "Apply Unicode NFKC normalization before tokenizing.")
    text_min_freq: int = option(1, "Tokens seen fewer times in the training split become <unk>.", low=1,
                               high=1_000_000_000)
    text_max_vocab: int = option(20000, "Largest vocabulary kept (most frequent tokens).", low=2,
                                high=5_000_000)
    audio_sample_rate: int = option(16000, "Audio is resampled to this rate (Hz).", low=1000,
                                   high=384_000)
    audio_seconds: float = option(1.0, "Audio is cropped or padded to this duration (s).", low=0.05,
                                   high=600.0)
    audio_n_mels: int = option(40, "Mel bands of the log-mel spectrogram.", low=4, high=512)
    max_image_pixels: int = option(40_000_000, "Images with more pixels are refused (decompression bombs).",
                                 low=1, high=2_000_000_000)
    max_text_bytes: int = option(MAX_TEXT_BYTES, "Text files larger than this are refused.", low=1, high=1 << 30)
    num_workers: int = option(0, "DataLoader worker processes (0 = load in the training thread).", low=0,
                              high=256)


@dataclass
class EncoderConfig:
    """One field's encoder: a registered encoder ``type``, its hyper-parameters, and how it trains.

    ``train = "frozen"`` keeps its weights fixed (BatchNorm statistics too: it stays in eval
    mode) while the network's head (fusion, projection, classifier) trains: a frozen
    pretrained backbone with a trained head. ``lr_scale`` multiplies the learning rate of its
    weights (e.g. 0.1 to fine-tune a pretrained backbone gently). In TOML both sit beside
    ``type`` and the parameters, written only when not the default.
    """

    type: str
    params: dict = field(default_factory=dict)
    train: str = "full"
    lr_scale: float = 1.0

    def to_table(self) -> dict[str, Any]:
        table = {"type": self.type, **self.params}
        if self.train != ENCODER_DEFAULTS["train"]:
            table["train"] = self.train
        if self.lr_scale != ENCODER_DEFAULTS["lr_scale"]:
            table["lr_scale"] = self.lr_scale
        return table


ENCODER_DEFAULTS = {"train": "full", "lr_scale": 1.0}
ENCODER_TRAINING = ("full", "frozen")
MAX_LR_SCALE = 1000.0


@dataclass
class NetworkConfig:
    fields: list[str] = option([], "Dataset fields this network sees, e.g. [\"image\", \"text\"].")
    encoders: dict = option({}, "Encoder per field: [<net>.encoders.<field>] with type and its parameters.")
    fusion: str = option("concat", "How several fields' features are combined: concat (+ MLP) or gated (weighted sum).",
                         choices=("concat", "gated"))
    fusion_hidden: int = option(128, "Width of the fusion layer.", low=1, high=MAX_WIDTH)
    embed_dim: int = option(128, "Size of the embedding that distillation terms compare.", low=1,
                           high=MAX_WIDTH)
    dropout: float = option(0.1, "Dropout before the classifier head.", low=0.0, high=0.95)


@dataclass
class TeacherConfig(NetworkConfig):
    checkpoint: str = option("", "Reuse the teacher of an earlier run (run folder or checkpoint file); empty = train one.")


class LossConfig:
    """The objective's terms by name: ``[loss.<term>]`` holds a registered term's declared options.

    Which terms exist, and their options, come from the loss registry (built-ins and
    plug-ins, ``workbench.engine.registry.register_loss``), which needs torch. Building a
    config does not: the tables read from a file are kept as given and resolved against
    the registry on first use (``terms()``, ``cfg.loss.kd``, validation, training).
    """

    def __init__(self, given: dict[str, Any] | None = None, foreign_ok: bool = False):
        self._given = given or {}
        self._terms: dict[str, Any] | None = None
        # A config read without running its plug-ins (a run folder being listed) keeps the tables of
        # terms no loaded code registers as given, so that they are still shown and saved.
        self._foreign = {name: table for name, table in self._given.items()
                         if foreign_ok and name not in _registered_terms()}

    def terms(self) -> dict[str, Any]:
        """Every registered term's options by name, in registry (formula) order."""
        if self._terms is None:
            known = {name: table for name, table in self._given.items() if name not in self._foreign}
            self._terms = _resolve_loss_terms(known)
        return self._terms

    def foreign_terms(self) -> dict[str, Any]:
        """Tables of terms from plug-ins that were not run (see ``config_from_dict(run_plugins=False)``)."""
        return dict(self._foreign)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        terms = self.terms()
        if name not in terms:
            raise AttributeError(f"no loss term {name!r}; registered: {', '.join(terms)}")
        return terms[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LossConfig) and config_to_dict(self) == config_to_dict(other)

    def __repr__(self) -> str:
        return f"LossConfig({self._terms if self._terms is not None else self._given!r})"


def _registered_terms() -> dict[str, Any]:
    from workbench.engine.registry import loss_terms  # the registry is filled by engine.losses and plug-ins

    return loss_terms()


def _resolve_loss_terms(given: dict[str, Any]) -> dict[str, Any]:
    registered = _registered_terms()
    for name in given:
        if name not in registered:
            raise ConfigError(f"Unknown loss term 'loss.{name}'.{_suggest(name, list(registered))} A term from a "
                              "plug-in needs its file listed in `plugins`.", f"loss.{name}")
    return {name: _build(cls.Options, given.get(name, {}), f"loss.{name}") for name, cls in registered.items()}


@dataclass
class TrainConfig:
    epochs: int = option(10, "Epochs of the student stage (and of the teacher stage unless teacher_epochs is set).",
                         low=1, high=MAX_EPOCHS)
    teacher_epochs: int = option(0, "Epochs of the teacher stage; 0 = same as epochs.", low=0,
                                 high=MAX_EPOCHS)
    batch_size: int = option(32, "Samples per batch.", low=1, high=1 << 20)
    optimizer: str = option("adam", "Optimizer.", choices=("adam", "adamw", "sgd"))
    lr: float = option(1e-3, "Peak learning rate.", low=0.0, high=100.0, low_open=True)
    weight_decay: float = option(0.0, "Weight decay.", low=0.0, high=100.0)
    momentum: float = option(0.9, "SGD momentum.", low=0.0, high=1.0)
    schedule: str = option("constant", "Learning-rate schedule after warm-up.", choices=("constant", "step", "cosine"))
    warmup_epochs: int = option(0, "Epochs of linear warm-up from 0 to lr.", low=0, high=MAX_EPOCHS)
    step_size: int = option(5, "Step schedule: epochs between decays.", low=1, high=MAX_EPOCHS)
    gamma: float = option(0.1, "Step schedule: decay factor.", low=0.0, high=1.0, low_open=True)
    grad_clip: float = option(0.0, "Clip the gradient norm to this value; 0 = off.", low=0.0, high=1e9)
    early_stopping_patience: int = option(0, "Stop a stage after this many epochs without improvement; 0 = off.",
                                          low=0, high=MAX_EPOCHS)
    early_stopping_metric: str = option("val_accuracy", "Validation metric for early stopping and the best checkpoint "
                                        "(val_miou: segmentation only; val_accuracy is pixel accuracy there).",
                                        choices=("val_accuracy", "val_macro_f1", "val_loss", "val_miou"))
    device: str = option("auto", "auto (CUDA, then MPS, then CPU), or a device string such as cpu, cuda:1, mps.")
    precision: str = option("fp32", "Numeric precision: fp32, or bf16 / fp16 autocast.", choices=("fp32", "bf16", "fp16"))
    baseline: bool = option(True, "Also train a baseline student with cross-entropy only, to measure distillation gain.")
    teacher_cache_mb: int = option(1024, "Memory budget (MiB) for the frozen teacher's outputs in the student stage: "
                                   "computed once per sample, reused every epoch (not when augmentation changes "
                                   "the teacher's images); beyond the budget they go to a temporary file. "
                                   "0 = run the teacher on every batch.", low=0, high=2**20)
    cpu_threads: int = option(0, "CPU threads for training; 0 = the cores less one (at least 1), which leaves "
                              "one to the app's window. The run records the number it used: the app and the CLI "
                              "use the same one, so the same config and seed give the same numbers in both.", low=0,
                              high=4096)
    seed: int = option(0, "Random seed: the same config, data, seed and cpu_threads give the same metrics on CPU.",
                       low=0, high=2**31 - 1)
    runs_dir: str = option("runs", "Folder that receives one run folder per run.")
    name: str = option("", "Run name, appended to the run folder's timestamp.")


@dataclass
class LogConfig:
    """Where a run is logged besides its own folder (workbench/engine/loggers); a logger's failure never stops training."""

    tensorboard: bool = option(False, "Write TensorBoard event files under the run folder's tb/ "
                                      "(needs the extra: pip install 'workbench[tensorboard]').")
    mlflow_uri: str = option("", "MLflow tracking URI (http://host:5000, file:/path/mlruns, ...); empty = no MLflow "
                                 "(needs the extra: pip install 'workbench[mlflow]').")
    mlflow_experiment: str = option("workbench", "MLflow experiment the run is logged in (created if missing).")


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    plugins: list[str] = option([], "Python files that register extra encoders and loss terms "
                               "(paths relative to this config file).")

    def validate(self) -> list[ConfigIssue]:
        """Every problem with the config; empty when it can run."""
        return validate(self)

    def copy(self) -> ExperimentConfig:
        return config_from_dict(config_to_dict(self))


@dataclass(frozen=True)
class ConfigIssue:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


SECTIONS = {"data": DataConfig, "teacher": TeacherConfig, "student": NetworkConfig, "loss": LossConfig,
            "train": TrainConfig, "log": LogConfig}


# ----------------------------------------------------------------------------- dict <-> dataclass

def config_to_dict(cfg: Any) -> Any:
    """Plain nested dicts (TOML-able) of a config or any part of it."""
    if isinstance(cfg, EncoderConfig):
        return cfg.to_table()
    if isinstance(cfg, LossConfig):
        return {**{name: config_to_dict(term) for name, term in cfg.terms().items()}, **cfg.foreign_terms()}
    if dataclasses.is_dataclass(cfg):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, dict):
        return {k: config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(v) for v in cfg]
    return cfg


def config_from_dict(data: dict, run_plugins: bool = True) -> ExperimentConfig:
    """Build a config from nested dicts; unknown keys and wrong types raise :class:`ConfigError`.

    The config's plug-ins are imported first (relative paths from the working folder;
    ``load_config`` makes them relative to the file), so that their loss terms and
    encoders are known when the ``[loss]`` tables given are checked. ``run_plugins=False``
    (reading a run folder to list or compare it) runs no plug-in code: tables of terms that
    no loaded code registers are kept as given (``LossConfig.foreign_terms``).
    """
    cfg = _build(ExperimentConfig, data, "")
    if cfg.plugins and run_plugins:
        from workbench.plugins import load_plugins

        load_plugins(cfg.plugins)
    if "loss" in data:
        if not run_plugins:
            cfg.loss = LossConfig(dict(data["loss"]), foreign_ok=True)
        cfg.loss.terms()  # a misspelt term or option is reported now, with its key
    return cfg


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(known)}."


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix}' must be a table of keys, not {type(data).__name__}.", prefix)
    hints = get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            where = f"section [{prefix}]" if prefix else "the config"
            raise ConfigError(f"Unknown key '{_join(prefix, key)}' in {where}.{_suggest(key, known)}",
                              _join(prefix, key))
    values = {}
    for name in known:
        if name not in data:
            continue
        key = _join(prefix, name)
        hint = hints[name]
        if name == "encoders":
            values[name] = _build_encoders(data[name], key)
        elif hint is LossConfig:
            if not isinstance(data[name], dict):
                raise ConfigError(f"'{key}' must be a table with one sub-table per loss term.", key)
            values[name] = LossConfig(dict(data[name]))
        elif dataclasses.is_dataclass(hint):
            values[name] = _build(hint, data[name], key)
        else:
            values[name] = _coerce(data[name], hint, key)
    return cls(**values)


def _build_encoders(data: Any, key: str) -> dict[str, EncoderConfig]:
    if not isinstance(data, dict):
        raise ConfigError(f"'{key}' must be a table with one sub-table per field.", key)
    encoders = {}
    for field_name, table in data.items():
        sub = f"{key}.{field_name}"
        if not isinstance(table, dict) or not isinstance(table.get("type"), str):
            raise ConfigError(f"'{sub}' needs a 'type' (an encoder name) and its parameters.", f"{sub}.type")
        params = {k: v for k, v in table.items() if k != "type" and k not in ENCODER_DEFAULTS}
        training = {k: _coerce(table[k], type(default), f"{sub}.{k}")
                    for k, default in ENCODER_DEFAULTS.items() if k in table}
        encoders[field_name] = EncoderConfig(type=table["type"], params=params, **training)
    return encoders


def _type_name(hint: Any) -> str:
    origin = get_origin(hint) or hint
    if origin is list and get_args(hint):
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(get_args(hint)[0], "values")
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(origin, str(hint))


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = get_origin(hint) or hint
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"'{key}' is too large a number: {value}.", key) from None
    if origin is int and isinstance(value, float) and value.is_integer():
        return int(value)
    ok = isinstance(value, origin) and not (origin in (int, float) and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"'{key}' must be {_type_name(hint)}, got {value!r}.", key)
    if origin is list and get_args(hint):
        try:
            return [_coerce(v, get_args(hint)[0], key) for v in value]
        except ConfigError:
            raise ConfigError(f"'{key}' must be {_type_name(hint)}, got {value!r}.", key) from None
    return value


# ----------------------------------------------------------------------------- validation

def validate(cfg: ExperimentConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for section in SECTIONS:
        _validate_fields(getattr(cfg, section), section, issues)
    for net_name in CONFIGURED_NETS:
        _validate_network(getattr(cfg, net_name), net_name, issues)
    for key, text in (("data.root", cfg.data.root), ("teacher.checkpoint", cfg.teacher.checkpoint),
                      ("train.runs_dir", cfg.train.runs_dir), ("train.name", cfg.train.name)):
        if "\0" in text:
            issues.append(ConfigIssue(key, "A path cannot contain a NUL character (\\0)."))
    if not cfg.data.root:
        issues.append(ConfigIssue("data.root", "Choose a dataset folder."))
    elif not _is_folder(cfg.data.root):
        issues.append(ConfigIssue("data.root", f"Folder not found: {cfg.data.root}"))
    for name, kind in cfg.data.field_types.items():
        if kind not in FIELD_KINDS:
            issues.append(ConfigIssue(f"data.field_types.{name}", f"'{kind}' is not one of {', '.join(FIELD_KINDS)}."))
    if not any(term.weight > 0 for term in cfg.loss.terms().values()):
        issues.append(ConfigIssue("loss", "Every loss term has weight 0: switch at least one on."))
    if cfg.train.early_stopping_metric == "val_miou" and cfg.data.task != "segmentation":
        issues.append(ConfigIssue("train.early_stopping_metric", "val_miou is a segmentation metric; this run's "
                                                                 f"task is {cfg.data.task}."))
    if cfg.teacher.checkpoint and not _is_folder(cfg.teacher.checkpoint, or_file=True):
        issues.append(ConfigIssue("teacher.checkpoint", f"Not found: {cfg.teacher.checkpoint}"))
    if cfg.train.device != "auto" and not _looks_like_device(cfg.train.device):
        issues.append(ConfigIssue("train.device", f"'{cfg.train.device}' is not a device: use auto, cpu, cuda, "
                                                  "cuda:N or mps."))
    return issues


def _is_folder(text: str, or_file: bool = False) -> bool:
    """Whether the path names an existing folder (or file); False for one no system call accepts
    (a NUL character, a name too long)."""
    try:
        path = Path(text).expanduser()
        return path.exists() if or_file else path.is_dir()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: "~nosuchuser" cannot be expanded
        return False


def _is_absolute(text: str) -> bool:
    try:
        return Path(text).expanduser().is_absolute()
    except RuntimeError:  # "~nosuchuser/data": no home to expand; validate() says the folder is not found
        return True


def _looks_like_device(text: str) -> bool:
    kind, _, index = text.partition(":")
    return kind in ("cpu", "cuda", "mps", "xpu") and (not index or index.isdigit())


def _entries(obj: Any) -> list[tuple[str, Any, Any]]:
    """(name, value, metadata) of each key of a config section; the loss section's keys are its terms."""
    if isinstance(obj, LossConfig):
        return [(name, term, {}) for name, term in obj.terms().items()]
    return [(f.name, getattr(obj, f.name), f.metadata) for f in dataclasses.fields(obj)]


def _validate_fields(obj: Any, prefix: str, issues: list[ConfigIssue]) -> None:
    for name, value, meta in _entries(obj):
        key = _join(prefix, name)
        if dataclasses.is_dataclass(value) or isinstance(value, LossConfig):
            _validate_fields(value, key, issues)
            continue
        problem = option_problem(value, meta)
        if problem:
            issues.append(ConfigIssue(key, problem))


def option_problem(value: Any, meta: Any) -> str | None:
    """Why ``value`` breaks its ``option(...)`` metadata (choices, bounds), or None."""
    if meta.get("choices") and value not in meta["choices"]:
        return f"'{value}' is not one of: {', '.join(meta['choices'])}."
    low, high = meta.get("low"), meta.get("high")
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}."
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if low is not None and (value <= low if meta.get("low_open") else value < low):
            relation = "greater than" if meta.get("low_open") else "at least"
            return f"must be {relation} {_number(low)}, got {_number(value)}."
        if high is not None and value > high:
            return f"must be at most {_number(high)}, got {_number(value)}."
    return None


def _validate_network(net: NetworkConfig, prefix: str, issues: list[ConfigIssue]) -> None:
    from workbench.engine.registry import ENCODERS, encoder_params, param_problem  # filled by engine.models
    import workbench.engine.models  # noqa: F401  (registers the encoders)

    if not net.fields:
        issues.append(ConfigIssue(f"{prefix}.fields", f"The {prefix} needs at least one field."))
    if len(set(net.fields)) != len(net.fields):
        issues.append(ConfigIssue(f"{prefix}.fields", "A field is listed twice."))
    for field_name, encoder in net.encoders.items():
        key = f"{prefix}.encoders.{field_name}"
        if encoder.train not in ENCODER_TRAINING:
            issues.append(ConfigIssue(f"{key}.train", f"'{encoder.train}' is not one of: {', '.join(ENCODER_TRAINING)}."))
        scale_problem = option_problem(encoder.lr_scale, {"low": 0.0, "low_open": True, "high": MAX_LR_SCALE})
        if scale_problem:
            issues.append(ConfigIssue(f"{key}.lr_scale", scale_problem))
        if encoder.type not in ENCODERS:
            issues.append(ConfigIssue(f"{key}.type", f"Unknown encoder '{encoder.type}'."
                                                      f"{_suggest(encoder.type, sorted(ENCODERS))}"))
            continue
        known = encoder_params(encoder.type)
        for param, value in encoder.params.items():
            if param not in known:
                issues.append(ConfigIssue(f"{key}.{param}", f"'{encoder.type}' has no parameter '{param}'."
                                                             f"{_suggest(param, sorted(known))}"))
            elif known[param] is not None:  # the check build_network applies (resolve_encoder_params), not a copy
                problem = param_problem(value, known[param])
                if problem:
                    issues.append(ConfigIssue(f"{key}.{param}", f"{problem}, got {value!r}."))


def check(cfg: ExperimentConfig) -> ExperimentConfig:
    """Raise one :class:`ConfigError` naming the first problem, or return the config."""
    issues = cfg.validate()
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more problem{'s' * (len(issues) > 2)})" if len(issues) > 1 else ""
        raise ConfigError(f"{first.key}: {first.message}{more}", first.key)
    return cfg


# ----------------------------------------------------------------------------- overrides

def apply_overrides(cfg: ExperimentConfig, overrides: list[str] | tuple[str, ...]) -> ExperimentConfig:
    """Apply ``section.key=value`` strings (values in TOML syntax; bare words are strings)."""
    data = config_to_dict(cfg)
    for item in overrides:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(f"--set expects section.key=value, got '{item}'.", path)
        value = _parse_value(raw.strip())
        node = data
        parts = path.split(".")
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                if isinstance(node, dict) and depth >= 2 and parts[depth - 1] == "encoders":
                    node = node.setdefault(part, {})
                    continue
                known = sorted(node) if isinstance(node, dict) else []
                raise ConfigError(f"Unknown key '{'.'.join(parts[:depth + 1])}'.{_suggest(part, known)}",
                                  ".".join(parts[:depth + 1]))
            node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"'{'.'.join(parts[:-1])}' is a value, not a section.", path)
        node[parts[-1]] = value
    return config_from_dict(data)


def _parse_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# ----------------------------------------------------------------------------- TOML files

def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read config file {path}: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    if isinstance(data.get("plugins"), list):
        from workbench.plugins import resolve_plugin_paths

        data["plugins"] = resolve_plugin_paths(data["plugins"], path.parent)
    cfg = config_from_dict(data)
    if cfg.data.root and not _is_absolute(cfg.data.root):
        # A relative dataset path means "relative to the config file", as a user reading the file expects.
        with contextlib.suppress(ValueError):  # a NUL character: validate() names it
            cfg.data.root = str((path.parent / cfg.data.root).resolve())
    return apply_overrides(cfg, overrides) if overrides else cfg


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    atomic_write_text(path, config_to_toml(cfg))


def config_to_toml(cfg: ExperimentConfig, comments: bool = True) -> str:
    """The config as TOML; with ``comments``, each key is preceded by its help text."""
    lines: list[str] = []
    if comments:
        plugins_field = next(f for f in dataclasses.fields(cfg) if f.name == "plugins")
        lines.append(f"# {_help_text(plugins_field.metadata)}")
    lines += [f"plugins = {_toml_value(cfg.plugins)}", ""]  # top-level keys come before the first table
    for section in SECTIONS:
        _emit_table(getattr(cfg, section), section, lines, comments)
    return "\n".join(lines).strip() + "\n"


def _emit_table(obj: Any, name: str, lines: list[str], comments: bool) -> None:
    lines.append(f"[{name}]")
    nested: list[tuple[str, Any]] = []
    for key, value, meta in _entries(obj):
        if dataclasses.is_dataclass(value):
            nested.append((f"{name}.{key}", value))
            continue
        if key == "encoders":
            nested.extend((f"{name}.encoders.{field_name}", enc) for field_name, enc in value.items())
            continue
        if comments and meta.get("help"):
            lines.append(f"# {_help_text(meta)}")
        lines.append(f"{key} = {_toml_value(value)}")
    lines.append("")
    for sub_name, sub in nested:
        if isinstance(sub, EncoderConfig):
            lines.append(f"[{sub_name}]")
            if comments:
                lines.append("# Encoder type and its hyper-parameters (see `workbench config --help`); "
                             'train = "frozen" fixes its weights, lr_scale multiplies its learning rate.')
            lines.append(tomli_w.dumps(sub.to_table()).strip())
            lines.append("")
        else:
            _emit_table(sub, sub_name, lines, comments)


def _range_text(meta: Any) -> str:
    """" Range: 1 to 65536." for a bounded number (the same bounds validate() checks), else ""."""
    low, high = meta.get("low"), meta.get("high")
    if low is None and high is None:
        return ""
    low_text = "any" if low is None else (f"above {_number(low)}" if meta.get("low_open") else _number(low))
    return f" Range: {low_text} to {'any' if high is None else _number(high)}."


def _number(value: float) -> str:
    """1048576 rather than 1.04858e+06 for whole numbers, 0.001 or 1e-08 for the others."""
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer() and abs(value) < 1e16):
        return str(int(value))
    return f"{value:g}"


def _help_text(meta: Any) -> str:
    return meta["help"] + (f" One of: {', '.join(meta['choices'])}." if meta.get("choices") else "") + _range_text(meta)


def _toml_value(value: Any) -> str:
    """One value in TOML syntax; tables are written inline so that they stay under their key."""
    if isinstance(value, dict):
        items = (f"{tomli_w.dumps({key: 0}).rsplit('=', 1)[0].strip()} = {_toml_value(item)}"
                 for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


# ----------------------------------------------------------------------------- defaults for a dataset

def default_encoders(fields: list[str], kinds: dict[str, str], shapes: dict[str, Any] | None = None
                     ) -> dict[str, EncoderConfig]:
    """Default encoder (with every parameter spelled out) for each field, from the registry."""
    from workbench.engine.registry import default_encoder, encoder_params
    import workbench.engine.models  # noqa: F401  (registers the encoders)

    encoders = {}
    for name in fields:
        kind = kinds[name]
        shape = (shapes or {}).get(name)
        encoder_type = default_encoder(kind, shape) if kind == "array" else default_encoder(kind)
        encoders[name] = EncoderConfig(type=encoder_type, params=dict(encoder_params(encoder_type)))
    return encoders


def default_config(report: Any = None, teacher_fields: list[str] | None = None,
                   student_fields: list[str] | None = None) -> ExperimentConfig:
    """A complete config for a checked dataset: teacher on all fields fused, student on the image field
    (VQA: the image and the question), for the report's task."""
    cfg = ExperimentConfig()
    if report is None:
        return cfg
    index = report.index
    cfg.data.root = str(index.root)
    cfg.data.task = getattr(report, "task", "classification")
    kinds = {name: info.kind for name, info in index.fields.items()}
    shapes = {name: getattr(info, "shape", None) for name, info in index.fields.items()}
    available = list(index.fields)
    teacher = teacher_fields or available
    image_fields = [name for name in available if kinds[name] == "image"]
    # A VQA student sees the image and the question; the teacher also the extra fields (e.g. a caption).
    asked = ["question"] if cfg.data.task == "vqa" and "question" in kinds else []
    student = student_fields or (image_fields[:1] + asked or available[:1])
    if cfg.data.task == "segmentation":
        cfg.train.early_stopping_metric = "val_miou"
        # fusion_hidden is the decoder's width there: it runs at full resolution, so it is kept narrow.
        cfg.teacher.fusion_hidden = cfg.student.fusion_hidden = 32
    for key, chosen in (("teacher.fields", teacher), ("student.fields", student)):
        unknown = [name for name in chosen if name not in kinds]
        if unknown:
            raise ConfigError(f"Unknown field '{unknown[0]}' for {key}. The dataset has: {', '.join(available)}.",
                              key)
    cfg.teacher.fields = list(teacher)
    cfg.teacher.encoders = default_encoders(cfg.teacher.fields, kinds, shapes)
    cfg.student.fields = list(student)
    cfg.student.encoders = default_encoders(cfg.student.fields, kinds, shapes)
    return cfg
