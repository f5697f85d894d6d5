"""A shareable report of one or several runs: one self-contained HTML file (``workbench report``, File > Export report).

Every picture is drawn by the app's own plot classes (the Live tab's curves, the Results
tab's confusion matrix and per-class bars, the Runs tab's overlay colours) offscreen and
exported with pyqtgraph's ``ImageExporter``, so the report looks like the window; the PNGs
are inlined as ``data:`` URIs and the style sheet is inline too: the file references
nothing outside itself and can be mailed or attached as it is.

Figures are labelled as the engine defines them (``workbench.engine.result``): best
checkpoint or last epoch, and the gain with its paired test's interval and p-value.
"""

from __future__ import annotations

import base64
import contextlib
import html
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QBuffer, QIODevice, Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QWidget

from workbench.assets import network_colour, run_colours, ui_colour
from workbench.atomic import atomic_write_text
from workbench.config import NETS
from workbench.engine.metrics import confusion_matrix
from workbench.engine.result import METRIC_LABELS, RunResult, format_gain, run_result
from workbench.engine.runs import RunRecord
from workbench.engine.stats import describe_gain
from workbench.errors import WorkbenchError
from workbench.gui.plotting import legend_beside  # also the app's plot look: white background, its foreground
from workbench.gui.live_plots import LivePlots
from workbench.gui.results.plots import ConfusionPlot, GroupedBarPlot
from workbench.gui.results.run_data import flatten, validation_curves
from workbench.gui.results.selection import PredictionSet, per_class_accuracy, row_normalized

PAGE_WIDTH = 1100  # px of the widest picture; the page is laid out for it
_OVERLAY_METRICS = {"student/val_accuracy": "Student validation accuracy",
                    "baseline/val_accuracy": "Baseline validation accuracy",
                    "student/val_loss": "Student validation loss"}


@dataclass
class _Run:
    record: RunRecord
    result: RunResult
    config_text: str

    @property
    def name(self) -> str:
        return self.record.name


def write_report(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the report of ``run_dirs`` to ``out`` (atomically); needs a QApplication (offscreen will do)."""
    out = Path(out)
    atomic_write_text(out, report_html(run_dirs))
    return out


def report_html(run_dirs: list[str | Path]) -> str:
    """The whole page as one string."""
    if not run_dirs:
        raise WorkbenchError("Give at least one run folder to report on.")
    if QApplication.instance() is None:
        raise RuntimeError("report_html draws with Qt: create a QApplication first")
    runs = [_open(Path(run_dir)) for run_dir in run_dirs]
    with _offscreen_notices_dropped():
        body = _body(runs)
    title = runs[0].name if len(runs) == 1 else f"{len(runs)} runs: " + ", ".join(run.name for run in runs)
    generated = time.strftime("%Y-%m-%d %H:%M")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_css()}</style></head><body>\n"
            + "\n".join(body)
            + f"\n<footer>Made by the Cross-Modal Distillation Workbench (workbench report) on {generated}.</footer>"
              "\n</body></html>\n")


def _body(runs: list[_Run]) -> list[str]:
    body = [_comparison(runs)] if len(runs) > 1 else []
    body.extend(_run_section(run, heading_level=2 if len(runs) > 1 else 1) for run in runs)
    return body


@contextlib.contextmanager
def _offscreen_notices_dropped() -> Iterator[None]:
    """Qt's offscreen platform says "does not support propagateSizeHints()" for every widget laid out
    unseen; that line is noise here, every other Qt message still goes to stderr."""
    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        if "propagateSizeHints" not in message:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def _open(path: Path) -> _Run:
    record = RunRecord.open(path)
    if not record.summary:
        raise WorkbenchError(f"{record.path} has no summary.json: the run ended before it started training.")
    try:
        config_text = (record.path / "config.toml").read_text(encoding="utf-8")
    except OSError:
        config_text = "(config.toml is missing)"
    return _Run(record, run_result(record.summary), config_text)


# ----------------------------------------------------------------------------- one run

def _run_section(run: _Run, heading_level: int) -> str:
    summary, result = run.record.summary, run.result
    h = f"h{heading_level}"
    parts = [f"<section><{h} id='{_e(run.name)}'>{_e(run.name)}</{h}>", _facts(run)]
    parts.append(f"<p class='objective'>{_e(summary.get('objective', ''))}</p>")
    parts.append(_result_table(result))
    parts.append(_gain_block(result))
    parts.append("<h3>Curves</h3><p class='note'>Loss terms (smoothed, the raw curve faint behind), "
                 "accuracies, learning rate and distillation gain, against the optimiser step; as the Live tab "
                 "draws them. The dashed line is the change from teacher stage to student stage.</p>")
    parts.append(_img(_curves_png(run.record), "training curves"))
    predictions = _best_predictions(run)
    if predictions:
        parts.append("<h3>Confusion matrices</h3><p class='note'>Each network's best checkpoint, on the "
                     "validation split; share of each true class (rows).</p><div class='row'>")
        class_names = list(summary.get("class_names") or [])
        for net, (epoch, prediction_set) in predictions.items():
            caption = f"{net}, best checkpoint" + (f" (epoch {epoch})" if epoch is not None else "")
            parts.append("<figure>" + _img(_confusion_png(prediction_set, net, class_names), caption)
                         + f"<figcaption>{_e(caption)}</figcaption></figure>")
        parts.append("</div>")
        parts.append(_per_class_block(result, predictions, class_names))
    parts.append(f"<h3>Config</h3><pre class='config'>{_e(run.config_text)}</pre></section>")
    return "\n".join(parts)


def _facts(run: _Run) -> str:
    summary = run.record.summary
    total = (summary.get("timings") or {}).get("total")
    facts = [("status", run.record.status), ("task", summary.get("task", "classification")),
             ("dataset", Path(run.record.config.data.root).name if run.record.config.data.root else "–"),
             ("fingerprint", str(summary.get("dataset_fingerprint", "–"))[:12]),
             ("device", summary.get("device_name") or summary.get("device", "–")),
             ("processes", str(summary.get("world_size", 1))),
             ("training time", f"{total:.0f} s" if isinstance(total, (int, float)) else "–"),
             ("workbench", (summary.get("versions") or {}).get("workbench", "–"))]
    return "<p class='facts'>" + " · ".join(f"<b>{_e(key)}</b> {_e(str(value))}" for key, value in facts) + "</p>"


def _result_table(result: RunResult) -> str:
    main = result.gain_metric
    second = "val_accuracy" if main != "val_accuracy" else "val_macro_f1"
    head = ["", f"best {METRIC_LABELS[main]}", "epoch", f"best {METRIC_LABELS[second]}",
            f"last {METRIC_LABELS[main]}", f"last {METRIC_LABELS[second]}"]
    rows = []
    for net in NETS:
        best, last = result.net("best", net), result.net("last", net)
        if best is None or last is None:
            continue
        epoch = "reused" if best.epoch is None else str(best.epoch)
        cells = [_number(best.metrics.get(main)), epoch, _number(best.metrics.get(second)),
                 _number(last.metrics.get(main)), _number(last.metrics.get(second))]
        swatch = f"<span class='swatch' style='background:{network_colour(net)}'></span>"
        rows.append(f"<tr><th>{swatch}{net}</th>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    if not rows:
        return "<p class='note'>No validation results: the run ended before its first validation.</p>"
    caption = f"Validation. best = {result.describe('best')}; last = {result.describe('last')}."
    return ("<table class='results'><caption>" + _e(caption) + "</caption><tr>"
            + "".join(f"<th>{_e(cell)}</th>" for cell in head) + "</tr>" + "".join(rows) + "</table>")


def _gain_block(result: RunResult) -> str:
    if result.gain["best"] is None:
        return "<p class='note'>No distillation gain: the run has no baseline (train.baseline = false).</p>"
    lines = []
    for selection, where in (("best", "best checkpoints"), ("last", "last epoch")):
        test = result.paired_test.get(selection)
        text = describe_gain(test) if test else format_gain(result.gain[selection])
        detail = ""
        if test:
            detail = (f" — of {test['samples']} validation samples, {test['student_only']} only the student gets "
                      f"right and {test['baseline_only']} only the baseline")
            if selection == "best":
                detail += f" (student epoch {test['student_epoch']}, baseline epoch {test['baseline_epoch']})"
        lines.append(f"<li><b>{where}</b>: <span class='gain'>{_e(text)}</span>{_e(detail)}</li>")
    note = ("Student minus baseline " + METRIC_LABELS[result.gain_metric]
            + (". 95% interval: paired bootstrap over the validation samples; p: exact McNemar test."
               if any(result.paired_test.values()) else "."))
    return f"<h3>Distillation gain</h3><ul class='gain'>{''.join(lines)}</ul><p class='note'>{_e(note)}</p>"


def _per_class_block(result: RunResult, predictions: dict[str, tuple[int | None, PredictionSet]],
                     class_names: list[str]) -> str:
    parts = ["<h3>Per class</h3><div class='row'>"]
    accuracy = {net: per_class_accuracy(prediction_set, net) for net, (_, prediction_set) in predictions.items()}
    plot = GroupedBarPlot("Per-class accuracy (best checkpoints)", "accuracy")
    plot.set_values(class_names, accuracy)
    parts.append("<figure>" + _img(_widget_png(plot, 540, 300), "per-class accuracy") + "</figure>")
    test = result.paired_test.get("best")
    if test and test.get("per_class_gain"):
        gains = [test["per_class_gain"].get(name) for name in class_names]
        parts.append("<figure>" + _img(_gain_bars_png(class_names, gains), "per-class gain") + "</figure>")
    parts.append("</div>")
    return "".join(parts)


def _best_predictions(run: _Run) -> dict[str, tuple[int | None, PredictionSet]]:
    """Each network's validation predictions at its best checkpoint (the teacher's from any stage-2 epoch,
    where the frozen best teacher is evaluated, when the run reused it or stopped before)."""
    record, found = run.record, {}
    for net in NETS:
        best = run.result.net("best", net)
        if best is None:
            continue
        stage = "teacher" if net == "teacher" else "student"
        epochs = record.prediction_epochs(stage)
        epoch = best.epoch if best.epoch in epochs else None
        if epoch is None and net == "teacher" and record.prediction_epochs("student"):
            stage, epoch = "student", record.prediction_epochs("student")[-1]
        if epoch is None:
            continue
        arrays = record.predictions(stage, epoch)
        if f"{net}_probs" not in arrays:  # segmentation keeps masks, not class probabilities
            continue
        found[net] = (best.epoch, PredictionSet.from_arrays(stage, epoch, arrays))
    return found


# ----------------------------------------------------------------------------- several runs

def _comparison(runs: list[_Run]) -> str:
    parts = ["<h1>Run comparison</h1>", "<table class='results'><caption>Each run's result; best = each "
             "network's best checkpoint, last = last epoch.</caption><tr><th>run</th><th class='text'>objective</th>"
             "<th>student (best)</th><th>baseline (best)</th><th>gain (best), 95% interval, p</th>"
             "<th>gain (last)</th><th class='text'>status</th></tr>"]
    colours = dict(zip((run.name for run in runs), run_colours(len(runs))))  # as the Runs tab: in the order given
    for run in runs:
        result = run.result
        student, baseline = result.net("best", "student"), result.net("best", "baseline")
        test = result.paired_test.get("best")
        swatch = f"<span class='swatch' style='background:{colours[run.name]}'></span>"
        cells = [run.record.summary.get("objective", ""), _number(student.accuracy if student else None),
                 _number(baseline.accuracy if baseline else None),
                 describe_gain(test) if test else format_gain(result.gain["best"]), format_gain(result.gain["last"]),
                 run.record.status]
        parts.append(f"<tr><th><a href='#{_e(run.name)}'>{swatch}{_e(run.name)}</a></th>"
                     + "".join(f"<td class='{'text' if i in (0, 5) else ''}'>{_e(str(cell))}</td>"
                               for i, cell in enumerate(cells)) + "</tr>")
    parts.append("</table>")
    curves = {run.name: validation_curves(run.record.path) for run in runs}
    parts.append("<h3>Validation curves</h3><p class='note'>Per epoch of the student stage; one colour per "
                 "run, as in the Runs tab. Curves that coincide (the same baseline) hide one another.</p>"
                 "<div class='row'>")
    for metric, title in _OVERLAY_METRICS.items():
        parts.append("<figure>" + _img(_overlay_png(curves, metric, title, colours), title) + "</figure>")
    parts.append("</div>")
    parts.append(_config_diff_table(runs))
    return "\n".join(parts)


def _config_diff_table(runs: list[_Run]) -> str:
    """The config keys whose values are not the same in every run, one column per run (the Runs tab's diff, for N)."""
    from workbench.config import config_to_dict

    configs = [flatten(config_to_dict(run.record.config)) for run in runs]
    keys = sorted(key for key in set().union(*configs) if len({_show(config.get(key, "—")) for config in configs}) > 1)
    if not keys:
        return "<h3>Config differences</h3><p class='note'>The configs are the same.</p>"
    head = "".join(f"<th>{_e(run.name)}</th>" for run in runs)
    rows = "".join(f"<tr><th>{_e(key)}</th>" + "".join(f"<td>{_e(_show(config.get(key, '—')))}</td>"
                                                       for config in configs) + "</tr>" for key in keys)
    return f"<h3>Config differences</h3><table class='diff'><tr><th>key</th>{head}</tr>{rows}</table>"


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# ----------------------------------------------------------------------------- pictures

def _curves_png(record: RunRecord) -> str:
    plots = LivePlots()
    plots.redraw_timer.stop()  # drawn once, below
    plots.reset(str(record.path))
    for event in record.events():
        plots.add_event(event)
    plots.follow_check.setChecked(True)
    _lay_out(plots, PAGE_WIDTH, 620)
    plots.redraw()  # creates the curves and their legend entries: the legends beside the plots grow,
    QApplication.processEvents()  # and the layout makes room for them before the picture is taken
    png = _export(plots.graphics.ci, PAGE_WIDTH)
    plots.deleteLater()
    return png


def _confusion_png(prediction_set: PredictionSet, net: str, class_names: list[str]) -> str:
    plot = ConfusionPlot()
    counts = confusion_matrix(prediction_set.label, prediction_set.predicted[net], prediction_set.num_classes)
    plot.set_matrix(counts, row_normalized(counts), class_names, normalized=True)
    plot.setTitle(net.capitalize(), color="k")
    return _widget_png(plot, 540, 480)


def _gain_bars_png(class_names: list[str], gains: list[float | None]) -> str:
    """Student minus baseline accuracy per class (best checkpoints): the student's colour above 0, the baseline's below."""
    plot = pg.PlotWidget(background="w")
    plot.setTitle("Per-class gain (student − baseline, best checkpoints)", color="k")
    plot.setLabel("left", "gain", color="k")
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setTextPen("k")
        plot.getAxis(axis).setPen("k")
    plot.getAxis("left").enableAutoSIPrefix(False)
    values = np.array([np.nan if gain is None else gain for gain in gains], dtype=float)
    shown = np.nan_to_num(values)
    brushes = [network_colour("student") if value >= 0 else network_colour("baseline") for value in shown]
    plot.addItem(pg.BarGraphItem(x=np.arange(len(values)), height=shown, width=0.7, brushes=brushes, pen=None))
    plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(ui_colour("plot_foreground"), width=1)))
    plot.getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(class_names)]])
    span = max(0.05, float(np.abs(shown).max()) if shown.size else 0.05)
    plot.setRange(xRange=(-0.6, len(values) - 0.4), yRange=(-span * 1.1, span * 1.1), padding=0)
    plot.hideButtons()
    return _widget_png(plot, 540, 300)


def _overlay_png(curves: dict[str, dict[str, list[tuple[int, float]]]], metric: str, title: str,
                 colours: dict[str, str]) -> str:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="k")
    plot.setLabel("bottom", "epoch", color="k")
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setTextPen("k")
        plot.getAxis(axis).setPen("k")
        plot.getAxis(axis).enableAutoSIPrefix(False)
    legend_beside(plot.getPlotItem())
    for name, run_curves in curves.items():
        points = run_curves.get(metric)
        if not points:
            continue
        x, y = zip(*points)
        colour = colours[name]
        plot.plot(list(x), list(y), pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour,
                  symbolPen=None, name=name)
    plot.hideButtons()
    plot.autoRange()
    return _widget_png(plot, 540, 280)


def _lay_out(widget: QWidget, width: int, height: int) -> None:
    """Give a widget its size and let Qt lay it out, without it ever appearing on a screen."""
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(width, height)
    widget.show()
    QApplication.processEvents()


def _widget_png(widget: pg.PlotWidget, width: int, height: int) -> str:
    _lay_out(widget, width, height)
    png = _export(widget.getPlotItem(), width)
    widget.close()
    widget.deleteLater()
    return png


def _export(item: Any, width: int) -> str:
    """The item as a PNG ``data:`` URI, through pyqtgraph's ImageExporter."""
    exporter = ImageExporter(item)
    exporter.parameters()["width"] = int(width)
    image = exporter.export(toBytes=True)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(bytes(buffer.data())).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f"<img src='{uri}' alt='{_e(alt)}'>"


# ----------------------------------------------------------------------------- text

def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _css() -> str:
    return f"""
body {{ font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; max-width: {PAGE_WIDTH + 40}px;
       margin: 24px auto; padding: 0 20px; line-height: 1.4; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }} h2 {{ margin-top: 2em; border-top: 1px solid #ccc;
       padding-top: 0.8em; }} h3 {{ margin: 1.4em 0 0.4em; }}
.facts {{ color: #555; font-size: 0.92em; }} .note {{ color: #666; font-size: 0.88em; margin: 0.2em 0 0.6em; }}
.objective {{ font-family: ui-monospace, Menlo, Consolas, monospace; background: #f4f6f8; padding: 6px 10px;
       display: inline-block; border-radius: 4px; }}
table {{ border-collapse: collapse; margin: 0.6em 0; font-size: 0.95em; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: 4px 12px; text-align: right; }}
th:first-child {{ text-align: left; }} tr:first-child th {{ border-bottom: 2px solid #bbb; }}
td.text, th.text {{ text-align: left; }}
caption {{ caption-side: bottom; text-align: left; color: #666; font-size: 0.85em; padding-top: 4px; }}
table.diff td, table.diff th {{ text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace;
       font-size: 0.88em; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }}
ul.gain {{ padding-left: 1.2em; }} span.gain {{ font-weight: 600; }}
img {{ max-width: 100%; height: auto; }} .row {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 0.85em; color: #555; text-align: center; }}
pre.config {{ white-space: pre-wrap; background: #f7f7f7; padding: 10px; font-size: 0.82em; max-height: 480px; overflow: auto;
       border: 1px solid #e3e3e3; }}
footer {{ margin-top: 3em; color: #888; font-size: 0.8em; }}
a {{ color: inherit; text-decoration: none; }}
"""
