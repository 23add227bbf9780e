"""Run a Tune driver script in a subprocess and interrupt it (SIGINT) once enough trials reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

#: The driver scripts set this in their workers' environment, so that their trials take long enough
#: (2.5 s) that the run cannot finish between the count reaching ``after`` and the interrupt landing,
#: even on a loaded machine; the restored run, in the test's own Ray, keeps the short default.
TRIAL_S_ENV = "RAYTUNE_LLM_TEST_TRIAL_S"
INTERRUPTED_TRIAL_S = "2.5"
#: ... and this to a folder where each trial leaves a file once it reported (see :func:`mark_reported`).
MARKS_ENV = "RAYTUNE_LLM_TEST_MARKS"


def pause_trial(default_s: float = 0.7) -> None:
    """What the trainables of the interrupted runs do instead of work."""
    time.sleep(float(os.environ.get(TRIAL_S_ENV, default_s)))


def mark_reported() -> None:
    """What the trainables of the interrupted runs do after they reported.

    The driver's progress cannot be read from the trials' ``result.json`` files: with
    ``reuse_actors=True`` the trials' folders reach the storage path only at Tune's periodic syncs
    (about every 10 s with Ray 2.60) and at the end, where fresh actors bring each one as its trial
    ends.
    """
    folder = os.environ.get(MARKS_ENV)
    if folder:
        Path(folder, uuid.uuid4().hex).touch()


def trials_reported(marks: Path) -> int:
    """Trials that left a mark in ``marks`` (see :func:`mark_reported`)."""
    return sum(1 for _ in marks.iterdir()) if marks.exists() else 0


def interrupt_driver(code: str, marks: Path, *, after: int, timeout_s: float = 150.0) -> int:
    """Run ``code`` (a driver script) from the repository root; SIGINT it, as a user pressing
    Ctrl-C, once ``after`` of its trials reported (left a mark in ``marks``); wait for Tune to save
    and exit.

    Returns how many trials had reported by then. Fails, with the driver's stderr, if the driver
    ended on its own first or did not get that far in ``timeout_s``; never leaves it running.
    """
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=err, cwd=root)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and proc.poll() is None and trials_reported(marks) < after:
                time.sleep(0.3)

            def tail() -> str:
                err.seek(0)
                return err.read()[-3000:]

            assert proc.poll() is None, f"the driver ended before it could be interrupted:\n{tail()}"
            assert trials_reported(marks) >= after, f"{after} trials did not report in {timeout_s} s:\n{tail()}"
            proc.send_signal(signal.SIGINT)  # Tune saves its state (the searcher's included) and exits
            proc.wait(100)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return trials_reported(marks)
