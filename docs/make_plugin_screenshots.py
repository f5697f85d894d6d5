"""Render the app with the docs' example plug-ins loaded: docs/screenshots/loss_plugin.png and model_plugin.png.

Writes the sample dataset and a config that lists ``docs/examples/similarity_loss.py``
and ``mobile_encoder.py`` in a temporary folder, opens the config in the main window as
File > Open does, switches the plug-in term on and the student's image encoder to the
plug-in encoder, and grabs the Loss and Model tabs. Regenerate; never edit by hand:

    python docs/make_plugin_screenshots.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "screenshots"
SIZE = (1280, 860)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # the user's own folders stay untouched
        from PySide6.QtCore import QEventLoop, QSettings

        import tomli_w

        from workbench.config import ExperimentConfig, config_to_dict, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        dataset = write_sample_dataset(Path(tmp) / "sample", classes=6, per_class=20, image_size=32)
        config = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
        plugins = [str(DOCS / "examples" / "similarity_loss.py"), str(DOCS / "examples" / "mobile_encoder.py")]
        data = config_to_dict(config)
        data["plugins"] = plugins
        data["student"]["encoders"]["image"] = {"type": "mobile_cnn"}
        data["loss"]["similarity"] = {"weight": 0.5, "source": "logits"}
        path = Path(tmp) / "exp.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")

        window = MainWindow(ExperimentConfig(), QSettings(str(Path(tmp) / "settings.ini"),
                                                          QSettings.Format.IniFormat))
        window.resize(*SIZE)
        window.show()
        window.document.open(path)
        deadline = time.monotonic() + 60
        while (window.data_panel.is_checking() or window.model_panel.is_counting()) and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        OUT.mkdir(parents=True, exist_ok=True)
        # Tall enough for the Loss tab to show the formula line and the plug-in's box together.
        for name, panel, size in (("loss_plugin", window.loss_panel, (1280, 1240)),
                                  ("model_plugin", window.model_panel, SIZE)):
            window.resize(*size)
            window.tabs.setCurrentWidget(panel)
            app.processEvents()
            target = OUT / f"{name}.png"
            window.grab().save(str(target))
            print(f"wrote {target}")
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
