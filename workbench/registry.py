"""Name -> class registries for encoders, fusions and loss terms (torchdistill style).

The registry is part of the bottom layer (with ``workbench.config`` and ``workbench.options``):
it imports neither torch nor the engine, so that the config can ask it which loss terms
and encoders exist. The engine's built-in classes (``engine/encoders.py``, ``models.py``,
``backbones.py``, ``losses.py``) and plug-ins (``plugins.py``) fill it with the decorators
below. The query functions import those built-in modules by name on first use, the same
way they load the installed ``workbench.plugins`` entry points; that is when torch loads.

The config reads encoder hyper-parameters straight from the registered classes: an
encoder's ``__init__`` takes the field's input spec dict as its first positional argument
``spec``, then only keyword parameters with defaults. Those keywords *are* the config
params, so adding an encoder needs no change in the config code.

A loss term declares its own options instead: annotated class attributes made with
``workbench.options.option`` (default, help, choices, bounds). ``@register_loss`` gathers
them into the term's ``Options`` dataclass, which is the ``[loss.<term>]`` table of a
config; validation, the commented TOML, the GUI's loss panel and the objective line all
read it, so a term (built-in or plug-in) is one class and nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable, TypeVar

from workbench.errors import ConfigError
from workbench.options import option

# The kinds of dataset field, which are the kinds of encoder input; the config and the data layer use these too.
FIELD_KINDS = ("image", "text", "audio", "array")
# The largest weight of a loss term (the bound register_loss gives a term that declares no weight; the built-in
# terms also bound the weights inside them, DKD's alpha and beta, RKD's parts, with it).
MAX_LOSS_WEIGHT = 1000.0

ENCODERS: dict[str, type] = {}
FUSIONS: dict[str, type] = {}
LOSSES: dict[str, type] = {}

# In this order: the workbench's own encoders are listed before the library backbones.
_BUILTIN_MODULES = ("workbench.engine.encoders", "workbench.engine.models", "workbench.engine.backbones",
                    "workbench.engine.hf_text", "workbench.engine.losses")

ClassT = TypeVar("ClassT", bound=type)


def _register(table: dict[str, type], kind: str, name: str) -> Callable[[ClassT], ClassT]:
    def decorator(cls: ClassT) -> ClassT:
        previous = table.get(name)
        # The same class defined again (a plug-in file loaded anew after an edit) replaces itself.
        redefined = previous is not None and (previous.__module__, previous.__qualname__) == (
            cls.__module__, cls.__qualname__)
        if previous is not None and previous is not cls and not redefined:
            raise ValueError(f"{kind} {name!r} is already registered by {previous.__module__}.{previous.__qualname__}")
        cls.registry_name = name
        table[name] = cls
        return cls

    return decorator


def register_encoder(name: str, modality: str) -> Callable[[ClassT], ClassT]:
    """Register an encoder class for one input modality under ``name``."""
    if modality not in FIELD_KINDS:
        raise ValueError(f"unknown modality {modality!r}; expected one of {FIELD_KINDS}")

    def decorator(cls: ClassT) -> ClassT:
        cls.modality = modality
        return _register(ENCODERS, "encoder", name)(cls)

    return decorator


def register_fusion(name: str) -> Callable[[ClassT], ClassT]:
    """Register a fusion module, built as ``cls(in_dims, hidden, dropout)``."""
    return _register(FUSIONS, "fusion", name)


def register_loss(name: str) -> Callable[[ClassT], ClassT]:
    """Register a loss term, built as ``cls(options, context)``; registration order is formula order.

    The class declares its options as annotated attributes made with ``option(...)``
    (``temperature: float = option(4.0, "Softmax temperature T.", low=0, low_open=True)``);
    they become ``cls.Options``, a dataclass. A class that declares no ``weight`` gets one
    that defaults to 0 (off), with the first line of its docstring as the help text.
    ``cls.title`` (default: ``name``) heads the term in the GUI.
    """

    def decorator(cls: ClassT) -> ClassT:
        cls.Options = _declared_options(cls, name)
        cls.title = cls.__dict__.get("title", name)
        return _register(LOSSES, "loss", name)(cls)

    return decorator


_ANNOTATION_TYPES = {"float": float, "int": int, "str": str, "bool": bool, "list": list, "dict": dict}


def _declared_options(cls: type, name: str) -> type:
    """The ``Options`` dataclass of a loss term class from its ``option(...)`` attributes (removed from the class)."""
    annotations = cls.__dict__.get("__annotations__", {})
    declared: list[tuple[str, Any, dataclasses.Field]] = []
    for attribute, value in list(cls.__dict__.items()):
        if not isinstance(value, dataclasses.Field):
            continue
        if attribute not in annotations:
            raise TypeError(f"loss term {name!r}: option {attribute!r} needs a type, e.g. `{attribute}: float = option(...)`")
        hint = annotations[attribute]
        declared.append((attribute, _ANNOTATION_TYPES.get(hint, hint) if isinstance(hint, str) else hint, value))
        delattr(cls, attribute)  # an nn.Module attribute of that name would shadow the options
    if not any(attribute == "weight" for attribute, _, _ in declared):
        summary = (inspect.getdoc(cls) or name).strip().splitlines()[0]
        declared.insert(0, ("weight", float, option(0.0, summary, low=0.0, high=MAX_LOSS_WEIGHT)))
    for attribute, hint, spec in declared:
        if isinstance(spec.default, (list, dict)):
            raise TypeError(f"loss term {name!r}: option {attribute!r} must be a number, a string or true/false")
    options = dataclasses.make_dataclass(f"{cls.__name__}Options", declared)
    options.__module__ = cls.__module__
    options.__qualname__ = f"{cls.__qualname__}.Options"
    return options


_loaded = False


def load_builtins() -> None:
    """Import the modules that register the built-in encoders, fusions and losses, and installed plug-ins."""
    global _loaded
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    if not _loaded:
        _loaded = True
        from workbench.plugins import load_entry_point_plugins

        load_entry_point_plugins()


def loss_class(name: str, key: str = "") -> type:
    load_builtins()
    if name not in LOSSES:
        known = ", ".join(LOSSES)
        raise ConfigError(f"unknown loss term {name!r}; choose one of: {known} "
                          "(a term from a plug-in needs its file in `plugins`)", key or f"loss.{name}")
    return LOSSES[name]


def loss_terms() -> dict[str, type]:
    """Every registered loss term class by name, built-ins first, in registration order."""
    load_builtins()
    return dict(LOSSES)


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
        raise ValueError(f"unknown modality {modality!r}; expected one of {FIELD_KINDS}")
    return defaults[modality]


def encoder_params(name: str, key: str = "") -> dict[str, Any]:
    """The config params of encoder ``name`` and their defaults (fresh copies, lists as lists).

    An unknown ``name`` raises ConfigError at ``key`` (the config's ``...type`` path).
    """
    signature = inspect.signature(encoder_class(name, key).__init__)
    params = list(signature.parameters.values())[2:]  # skip self, spec
    return {p.name: list(p.default) if isinstance(p.default, tuple) else p.default for p in params}


def encoder_param_options(name: str) -> dict[str, dict[str, Any]]:
    """What encoder ``name`` declares about its parameters in ``param_options`` ({param: option metadata: help,
    choices, low, high}); the Model panel shows it and validation checks it (``options.option_problem``)."""
    return getattr(encoder_class(name), "param_options", {})


def param_problem(value: Any, default: Any) -> str | None:
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
        problem = param_problem(value, defaults[param])
        if problem:
            raise ConfigError(f"{prefix}{param} {problem}, got {value!r}", f"{prefix}{param}")
        resolved[param] = list(value) if isinstance(value, tuple) else value
    return resolved

