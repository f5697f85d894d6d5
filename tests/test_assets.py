"""resources/: the palette, the style sheet and the default config are read from one place, and ship in the wheel."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from workbench import assets
from workbench.config import ExperimentConfig, config_from_dict, config_to_dict

ROOT = Path(__file__).resolve().parents[1]


def test_each_network_has_its_own_colour():
    colours = [assets.network_colour(net) for net in ("teacher", "student", "baseline")]
    assert len(set(colours)) == 3
    assert all(colour.startswith("#") and len(colour) == 7 for colour in colours)


def test_runs_get_distinct_colours_in_selection_order_then_repeat():
    palette = assets.run_palette()
    assert assets.run_colours(3) == palette[:3]
    assert len(set(assets.run_colours(len(palette)))) == len(palette)
    assert assets.run_colours(len(palette) + 1)[-1] == palette[0]


def test_style_sheet_has_every_colour_filled_in():
    sheet = assets.style_sheet()
    assert "$" not in sheet
    assert assets.ui_colour("invalid_border") in sheet


def test_default_config_template_holds_the_defaults():
    """resources/default_config.toml is generated (python -m workbench.assets); its values are the code's defaults."""
    shipped = tomllib.loads(assets.resource_path(assets.DEFAULT_CONFIG_FILE).read_text(encoding="utf-8"))
    assert config_to_dict(config_from_dict(shipped)) == config_to_dict(ExperimentConfig()), \
        "resources/default_config.toml is stale: regenerate it with `python -m workbench.assets`"


def test_wheel_carries_the_resources(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("workbench-*.whl")
    packaged = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("workbench/resources/")}
    expected = {f"workbench/resources/{path.name}" for path in (ROOT / "resources").iterdir() if path.is_file()}
    assert packaged == expected
