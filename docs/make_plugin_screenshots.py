"""Render the app with the docs' example plug-ins loaded: docs/screenshots/loss_plugin.png and model_plugin.png.

Writes the sample dataset and a config that lists ``docs/examples/similarity_loss.py``
and ``mobile_encoder.py`` in a temporary folder, opens the config in the main window as
File > Open does, switches the plug-in term on and the student's image encoder to the
plug-in encoder, and grabs the Loss and Model tabs. Regenerate; never edit by hand:

    python docs/make_plugin_screenshots.py
"""

from __future__ import annotations

from screenshot_session import DOCS, sample_session, save

SIZE = (1280, 860)


def main() -> int:
    with sample_session() as session:
        from workbench.config import config_to_dict

        table = config_to_dict(session.config)
        table["plugins"] = [str(DOCS / "examples" / "similarity_loss.py"), str(DOCS / "examples" / "mobile_encoder.py")]
        table["student"]["encoders"]["image"] = {"type": "mobile_cnn"}
        table["loss"]["similarity"] = {"weight": 0.5, "source": "logits"}
        window = session.open_window(SIZE, table=table)
        # Tall enough for the Loss tab to show the formula line and the plug-in's box together.
        for name, panel, size in (("loss_plugin", window.loss_panel, (1280, 1240)),
                                  ("model_plugin", window.model_panel, SIZE)):
            window.resize(*size)
            window.tabs.setCurrentWidget(panel)
            session.app.processEvents()
            save(window.grab(), name)
        session.close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
