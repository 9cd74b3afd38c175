"""Charts as static SVG for the PDF (WeasyPrint runs no JavaScript). Same chart specs as Chart.js on the page."""

import math

from django.utils.html import escape
from django.utils.safestring import mark_safe

FONT = "font-family='DejaVu Sans, Liberation Sans, sans-serif'"


def _axis(value):
    """(top, step) of a value axis: a round step (1, 2, 5, 10, 20, 50 ...) and at most 5 steps."""
    if value <= 0:
        return 4, 1
    step = next(m * 10 ** e for e in range(12) for m in (1, 2, 5) if value / (m * 10 ** e) <= 5)
    return step * math.ceil(value / step), step


def _grid(left, right, top, plot_h, spec):
    top_value, step = _axis(_max(spec))
    parts = []
    for i in range(int(top_value / step) + 1):
        value = step * i
        y = top + plot_h - plot_h * value / top_value
        parts.append(f"<line x1='{left}' x2='{right}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 4}' y='{y + 3:.1f}' font-size='8' text-anchor='end' {FONT}>"
                     f"{value:g}</text>")
    return top_value, parts


def _colour(dataset, index):
    colours = dataset.get("colors")
    return colours[index] if colours else dataset.get("color", "#0B5394")


def _legend(datasets, width):
    if len(datasets) < 2:
        return [], 4
    parts, x, y = [], 0, 10
    for dataset in datasets:
        label = str(dataset["label"])
        size = 14 + 6 * len(label)
        if x + size > width and x:
            x, y = 0, y + 14
        parts.append(f"<rect x='{x}' y='{y - 8}' width='9' height='9' fill='{_colour(dataset, 0)}'/>"
                     f"<text x='{x + 12}' y='{y}' font-size='9' {FONT}>{escape(label)}</text>")
        x += size + 10
    return parts, y + 10


def _max(spec):
    datasets = spec["datasets"]
    if spec.get("stacked"):
        return max((sum(d["data"][i] or 0 for d in datasets) for i in range(len(spec["labels"]))), default=0)
    return max((v or 0 for d in datasets for v in d["data"]), default=0)


def svg_chart(spec, width=460, height=200):
    if not spec or not spec.get("labels"):
        return ""
    if spec["type"] == "line":
        body = _line(spec, width, height)
    elif spec.get("horizontal"):
        body = _horizontal(spec, width)
        height = body[1]
        body = body[0]
    else:
        body = _vertical(spec, width, height)
    title = escape(str(spec.get("title", "")))
    return mark_safe(  # noqa: S308 - every label is escaped above
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{title}'>{body}</svg>")


def _vertical(spec, width, height):
    legend, top = _legend(spec["datasets"], width)
    left, bottom = 30, 18
    plot_w, plot_h = width - left - 4, height - top - bottom
    top_value, grid = _grid(left, width - 4, top, plot_h, spec)
    parts = [*legend, *grid]
    labels, datasets = spec["labels"], spec["datasets"]
    group_w = plot_w / len(labels)
    stacked = spec.get("stacked")
    bar_w = group_w * 0.7 / (1 if stacked else len(datasets))
    every = max(1, math.ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        x0 = left + group_w * i + group_w * 0.15
        base = 0
        for j, dataset in enumerate(datasets):
            value = dataset["data"][i] or 0
            h = plot_h * value / top_value
            x = x0 if stacked else x0 + bar_w * j
            y = top + plot_h - h - (plot_h * base / top_value if stacked else 0)
            parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar_w:.1f}' height='{h:.1f}' "
                         f"fill='{_colour(dataset, i)}'/>")
            if value and not stacked and len(labels) <= 12:
                parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{y - 2:.1f}' font-size='8' text-anchor='middle' "
                             f"{FONT}>{value:g}</text>")
            base += value if stacked else 0
        if i % every == 0:
            parts.append(f"<text x='{left + group_w * (i + 0.5):.1f}' y='{height - 5}' font-size='9' "
                         f"text-anchor='middle' {FONT}>{escape(str(label))}</text>")
    return "".join(parts)


def _horizontal(spec, width):
    legend, top = _legend(spec["datasets"], width)
    labels, datasets = spec["labels"], spec["datasets"]
    left = min(220, 12 + 5.2 * max(len(str(label)) for label in labels))
    row_h = 8 + 9 * len(datasets)
    height = int(top + row_h * len(labels) + 6)
    plot_w = width - left - 30
    top_value, _step = _axis(_max(spec))
    parts = list(legend)
    for i, label in enumerate(labels):
        y0 = top + row_h * i
        parts.append(f"<text x='{left - 6}' y='{y0 + row_h / 2 + 3:.1f}' font-size='9' text-anchor='end' {FONT}>"
                     f"{escape(str(label))}</text>")
        for j, dataset in enumerate(datasets):
            value = dataset["data"][i] or 0
            w = plot_w * value / top_value
            y = y0 + 4 + 9 * j
            parts.append(f"<rect x='{left}' y='{y:.1f}' width='{w:.1f}' height='8' fill='{_colour(dataset, i)}'/>"
                         f"<text x='{left + w + 3:.1f}' y='{y + 7:.1f}' font-size='8' {FONT}>{value:g}</text>")
    parts.append(f"<line x1='{left}' x2='{left}' y1='{top}' y2='{height - 6}' stroke='#999'/>")
    return "".join(parts), height


def _line(spec, width, height):
    legend, top = _legend(spec["datasets"], width)
    left, bottom = 30, 18
    plot_w, plot_h = width - left - 8, height - top - bottom
    labels = spec["labels"]
    top_value, grid = _grid(left, width - 8, top, plot_h, spec)
    parts = [*legend, *grid]
    step = plot_w / max(len(labels) - 1, 1)
    every = max(1, math.ceil(len(labels) / 8))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(f"<text x='{left + step * i:.1f}' y='{height - 5}' font-size='8' text-anchor='middle' "
                         f"{FONT}>{escape(str(label))}</text>")
    for dataset in spec["datasets"]:
        points = " ".join(f"{left + step * i:.1f},{top + plot_h - plot_h * (v or 0) / top_value:.1f}"
                          for i, v in enumerate(dataset["data"]))
        parts.append(f"<polyline points='{points}' fill='none' stroke='{_colour(dataset, 0)}' stroke-width='1.5'/>")
    return "".join(parts)
