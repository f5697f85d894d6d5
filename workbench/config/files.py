"""Config files: TOML read and written atomically, with each key's help as a comment.

A relative dataset path or plug-in path in a file is relative to the file. The comments come
from the options' metadata (``workbench.options.help_text``), the same text and bounds that
validation checks and the GUI's tooltips show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from workbench.atomic import atomic_write_text
from workbench.config.schema import SECTIONS, EncoderConfig, ExperimentConfig, apply_overrides, config_from_dict, \
    section_entries
from workbench.errors import ConfigError
from workbench.options import help_text
from workbench.plugins import resolve_plugin_paths

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
        data["plugins"] = resolve_plugin_paths(data["plugins"], path.parent)
    cfg = config_from_dict(data)
    if cfg.data.root and not _is_absolute(cfg.data.root):
        # A relative dataset path means "relative to the config file", as a user reading the file expects.
        with contextlib.suppress(ValueError):  # a NUL character: validation names it
            cfg.data.root = str((path.parent / cfg.data.root).resolve())
    return apply_overrides(cfg, overrides) if overrides else cfg


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    atomic_write_text(path, config_to_toml(cfg))


def config_to_toml(cfg: ExperimentConfig, comments: bool = True) -> str:
    """The config as TOML; with ``comments``, each key is preceded by its help text."""
    lines: list[str] = []
    if comments:
        plugins_field = next(f for f in dataclasses.fields(cfg) if f.name == "plugins")
        lines.append(f"# {help_text(plugins_field.metadata)}")
    lines += [f"plugins = {_toml_value(cfg.plugins)}", ""]  # top-level keys come before the first table
    for section in SECTIONS:
        _emit_table(getattr(cfg, section), section, lines, comments)
    return "\n".join(lines).strip() + "\n"


def _emit_table(obj: Any, name: str, lines: list[str], comments: bool) -> None:
    lines.append(f"[{name}]")
    nested: list[tuple[str, Any]] = []
    for key, value, meta in section_entries(obj):
        if dataclasses.is_dataclass(value):
            nested.append((f"{name}.{key}", value))
            continue
        if key == "encoders":
            nested.extend((f"{name}.encoders.{field_name}", enc) for field_name, enc in value.items())
            continue
        if comments and meta.get("help"):
            lines.append(f"# {help_text(meta)}")
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


def _toml_value(value: Any) -> str:
    """One value in TOML syntax; tables are written inline so that they stay under their key."""
    if isinstance(value, dict):
        items = (f"{tomli_w.dumps({key: 0}).rsplit('=', 1)[0].strip()} = {_toml_value(item)}"
                 for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _is_absolute(text: str) -> bool:
    try:
        return Path(text).expanduser().is_absolute()
    except RuntimeError:  # "~nosuchuser/data": no home to expand; validation says the folder is not found
        return True
