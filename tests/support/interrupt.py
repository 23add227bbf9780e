"""Run a Tune driver script in a subprocess and interrupt it (SIGINT) once enough trials finished."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def finished_trials(experiment: Path) -> int:
    """Trials of ``experiment`` with at least one reported result."""
    return sum(1 for f in experiment.glob("*/result.json") if f.stat().st_size > 0) if experiment.exists() else 0


def interrupt_driver(code: str, experiment: Path, *, after: int, timeout_s: float = 240.0) -> int:
    """Run ``code`` (a driver script) from the repository root; SIGINT it once ``after`` trials of
    ``experiment`` finished, as a user pressing Ctrl-C; wait for Tune to save and exit. Returns how
    many trials had finished by then. Fails if the driver ended on its own first."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=root)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and finished_trials(experiment) < after:
        time.sleep(0.3)
    assert proc.poll() is None, "the driver finished (or failed) before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # Tune saves its state (the searcher's included) and exits
    proc.wait(120)
    return finished_trials(experiment)
