"""``workbench report``: one self-contained HTML file per call, for one run or a comparison of several."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.engine.result import run_result
from workbench.engine.runs import RunRecord
from workbench.engine.stats import describe_gain
from workbench.engine.trainer import Trainer
from workbench.gui.report import report_html

from tiny_runs import tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_dataset) -> list[Path]:
    """Two finished tiny runs that differ in their objective."""
    runs_dir = tmp_path_factory.mktemp("report-runs")
    folders = []
    for kd_weight in (1.0, 0.0):
        config = tiny_config(tiny_dataset, runs_dir, epochs=2, teacher_epochs=1)
        config.loss.kd.weight = kd_weight
        trainer = Trainer(config)
        trainer.fit()
        folders.append(trainer.run_dir)
    return folders


class _References(HTMLParser):
    """Every tag, and every attribute that makes a browser load something or leave the page."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.references: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action", "background") or \
                    (name == "style" and "url(" in (value or "")):
                self.references.append((tag, name, value or ""))


def _parse(page: str) -> _References:
    parser = _References()
    parser.feed(page)
    return parser


def _assert_self_contained(page: str) -> list[bytes]:
    """No reference leaves the file: images are data: URIs (real PNGs, returned), links are #anchors."""
    parsed = _parse(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parsed.tags)
    assert "@import" not in page and "url(" not in page
    images = []
    for tag, name, value in parsed.references:
        if tag == "img" and name == "src":
            assert value.startswith("data:image/png;base64,"), value[:60]
            images.append(base64.b64decode(value.split(",", 1)[1]))
        else:
            assert tag == "a" and name == "href" and value.startswith("#"), (tag, name, value)
    assert images and all(image.startswith(PNG_MAGIC) for image in images)
    return images


def test_report_of_one_run_is_self_contained_with_every_section(two_runs, qapp):
    run_dir = two_runs[0]
    page = report_html([run_dir])
    images = _assert_self_contained(page)
    summary = RunRecord.open(run_dir).summary
    result = run_result(summary)
    # The curves, three confusion matrices, per-class accuracy and per-class gain.
    assert len(images) == 6
    text = re.sub(r"<[^>]+>", " ", page)
    assert summary["objective"] in page
    for net in ("teacher", "student", "baseline"):
        assert f"{result.net('best', net).accuracy:.3f}" in text
    for selection in ("best", "last"):
        assert describe_gain(result.paired_test[selection]) in page.replace("&#x27;", "'")
    assert "best checkpoints" in text and "last epoch" in text
    assert "[loss.kd]" in page  # the config
    assert "Run comparison" not in page


def test_report_of_two_runs_compares_them_and_the_cli_writes_one_file(two_runs, tmp_path, capsys, qapp):
    out = tmp_path / "report.html"
    assert main(["report", *map(str, two_runs), "--out", str(out)]) == 0
    assert f"Wrote {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    images = _assert_self_contained(page)
    assert len(images) == 3 + 2 * 6  # three overlays, then each run's section
    assert "Run comparison" in page
    diff = page[page.index("Config differences"):page.index("</table>", page.index("Config differences"))]
    assert "loss.kd.weight" in diff and "train.epochs" not in diff
    for run_dir in two_runs:
        assert f"id='{run_dir.name}'" in page and f"href='#{run_dir.name}'" in page
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no temporary file left beside it


def test_report_of_a_folder_that_is_no_run_is_one_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_file_export_report_writes_the_runs_selected_in_the_runs_tab(two_runs, make_window, qtbot, tmp_path,
                                                                    monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    window = make_window(wait_for_dataset=False)
    with qtbot.waitSignal(window.runs_view.runs_listed, timeout=10_000):
        window.runs_view.set_runs_dir(str(two_runs[0].parent))
    window.runs_view.select_runs([str(run) for run in two_runs])
    chosen = window.export_report_action.report_runs()  # in the table's order
    assert sorted(chosen) == sorted(str(run) for run in two_runs)
    target = tmp_path / "exported.html"
    offered = []

    def save_dialog(parent, caption, suggested, filters):
        offered.append(suggested)
        return str(target), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    window.export_report_action.trigger()
    assert offered == [str(Path(chosen[0]).parent / f"{Path(chosen[0]).name}-comparison-report.html")]
    page = target.read_text(encoding="utf-8")
    assert "Run comparison" in page and len(_assert_self_contained(page)) == 3 + 2 * 6
    assert f"Wrote the report of 2 runs to {target}" in window.log_view.toPlainText()
