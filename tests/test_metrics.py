"""Training metrics: the result CSV read robustly, metrics events, and the loss chart as a real PNG."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys

from PIL import Image

from bot.metrics import MetricsRow, parse_metrics_csv, render_loss_chart, rows_from_events
from conftest import ROOT

HEADER = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_csv_rows_keep_empty_validation_cells_as_missing():
    """OpenAI's CSV has validation loss only every few steps: the other rows keep their training loss."""
    rows = parse_metrics_csv(HEADER + b"1,2.5,0.4,2.7,0.38\n2,2.1,0.5,,\n3,1.8,0.55,1.9,0.5\n")

    assert rows == [MetricsRow(1, 2.5, 2.7), MetricsRow(2, 2.1, None), MetricsRow(3, 1.8, 1.9)]


def test_csv_without_a_loss_column_gives_no_rows():
    """A file missing the step or train_loss column is not metrics."""
    assert parse_metrics_csv(b"step,train_accuracy\n1,0.5\n") == []
    assert parse_metrics_csv(b"train_loss,valid_loss\n1.0,2.0\n") == []


def test_garbage_gives_no_rows_and_no_error():
    """Binary junk, HTML, an empty body and garbled cells never raise."""
    assert parse_metrics_csv(b"\x89\xff\x00garbage") == []
    assert parse_metrics_csv(b"<html>502 Bad Gateway</html>") == []
    assert parse_metrics_csv(b"") == []
    assert parse_metrics_csv(HEADER + b'x,y,z\n"unterminated\n2,nan,,inf,\n-1,1.0,,,\n1.5,1.0,,,\n') == []


def test_bad_rows_are_skipped_and_good_ones_kept():
    """A short row, a repeated step (the later wins) and a non-numeric cell don't spoil the rest."""
    rows = parse_metrics_csv(HEADER + b"1,2.0\n2,oops,,1.5,\n2,1.9,,,\n3,abc,,def,\n")

    assert rows == [MetricsRow(1, 2.0, None), MetricsRow(2, 1.9, None)]


def test_base64_encoded_result_file_is_read():
    """The result file has been served base64-encoded by OpenAI; that reads the same."""
    rows = parse_metrics_csv(base64.b64encode(HEADER + b"1,2.5,,2.7,\n"))

    assert rows == [MetricsRow(1, 2.5, 2.7)]


def test_metrics_events_become_rows_and_junk_is_ignored():
    """Event data with a step and a loss is a row; anything else is skipped."""
    rows = rows_from_events([{"step": 2, "train_loss": 1.5, "total_steps": 9}, {"step": 1, "valid_loss": 2.0}, {"step": "x"}, None, [1]])

    assert rows == [MetricsRow(1, None, 2.0), MetricsRow(2, 1.5, None)]


def test_chart_is_an_800_by_400_png():
    """The chart is a real PNG of the size the embed expects."""
    rows = [MetricsRow(step, 3.0 / step, 3.2 / step if step % 5 == 0 else None) for step in range(1, 41)]

    png = render_loss_chart(rows, "Loss, job ftjob-test")

    assert png_size(png) == (800, 400)
    assert 5_000 < len(png) < 200_000
    with Image.open(io.BytesIO(png)) as image:  # and it decodes: a whole image, not just a header
        image.load()
        assert (image.format, image.size) == ("PNG", (800, 400))


def test_a_single_step_still_draws():
    """One row, training loss only, is still a chart."""
    assert png_size(render_loss_chart([MetricsRow(1, 2.0, None)], "one step")) == (800, 400)


def test_matplotlib_is_not_imported_with_the_bot():
    """Starting the bot (its services and cogs) does not load matplotlib: only the first chart does."""
    code = "import sys, bot.services, bot.client, cogs.training; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
