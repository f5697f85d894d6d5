"""The config's sections as typed dataclasses, and their plain-dict form.

Each field is an ``option(...)`` (``workbench.options``) with its help, choices and bounds.
The ``[loss]`` section's keys are the registered loss terms (``workbench.registry``): its
tables are kept as given and resolved against the registry on first use, which imports the
term classes (torch). ``config_to_dict`` / ``config_from_dict`` convert to and from nested
dicts (what TOML holds); unknown keys and wrong types raise a ``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

from workbench.errors import ConfigError, did_you_mean
from workbench.options import option
from workbench.plugins import load_plugins
from workbench.registry import loss_terms

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
# Text files larger than this are refused (data.max_text_bytes's default; captions read outside a dataset scan use it too).
MAX_TEXT_BYTES = 1_048_576
# The built-in sample a new user gets (write_sample_dataset's options, for `workbench sample` and the app's
# first start): big enough to show distillation, small enough to train in a minute on a CPU. Kept here so that
# the app names it without importing the data layer (and torch) at start-up.
SAMPLE_QUICK_START = {"classes": 6, "per_class": 80, "val_per_class": 60, "label_noise": 0.3, "image_size": 32, "seed": 0}



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
    plug-ins, ``workbench.registry.register_loss``), whose classes need torch. Building a
    config does not: the tables read from a file are kept as given and resolved against
    the registry on first use (``terms()``, ``cfg.loss.kd``, saving, validation, training).
    """

    def __init__(self, given: dict[str, Any] | None = None, foreign_ok: bool = False):
        self._given = given or {}
        self._terms: dict[str, Any] | None = None
        # A config read without running its plug-ins (a run folder being listed) keeps the tables of
        # terms no loaded code registers as given, so that they are still shown and saved.
        self._foreign = {name: table for name, table in self._given.items()
                         if foreign_ok and name not in loss_terms()}

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


def _resolve_loss_terms(given: dict[str, Any]) -> dict[str, Any]:
    registered = loss_terms()
    for name in given:
        if name not in registered:
            raise ConfigError(f"Unknown loss term 'loss.{name}'.{did_you_mean(name, list(registered))} A term from a "
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


def section_entries(obj: Any) -> list[tuple[str, Any, Any]]:
    """(name, value, option metadata) of each key of a config section; the loss section's keys are its terms."""
    if isinstance(obj, LossConfig):
        return [(name, term, {}) for name, term in obj.terms().items()]
    return [(f.name, getattr(obj, f.name), f.metadata) for f in dataclasses.fields(obj)]


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
        load_plugins(cfg.plugins)
    if "loss" in data:
        if not run_plugins:
            cfg.loss = LossConfig(dict(data["loss"]), foreign_ok=True)
        cfg.loss.terms()  # a misspelt term or option is reported now, with its key
    return cfg


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
            raise ConfigError(f"Unknown key '{_join(prefix, key)}' in {where}.{did_you_mean(key, known)}",
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
                raise ConfigError(f"Unknown key '{'.'.join(parts[:depth + 1])}'.{did_you_mean(part, known)}",
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

