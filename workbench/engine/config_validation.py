"""A config checked whole: its own fields, then against the registered encoders and loss terms.

``workbench.config`` checks what its own declarations say without torch
(``section_issues``); which encoders exist, their parameters and the loss terms' options are
declared by registered classes (torch modules), so those checks live here, in the engine.
``validate_config`` is what the app shows as the config's problems; ``check_config`` raises
the first one for the CLI, the trainer and the study.
"""

from __future__ import annotations

from workbench.config import CONFIGURED_NETS, ConfigIssue, ExperimentConfig, NetworkConfig
from workbench.config.validation import field_issues, section_issues
from workbench.errors import ConfigError, did_you_mean
from workbench.options import option_problem
from workbench.registry import ENCODERS, encoder_param_options, encoder_params, load_builtins, param_problem


def validate_config(cfg: ExperimentConfig) -> list[ConfigIssue]:
    """Every problem with the config; empty when it can run."""
    issues = section_issues(cfg) + field_issues(cfg.loss, "loss")
    if not any(term.weight > 0 for term in cfg.loss.terms().values()):
        issues.append(ConfigIssue("loss", "Every loss term has weight 0: switch at least one on."))
    for net_name in CONFIGURED_NETS:
        issues += _encoder_issues(getattr(cfg, net_name), net_name)
    return issues


def check_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """Raise one :class:`ConfigError` naming the first problem, or return the config."""
    issues = validate_config(cfg)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more problem{'s' * (len(issues) > 2)})" if len(issues) > 1 else ""
        raise ConfigError(f"{first.key}: {first.message}{more}", first.key)
    return cfg


def _encoder_issues(net: NetworkConfig, prefix: str) -> list[ConfigIssue]:
    """Each encoder's type and parameters: the type check build_network applies (``param_problem``), not a copy,
    then the choices and bounds the encoder declares (``param_options``), which its constructor enforces."""
    load_builtins()
    issues: list[ConfigIssue] = []
    for field_name, encoder in net.encoders.items():
        key = f"{prefix}.encoders.{field_name}"
        if encoder.type not in ENCODERS:
            issues.append(ConfigIssue(f"{key}.type", f"Unknown encoder '{encoder.type}'."
                                                      f"{did_you_mean(encoder.type, sorted(ENCODERS))}"))
            continue
        known = encoder_params(encoder.type)
        declared = encoder_param_options(encoder.type)
        for param, value in encoder.params.items():
            if param not in known:
                issues.append(ConfigIssue(f"{key}.{param}", f"'{encoder.type}' has no parameter '{param}'."
                                                             f"{did_you_mean(param, sorted(known))}"))
            elif known[param] is not None:
                problem = param_problem(value, known[param])
                if problem:
                    issues.append(ConfigIssue(f"{key}.{param}", f"{problem}, got {value!r}."))
                elif param in declared and (problem := option_problem(value, declared[param])):
                    issues.append(ConfigIssue(f"{key}.{param}", problem))
    return issues
