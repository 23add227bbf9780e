"""Run a Tune driver script in a subprocess and interrupt it (SIGINT) once enough trials reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The driver scripts set this in their workers' environment, so that their trials take long enough
#: (2.5 s) that the run cannot finish between the count reaching ``after`` and the interrupt landing,
#: even on a loaded machine; the restored run, in the test's own Ray, keeps the short default.
TRIAL_S_ENV = "RAYTUNE_LLM_TEST_TRIAL_S"
INTERRUPTED_TRIAL_S = "2.5"


def pause_trial(default_s: float = 0.7) -> None:
    """What the trainables of the interrupted runs do instead of work."""
    time.sleep(float(os.environ.get(TRIAL_S_ENV, default_s)))


def trials_with_results(experiment: Path) -> int:
    """Trials of ``experiment`` that reported at least one result."""
    return sum(1 for f in experiment.glob("*/result.json") if f.stat().st_size > 0) if experiment.exists() else 0


def interrupt_driver(code: str, experiment: Path, *, after: int, timeout_s: float = 150.0) -> int:
    """Run ``code`` (a driver script) from the repository root; SIGINT it, as a user pressing
    Ctrl-C, once ``after`` trials of ``experiment`` reported; wait for Tune to save and exit.

    Progress is read from the trials' ``result.json`` files, so the driver must keep Tune's default
    ``reuse_actors=False``: with reused actors Tune writes those files only when the run ends.

    Returns how many trials had reported by then. Fails, with the driver's stderr, if the driver
    ended on its own first or did not get that far in ``timeout_s``; never leaves it running.
    """
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=err, cwd=root)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and proc.poll() is None and trials_with_results(experiment) < after:
                time.sleep(0.3)

            def tail() -> str:
                err.seek(0)
                return err.read()[-3000:]

            assert proc.poll() is None, f"the driver ended before it could be interrupted:\n{tail()}"
            assert trials_with_results(experiment) >= after, f"{after} trials did not report in {timeout_s} s:\n{tail()}"
            proc.send_signal(signal.SIGINT)  # Tune saves its state (the searcher's included) and exits
            proc.wait(100)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return trials_with_results(experiment)
