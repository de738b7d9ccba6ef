"""A fine-tuning job's training metrics: read from the provider's result file or metrics events, drawn as a loss chart."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# A result file larger than this is not read: a chart is not worth holding that much in memory.
MAX_RESULT_BYTES = 20_000_000
# Points drawn per line at most; longer runs are thinned evenly (the chart is 800 pixels wide).
MAX_POINTS = 2_000
CHART_SIZE = (8.0, 4.0)  # inches
CHART_DPI = 100  # so the PNG is 800 x 400


@dataclass(frozen=True)
class MetricsRow:
    step: int
    train_loss: float | None
    valid_loss: float | None


def parse_metrics_csv(raw: bytes) -> list[MetricsRow]:
    """The rows of a result CSV (step, train_loss, valid_loss, …) that have a step and a loss, by step.

    Anything unreadable gives no rows rather than an error: missing columns, empty or garbled cells,
    a body that is not CSV. OpenAI has served this file base64-encoded at times, so that is read too.
    """
    if len(raw) > MAX_RESULT_BYTES:
        return []
    text = _csv_text(raw)
    if text is None:
        return []
    try:
        reader = csv.reader(io.StringIO(text))
        header = [name.strip().lower() for name in next(reader, [])]
        if "step" not in header or "train_loss" not in header:
            return []
        columns = {name: header.index(name) for name in ("step", "train_loss", "valid_loss", "full_valid_loss") if name in header}
        rows = []
        for cells in reader:
            row = _row({name: cells[index] for name, index in columns.items() if index < len(cells)})
            if row is not None:
                rows.append(row)
    except csv.Error:
        return []
    return _by_step(rows)


def rows_from_events(data: Iterable[Any]) -> list[MetricsRow]:
    """Rows from the `data` of metrics events ({"step": 3, "train_loss": 1.2, "valid_loss": …}), by step."""
    rows = [_row(item) for item in data if isinstance(item, Mapping)]
    return _by_step([row for row in rows if row is not None])


def render_loss_chart(rows: list[MetricsRow], title: str) -> bytes:
    """A PNG of training and validation loss by step. Blocking (about 40 ms, and the import on first use): run it
    in a thread. matplotlib is imported here, not at start-up: it costs about 0.3 s and 40 MB, and only admins
    asking for /status need it. Figure with the Agg canvas, not pyplot, so drawing in a thread is safe."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _thinned(rows)
    figure = Figure(figsize=CHART_SIZE, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    train = [(row.step, row.train_loss) for row in rows if row.train_loss is not None]
    valid = [(row.step, row.valid_loss) for row in rows if row.valid_loss is not None]
    if train:
        axes.plot(*zip(*train), label="training loss", color="#5865F2", linewidth=1.2)
    if valid:
        marker = "o" if len(valid) <= 50 else None  # validation is often every few steps: show where it was measured
        axes.plot(*zip(*valid), label="validation loss", color="#E67E22", linewidth=1.5, marker=marker, markersize=3)
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _csv_text(raw: bytes) -> str | None:
    text = _utf8(raw)
    if text is not None and "step" in text.partition("\n")[0].lower():
        return text
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    text = _utf8(decoded)
    return text if text is not None and "step" in text.partition("\n")[0].lower() else None


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _row(values: Mapping[str, Any]) -> MetricsRow | None:
    step = _number(values.get("step"))
    if step is None or step < 0 or step != int(step):
        return None
    train = _number(values.get("train_loss"))
    valid = _number(values.get("valid_loss"))
    if valid is None:
        valid = _number(values.get("full_valid_loss"))
    if train is None and valid is None:
        return None
    return MetricsRow(int(step), train, valid)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _by_step(rows: list[MetricsRow]) -> list[MetricsRow]:
    """Sorted by step, the last row of a repeated step kept."""
    return sorted({row.step: row for row in rows}.values(), key=lambda row: row.step)


def _thinned(rows: list[MetricsRow]) -> list[MetricsRow]:
    if len(rows) <= MAX_POINTS:
        return rows
    stride = math.ceil(len(rows) / MAX_POINTS)
    kept = rows[::stride]
    # Validation rows are sparse: thinning must not drop them all.
    kept_steps = {row.step for row in kept}
    kept += [row for row in rows if row.valid_loss is not None and row.step not in kept_steps][:MAX_POINTS]
    return sorted(kept, key=lambda row: row.step)
