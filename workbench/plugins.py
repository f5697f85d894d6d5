"""Plug-ins: a user's Python file, or an installed package, that registers encoders and loss terms.

A config names its files in ``plugins = ["my_losses.py"]`` (paths relative to the config
file); installed packages announce a module in the ``workbench.plugins`` entry-point
group. Either way the module is imported once and registers its classes with the same
decorators as the built-ins (``@register_loss``, ``@register_encoder``). A plug-in that
cannot be found or fails while importing is a user's mistake: one ``ConfigError`` that
names the file and line, never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from importlib.metadata import entry_points
from pathlib import Path

from workbench.errors import ConfigError, WorkbenchError

ENTRY_POINT_GROUP = "workbench.plugins"

# path -> modification time of the version imported, so that an edited file is imported anew.
_loaded_files: dict[Path, float] = {}


def resolve_plugin_paths(paths: list[str], base_dir: Path) -> list[str]:
    """Absolute paths of ``paths``, relative ones taken from ``base_dir`` (the config file's folder)."""
    return [str((base_dir / Path(path).expanduser()).resolve()) if isinstance(path, str) and path else path
            for path in paths]


def load_plugins(paths: list[str]) -> None:
    """Import each plug-in file (once per version), so that its classes are registered."""
    for index, raw in enumerate(paths):
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f"plugins[{index}] must be the path of a Python file, got {raw!r}.", "plugins")
        load_plugin_file(Path(raw), key="plugins")


def load_plugin_file(path: Path, key: str = "plugins") -> None:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"Plug-in file not found: {path}. Paths in `plugins` are relative to the config file.",
                          key)
    modified = path.stat().st_mtime
    if _loaded_files.get(path) == modified:
        return
    # One module name per file, so that importing an edited file replaces its own classes.
    module_name = f"workbench_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Plug-in {path} is not a Python file.", key)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure in user code becomes one message
        del sys.modules[module_name]
        raise ConfigError(f"Plug-in {_where(error, path)}: {type(error).__name__}: {error}", key) from None
    _loaded_files[path] = modified


def _where(error: BaseException, path: Path) -> str:
    """``FILE, line N``: the deepest line of the plug-in file in the error's traceback."""
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).resolve() == path:
        return f"{path}, line {error.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename and Path(frame.filename).resolve() == path]
    return f"{path}, line {lines[-1]}" if lines else str(path)


def load_entry_point_plugins() -> None:
    """Import the modules that installed packages list in the ``workbench.plugins`` entry-point group."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # noqa: BLE001
            origin = f"{entry.dist.name} " if entry.dist is not None else ""
            frames = traceback.extract_tb(error.__traceback__)
            where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
            raise WorkbenchError(f"The installed plug-in {origin}({ENTRY_POINT_GROUP} entry point "
                                 f"{entry.name} = {entry.value}) failed to load{where}: "
                                 f"{type(error).__name__}: {error}. Fix or uninstall it.") from None
