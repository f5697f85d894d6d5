"""What the docs' screenshot scripts share: the app, offscreen, on a fresh sample dataset in a temporary
folder (the user's own settings and folders untouched), a window that settles, and the PNG it saves."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "screenshots"


@dataclass
class Session:
    app: Any  # the QApplication
    folder: Path  # temporary: removed when the session ends
    dataset: Path  # the sample dataset in it
    config: Any  # the app's default config for that dataset

    def open_window(self, size: tuple[int, int], config: Any = None, table: dict | None = None) -> Any:
        """A main window of ``size`` on ``config`` (default: the sample's), or on ``table`` written to a
        TOML file and opened as File > Open does (so its plug-ins load), once its checks and counts are done."""
        import tomli_w
        from PySide6.QtCore import QSettings

        from workbench.config import ExperimentConfig
        from workbench.gui.main_window import MainWindow

        settings = QSettings(str(self.folder / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(ExperimentConfig() if table is not None else (config or self.config), settings)
        window.resize(*size)
        window.show()
        if table is not None:
            path = self.folder / "exp.toml"
            path.write_text(tomli_w.dumps(table), encoding="utf-8")
            window.document.open(path)
        self.settle(window)
        return window

    def settle(self, window: Any, seconds: float = 120) -> None:
        """Let the window's background jobs (dataset check, parameter counts, model lists) finish."""
        from PySide6.QtCore import QEventLoop

        deadline = time.monotonic() + seconds
        while not window.is_idle() and time.monotonic() < deadline:
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        self.app.processEvents()

    def close(self, window: Any) -> None:
        window.close()
        self.app.processEvents()


def save(picture: Any, name: str) -> Path:
    """Write a grabbed QPixmap as docs/screenshots/NAME.png and say so."""
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / f"{name}.png"
    picture.save(str(target))
    print(f"wrote {target}")
    return target


@contextlib.contextmanager
def sample_session(classes: int = 6, per_class: int = 20, image_size: int = 32) -> Iterator[Session]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(folder / "xdg")  # the user's own folders stay untouched
        from workbench.config import ExperimentConfig, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        dataset = write_sample_dataset(folder / "sample", classes=classes, per_class=per_class, image_size=image_size)
        yield Session(app, folder, dataset, default_config(check_dataset(dataset, ExperimentConfig().data, seed=0)))
