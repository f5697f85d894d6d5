"""The experiment config: typed dataclasses that round-trip to TOML and check their own fields.

The GUI edits an :class:`ExperimentConfig`, the CLI loads one from a file, the engine only
reads it, and every run folder stores the exact config it ran with. Each field carries its
help text, allowed choices and bounds in ``metadata`` (``workbench.options.option``) so that
the commented TOML, the validation messages and the GUI's tooltips all come from one place.

The config is the bottom layer: it imports neither the engine nor torch (an import-linter
contract). Its parts: ``schema`` (the sections, their dict form, ``--set`` overrides),
``files`` (TOML), ``validation`` (the checks that need no registered class) and ``defaults``
(a config for a checked dataset). The checks against the registered encoders and loss terms
are ``workbench.engine.config_validation.validate_config``.
"""

from workbench.config.defaults import default_config
from workbench.config.files import config_to_toml, load_config, save_config
from workbench.config.schema import (CONFIGURED_NETS, ENCODER_DEFAULTS, ENCODER_TRAINING, MAX_EPOCHS, MAX_LR_SCALE,
                                     MAX_TEXT_BYTES, MAX_WIDTH, NETS, SAMPLE_QUICK_START, SECTIONS, TASKS, ConfigIssue,
                                     DataConfig,
                                     EncoderConfig, ExperimentConfig, LogConfig, LossConfig, NetworkConfig,
                                     TeacherConfig, TrainConfig, apply_overrides, config_from_dict, config_to_dict)

__all__ = [
    "CONFIGURED_NETS", "ENCODER_DEFAULTS", "ENCODER_TRAINING", "MAX_EPOCHS", "MAX_LR_SCALE", "MAX_TEXT_BYTES",
    "MAX_WIDTH", "NETS", "SAMPLE_QUICK_START", "SECTIONS", "TASKS", "ConfigIssue", "DataConfig", "EncoderConfig", "ExperimentConfig",
    "LogConfig", "LossConfig", "NetworkConfig", "TeacherConfig", "TrainConfig", "apply_overrides",
    "config_from_dict", "config_to_dict", "config_to_toml", "default_config", "load_config",
    "save_config",
]
