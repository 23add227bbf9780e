"""A compact progress view of a Tune run: one line per finished trial.

``raytune-llm tune`` and ``make demo`` print it instead of Ray Tune's trial tables (which they show
with ``--verbose``). Each line names the trial, the searcher, where its configuration came from
(``init``, ``pso``, ``llm``, ``sobol``, ``user``...), its value, the best value so far and the time
since the run started::

    llm-pso  trial  9/24  llm    val_rmse 14.21    best 13.87 (trial 4)    1m02s

The callback also notes when the searcher sent its first LLM request (read from its
``llm_usage``), which ``raytune-llm tune`` uses to say why a run ended without an LLM answer.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from ray.tune import Callback


def format_elapsed(seconds: float) -> str:
    """``12.3s``, ``4m05s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class TrialProgress(Callback):
    """Print one line per finished (or failed) trial to standard output.

    Args:
        label: the searcher's name, first on each line.
        metric: the metric the run optimises (read from each trial's last result).
        mode: ``"min"`` or ``"max"``, for the best so far.
        total: trials the run will start (``num_samples``), for ``trial 3/24``.
        searcher: the searcher whose ``history`` names each trial's origin; ``None`` (or a searcher
            without one, such as Ray's own): no origins.
        watch_llm: note when the searcher's ``llm_usage`` first counts a request.

    Attributes:
        finished: trials finished so far (errored ones included).
        durations: seconds each finished trial ran (``time_total_s``), in finishing order.
        first_llm_request: ``(seconds into the run, trials finished)`` when the searcher's first LLM
            request was seen, or ``None``.
    """

    def __init__(self, *, label: str, metric: str, mode: str, total: int, searcher: Any = None,
                 watch_llm: bool = False) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.label = label
        self.metric = metric
        self.mode = mode
        self.total = int(total)
        self.searcher = searcher
        self.watch_llm = watch_llm
        self.finished = 0
        self.durations: list[float] = []
        self.first_llm_request: tuple[float, int] | None = None
        self._best: tuple[float, int] | None = None
        self._start = time.monotonic()

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        self._start = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self._start

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._watch_llm()  # LLMSearcher asks from its first suggest(), before any trial finishes

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial, error=True)

    def _finished(self, trial: Any, *, error: bool) -> None:
        self.finished += 1
        result = getattr(trial, "last_result", None) or {}
        duration = result.get("time_total_s")
        if isinstance(duration, (int, float)) and math.isfinite(duration):
            self.durations.append(float(duration))
        value = _number(result.get(self.metric)) if not error else None
        if value is not None and (self._best is None or
                                  (value < self._best[0] if self.mode == "min" else value > self._best[0])):
            self._best = (value, self.finished)
        self._watch_llm()
        width = len(str(self.total))
        shown = "error" if error else ("-" if value is None else f"{value:.4g}")
        best = "-" if self._best is None else f"{self._best[0]:.4g} (trial {self._best[1]})"
        line = (f"{self.label}  trial {self.finished:>{width}}/{self.total}  {self._origin(trial):<9}"
                f"{self.metric} {shown:<10} best {best:<22} {format_elapsed(self.elapsed_s)}")
        print(line.rstrip(), file=sys.stdout, flush=True)

    def _origin(self, trial: Any) -> str:
        history = getattr(self.searcher, "history", None)
        trial_id = getattr(trial, "trial_id", None)
        if not history or trial_id is None:
            return "-"
        for record in reversed(history[-64:]):  # Tune tells the searcher first: the trial is among the last
            if record.get("trial_id") == trial_id:
                return str(record.get("origin", "-"))
        return "-"

    def _watch_llm(self) -> None:
        if not self.watch_llm or self.first_llm_request is not None:
            return
        usage = getattr(self.searcher, "llm_usage", None)
        if usage is not None and usage.requests > 0:
            self.first_llm_request = (self.elapsed_s, self.finished)


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
