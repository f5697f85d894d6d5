"""Shared test setup. Qt must run offscreen, and this must be set before Qt is imported."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest  # noqa: E402


@pytest.fixture
def isolated_registry():
    """Registrations made by the test (plug-ins) are undone after it, so other tests see only the built-ins."""
    from workbench import plugins
    from workbench import registry

    registry.load_builtins()
    tables = (registry.ENCODERS, registry.FUSIONS, registry.LOSSES)
    saved = [dict(table) for table in tables]
    loaded = dict(plugins._loaded_files)
    yield registry
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)
    plugins._loaded_files.clear()
    plugins._loaded_files.update(loaded)
