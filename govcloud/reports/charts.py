"""Charts for the PDF reports, drawn with reportlab's own graphics (vector, no other
dependency): a line per series over days, with a legend, in the reports' embedded font."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from govcloud.domain.text import printable
from govcloud.reports.pdf import _BODY, _FRAME_W, _register_fonts

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
MAX_SERIES = len(_PALETTE)


def daily_lines(series: Mapping[str, Sequence[Decimal]], *, title: str,
                height: float = 200) -> Drawing:
    """One line per series (at most ``MAX_SERIES``, the largest) of a value per day (day 1
    first); an empty chart says there is nothing to draw."""
    _register_fonts()
    width = _FRAME_W
    drawing = Drawing(width, height)
    drawing.add(String(0, height - 12, printable(title)[:120], fontName=_BODY, fontSize=10))
    chosen = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0]))[:MAX_SERIES]
    if not chosen or not any(v for _, values in chosen for v in values):
        drawing.add(String(0, height / 2, "no usage recorded in the month", fontName=_BODY,
                           fontSize=9, fillColor=colors.grey))
        return drawing
    plot = LinePlot()
    plot.x, plot.y = 40, 40
    plot.width, plot.height = int(width - 170), int(height - 70)
    plot.data = [[(day + 1, float(v)) for day, v in enumerate(values)] for _, values in chosen]
    for i in range(len(chosen)):
        plot.lines[i].strokeColor = colors.HexColor(_PALETTE[i])
        plot.lines[i].strokeWidth = 1.2
    plot.xValueAxis.valueMin = 1
    plot.xValueAxis.valueMax = max(len(values) for _, values in chosen)
    plot.xValueAxis.valueSteps = [1, 5, 10, 15, 20, 25, plot.xValueAxis.valueMax]
    plot.yValueAxis.valueMin = 0
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName = _BODY
        axis.labels.fontSize = 7
    drawing.add(plot)
    legend = Legend()
    legend.x, legend.y = int(width - 120), int(height - 30)
    legend.fontName, legend.fontSize = _BODY, 7
    legend.alignment = "right"
    legend.colorNamePairs = [(colors.HexColor(_PALETTE[i]), printable(name)[:40])
                             for i, (name, _) in enumerate(chosen)]
    drawing.add(legend)
    drawing.add(String(40, 6, "day of the month", fontName=_BODY, fontSize=7))
    return drawing
