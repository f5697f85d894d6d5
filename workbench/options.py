"""How a setting is declared, and what follows from its declaration.

A config section's field and a registered loss term's option are both made with
:func:`option`: a dataclass field whose ``metadata`` holds its help text, allowed choices
and bounds. The check (:func:`option_problem`) and the help text with its range
(:func:`help_text`, for the TOML comments) read only that metadata, so validation, the
commented TOML and the GUI's editors agree by construction. Torch-free, like the rest of
the bottom layer (``workbench.config``, ``workbench.registry``).
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any


def option(default: Any, help: str, *, choices: tuple | None = None, low: float | None = None,
           high: float | None = None, low_open: bool = False) -> Any:
    """A dataclass field with its help text and constraints (``low_open``: value must exceed ``low``)."""
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


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


def help_text(meta: Any) -> str:
    """The help with its choices or range: "Samples per batch. Range: 1 to 1048576." (the TOML comment, the
    GUI editor's tooltip)."""
    choices = f" One of: {', '.join(map(str, meta['choices']))}." if meta.get("choices") else ""
    return (meta.get("help", "") + choices + _range_text(meta)).strip()


def _range_text(meta: Any) -> str:
    """" Range: 1 to 65536." for a bounded number (the same bounds option_problem checks), else ""."""
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
