"""The benchmark cannot rot: a quick run completes and produces every figure (no timing thresholds here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_quick_benchmark_produces_every_figure(tmp_path):
    """`python -m bench --quick` prints the table and writes all figures as JSON."""
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())

    assert set(figures["overhead"]) == {f"{kind} x{n}" for kind in ("support", "bartender") for n in (1, 5, 20)}
    for level in figures["overhead"].values():
        assert level["messages"] > 0
        assert {"p50_ms", "p99_ms", "per_second", "throughput_ratio", "model_call_p50_ms"} <= set(level)
    assert figures["loop"]["max_stall_ms_under_load"] >= 0 and figures["loop"]["max_stall_ms_validate_and_import"] >= 0
    assert figures["memory"]["peak_rss_mb"] > 0
    assert figures["validation"]["ratio"] > 0 and figures["validation"]["examples"] == 2_000
    assert figures["matching"]["p99_ms"] > 0
    assert "overhead" in result.stdout and "memory: peak RSS" in result.stdout


def test_storage_benchmark_measures_both_engines(postgres_server):
    """`python -m bench.storage` times the database work of support answers and bartender turns on each engine."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.storage", "--messages", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "DATABASE_URL": postgres_server},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[-6] for row in rows] == ["sqlite"] * 3 + ["postgresql"] * 3
    bartender = [row for row in rows if row[0] == "bartender"]
    assert all(float(row[-5]) > 0 and float(row[-4]) > 0 for row in bartender)  # a turn reads and writes
