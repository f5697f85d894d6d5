"""The Data tab's preview follows the width it gets instead of widening the panel."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from workbench.gui.panels.dataset_widgets import PREVIEW_CELL_WIDTH, PreviewGrid


def previews(count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(thumbnail=np.zeros((8, 8, 3), np.uint8), caption=f"caption {i}", sample_id=f"s{i}",
                            label="circle") for i in range(count)]


def test_the_preview_takes_as_many_columns_as_its_width_holds(qtbot):
    grid = PreviewGrid()
    qtbot.addWidget(grid)
    grid.set_samples(previews(6))
    grid.resize(3 * PREVIEW_CELL_WIDTH + 40, 300)
    grid.show()
    qtbot.waitExposed(grid)
    assert grid.minimumSizeHint().width() == PREVIEW_CELL_WIDTH  # one column: it never forces a scrollbar
    rows = {grid.grid.getItemPosition(grid.grid.indexOf(cell))[0] for cell in grid.cells}
    assert rows == {0, 1}  # three columns, two rows
    grid.resize(10 * PREVIEW_CELL_WIDTH, 300)
    qtbot.waitUntil(lambda: {grid.grid.getItemPosition(grid.grid.indexOf(cell))[0] for cell in grid.cells} == {0})
    grid.set_samples(previews(2))  # a new dataset's previews are arranged at once
    assert [grid.grid.getItemPosition(grid.grid.indexOf(cell))[:2] for cell in grid.cells] == [(0, 0), (0, 1)]
