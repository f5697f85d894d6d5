"""Name -> class registries for encoders, fusions and loss terms (torchdistill style).

The config layer reads encoder hyper-parameters straight from the registered classes:
an encoder's ``__init__`` takes the field's input spec dict as its first positional
argument ``spec``, then only keyword parameters with defaults. Those keywords *are*
the config params, so adding an encoder needs no change in the config code.

The built-in classes live in ``models.py`` and ``losses.py``; the query functions here
import them on first use, so ``registry`` itself stays free of import cycles.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, TypeVar

from workbench.errors import ConfigError

MODALITIES = ("image", "text", "audio", "array")

ENCODERS: dict[str, type] = {}
FUSIONS: dict[str, type] = {}
LOSSES: dict[str, type] = {}

_BUILTIN_MODULES = ("workbench.engine.models", "workbench.engine.losses")

ClassT = TypeVar("ClassT", bound=type)


def _register(table: dict[str, type], kind: str, name: str) -> Callable[[ClassT], ClassT]:
    def decorator(cls: ClassT) -> ClassT:
        if name in table and table[name] is not cls:
            raise ValueError(f"{kind} {name!r} is already registered by {table[name].__qualname__}")
        cls.registry_name = name
        table[name] = cls
        return cls

    return decorator


def register_encoder(name: str, modality: str) -> Callable[[ClassT], ClassT]:
    """Register an encoder class for one input modality under ``name``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")

    def decorator(cls: ClassT) -> ClassT:
        cls.modality = modality
        return _register(ENCODERS, "encoder", name)(cls)

    return decorator


def register_fusion(name: str) -> Callable[[ClassT], ClassT]:
    """Register a fusion module, built as ``cls(in_dims, hidden, dropout)``."""
    return _register(FUSIONS, "fusion", name)


def register_loss(name: str) -> Callable[[ClassT], ClassT]:
    """Register a loss term, built as ``cls(term_cfg, context)``; registration order is formula order."""
    return _register(LOSSES, "loss", name)


def load_builtins() -> None:
    """Import the modules that register the built-in encoders, fusions and losses."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def encoder_class(name: str, key: str = "") -> type:
    load_builtins()
    if name not in ENCODERS:
        known = ", ".join(sorted(ENCODERS))
        raise ConfigError(f"unknown encoder type {name!r}; choose one of: {known}", key)
    return ENCODERS[name]


def encoders_for(modality: str) -> list[str]:
    """Names of the encoders that accept ``modality``, in registration order."""
    load_builtins()
    return [name for name, cls in ENCODERS.items() if cls.modality == modality]


def default_encoder(modality: str, shape: list[int] | tuple[int, ...] | None = None) -> str:
    """The encoder a field of this kind gets when the config names none.

    Arrays depend on their shape: 2-D (or channel-first 3-D) arrays get the small CNN,
    vectors and anything else the MLP.
    """
    if modality == "array":
        return "array_cnn" if shape is not None and len(shape) in (2, 3) else "mlp"
    defaults = {"image": "cnn", "text": "bag", "audio": "audio_cnn"}
    if modality not in defaults:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return defaults[modality]


def encoder_params(name: str, key: str = "") -> dict[str, Any]:
    """The config params of encoder ``name`` and their defaults (fresh copies, lists as lists).

    An unknown ``name`` raises ConfigError at ``key`` (the config's ``...type`` path).
    """
    signature = inspect.signature(encoder_class(name, key).__init__)
    params = list(signature.parameters.values())[2:]  # skip self, spec
    return {p.name: list(p.default) if isinstance(p.default, tuple) else p.default for p in params}


def _type_problem(value: Any, default: Any) -> str | None:
    """Why ``value`` cannot replace ``default`` (same JSON/TOML type), or None if it can."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "must be a string"
    if isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        return None if ok else "must be a list of integers"
    return None


def resolve_encoder_params(name: str, params: dict[str, Any], key: str = "") -> dict[str, Any]:
    """Defaults of encoder ``name`` overlaid with ``params``, type-checked.

    ``key`` is the dotted path of the encoder table (e.g. ``teacher.encoders.text``, whose
    TOML table holds ``type`` and the params side by side); errors point at
    ``<key>.type`` or ``<key>.<param>``.
    """
    prefix = f"{key}." if key else ""
    defaults = encoder_params(name, f"{prefix}type")
    resolved = dict(defaults)
    for param, value in params.items():
        if param not in defaults:
            known = ", ".join(defaults) or "none"
            raise ConfigError(
                f"encoder {name!r} has no parameter {param!r} (its parameters: {known})",
                f"{prefix}{param}",
            )
        problem = _type_problem(value, defaults[param])
        if problem:
            raise ConfigError(f"{prefix}{param} {problem}, got {value!r}", f"{prefix}{param}")
        resolved[param] = list(value) if isinstance(value, tuple) else value
    return resolved

