"""An asynchronous particle swarm over the unit cube (pure numpy, no Ray, no LLM).

Ask/tell: :meth:`AsyncPSO.ask` hands out the next position of a free particle,
:meth:`AsyncPSO.tell` reports its cost (always minimised). A particle has at most one evaluation
in flight and moves again as soon as its own result is in, using the latest global best: there is
no generation barrier, so parallel workers never wait for the slowest trial of a generation.

External knowledge enters two ways:

* :meth:`AsyncPSO.tell_external` ("tell not asked", as Nevergrad calls it): a point evaluated
  elsewhere (a user's point, a warm start) updates the global best and, when it beats the worst
  particle's personal best, takes that particle's place (position and personal best).
* :meth:`AsyncPSO.inject`: positions proposed before evaluation (an LLM's suggestions) become the
  *next* positions of the worst particles, or of the particles given (Hameed et al. 2025 replace
  under-performing particles); a particle that takes one starts at rest there unless
  ``reset_injected_velocity=False`` (then it keeps its velocity).

Update rule (Kennedy & Eberhart with inertia): ``v <- w v + c1 r1 (p - x) + c2 r2 (g - x)``,
each component clamped to ``[-v_max, v_max]``; ``x <- x + v`` with *reflective* bounds (a
coordinate that leaves ``[0, 1]`` is mirrored back inside and its velocity component reversed),
which keeps particles near good boundary regions without sticking to the wall as clamping does.
The inertia ``w`` decays linearly from ``w_start`` to ``w_end`` over ``horizon`` evaluations.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune_llm._checks import check_bool, check_int, check_number

STATE_VERSION = 1


@dataclass
class Proposal:
    """A position handed out by :meth:`AsyncPSO.ask`.

    Attributes:
        id: identifier to pass back to :meth:`AsyncPSO.tell`.
        x: position in the unit cube.
        particle: index of the particle evaluating it.
        origin: ``"init"``, ``"pso"``, or the origin given to :meth:`AsyncPSO.inject`.
    """

    id: int
    x: np.ndarray
    particle: int
    origin: str


@dataclass
class Particle:
    x: np.ndarray
    v: np.ndarray
    best_x: np.ndarray | None = None
    best_f: float = math.inf
    last_f: float = math.nan
    evaluations: int = 0
    busy: bool = False
    next_x: np.ndarray | None = None
    next_origin: str = ""


class AsyncPSO:
    """Asynchronous PSO in ``[0, 1] ** dim``.

    Args:
        dim: number of coordinates.
        swarm_size: number of particles (can grow later with :meth:`resize`).
        seed: seed of the swarm's own ``numpy.random.Generator``.
        horizon: evaluations over which the inertia decays (e.g. the trial budget).
        w_start: initial inertia.
        w_end: final inertia.
        c1: cognitive coefficient (pull to the particle's best).
        c2: social coefficient (pull to the swarm's best).
        v_max: velocity clamp, as a fraction of the unit range.
        reset_injected_velocity: a particle that takes an injected position (:meth:`inject`) starts
            at rest there (default) instead of carrying its old velocity on from it.

    Example:
        >>> pso = AsyncPSO(2, swarm_size=4, seed=0)
        >>> p = pso.ask()
        >>> pso.tell(p.id, float(((p.x - 0.3) ** 2).sum()))
        >>> pso.best_f < 1
        True
    """

    def __init__(self, dim: int, *, swarm_size: int = 8, seed: int | None = None, horizon: int = 200,
                 w_start: float = 0.9, w_end: float = 0.4, c1: float = 1.49445, c2: float = 1.49445,
                 v_max: float = 0.2, reset_injected_velocity: bool = True) -> None:
        dim, swarm_size = check_int("dim", dim, minimum=1), check_int("swarm_size", swarm_size, minimum=2)
        horizon = check_int("horizon", horizon, minimum=1)
        seed = check_int("seed", seed, minimum=0, optional=True)
        self.check_options(w_start=w_start, w_end=w_end, c1=c1, c2=c2, v_max=v_max,
                           reset_injected_velocity=reset_injected_velocity)
        self.dim = dim
        self.horizon = int(horizon)
        self.w_start, self.w_end, self.c1, self.c2, self.v_max = map(float, (w_start, w_end, c1, c2, v_max))
        self.reset_injected_velocity = bool(reset_injected_velocity)
        self.rng = np.random.default_rng(seed)
        self.particles: list[Particle] = []
        self.best_x: np.ndarray | None = None
        self.best_f = math.inf
        self.told = 0
        self._next_id = 0
        self._in_flight: dict[int, int] = {}
        self._free: deque[int] = deque()
        self._add_particles(swarm_size)

    OPTIONS = ("w_start", "w_end", "c1", "c2", "v_max", "reset_injected_velocity")

    @staticmethod
    def check_options(name: str = "AsyncPSO", **options: Any) -> None:
        """Check the update's options (``w_start``, ``w_end``, ``c1``, ``c2``, ``v_max``,
        ``reset_injected_velocity``).

        Inertia weights in [0, 1.5], acceleration coefficients in [0, 4] (beyond them the swarm
        diverges), ``v_max`` (a fraction of each range) in (0, 1], ``reset_injected_velocity`` a bool.

        Raises:
            ValueError: an unknown option or a value out of range, named.
        """
        prefix = "" if name == "AsyncPSO" else f"{name} "
        for key, value in options.items():
            if key in ("w_start", "w_end"):
                check_number(prefix + key, value, low=0, high=1.5)
            elif key in ("c1", "c2"):
                check_number(prefix + key, value, low=0, high=4)
            elif key == "v_max":
                check_number(prefix + key, value, low=0, high=1, low_open=True)
            elif key == "reset_injected_velocity":
                check_bool(prefix + key, value)
            else:
                raise ValueError(f"{name} has an unknown option {key!r}; valid: {', '.join(AsyncPSO.OPTIONS)}")

    # ------------------------------------------------------------------ swarm
    def _add_particles(self, n: int) -> None:
        from scipy.stats import qmc

        start = len(self.particles)
        if n <= 0:
            return
        seed = int(self.rng.integers(2**31))
        positions = qmc.LatinHypercube(d=self.dim, seed=seed).random(n) if n > 1 else self.rng.random((1, self.dim))
        for k in range(n):
            v = self.rng.uniform(-self.v_max, self.v_max, self.dim) * 0.5
            self.particles.append(Particle(x=positions[k], v=v))
            self._free.append(start + k)

    @property
    def swarm_size(self) -> int:
        return len(self.particles)

    def resize(self, swarm_size: int) -> None:
        """Grow the swarm to ``swarm_size`` particles (never shrinks)."""
        self._add_particles(swarm_size - len(self.particles))

    @property
    def inertia(self) -> float:
        frac = min(1.0, self.told / self.horizon)
        return self.w_start - (self.w_start - self.w_end) * frac

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> Proposal | None:
        """The next position of a free particle, or ``None`` when every particle is busy."""
        if not self._free:
            return None
        i = self._free.popleft()
        p = self.particles[i]
        if p.next_x is not None:
            x, origin = p.next_x, p.next_origin
            p.next_x, p.next_origin = None, ""
        elif p.evaluations == 0:
            x, origin = p.x, "init"
        else:
            x, origin = self._move(p), "pso"
        p.x = np.asarray(x, dtype=float)
        p.busy = True
        proposal = Proposal(self._next_id, p.x.copy(), i, origin)
        self._in_flight[self._next_id] = i
        self._next_id += 1
        return proposal

    def _move(self, p: Particle) -> np.ndarray:
        pbest = p.best_x if p.best_x is not None else p.x
        gbest = self.best_x if self.best_x is not None else pbest
        r1 = self.rng.random(self.dim)
        r2 = self.rng.random(self.dim)
        v = self.inertia * p.v + self.c1 * r1 * (pbest - p.x) + self.c2 * r2 * (gbest - p.x)
        v = np.clip(v, -self.v_max, self.v_max)
        x = p.x + v
        low, high = x < 0, x > 1
        x = np.where(low, -x, np.where(high, 2 - x, x))
        v = np.where(low | high, -v, v)
        p.v = v
        return np.clip(x, 0.0, 1.0)

    def tell(self, proposal_id: int, value: float) -> None:
        """Report the cost of a proposal; NaN or infinite values count as a failed evaluation.

        Raises:
            KeyError: the id was never asked or was already told.
        """
        i = self._in_flight.pop(proposal_id)
        p = self.particles[i]
        p.busy = False
        p.evaluations += 1
        self.told += 1
        value = float(value)
        if math.isfinite(value):
            p.last_f = value
            if value < p.best_f:
                p.best_f, p.best_x = value, p.x.copy()
            if value < self.best_f:
                self.best_f, self.best_x = value, p.x.copy()
        else:
            p.last_f = math.inf
        self._free.append(i)

    def tell_failed(self, proposal_id: int) -> None:
        """The evaluation failed (trial error): the particle is freed, nothing else learned."""
        self.tell(proposal_id, math.inf)

    def tell_external(self, x: np.ndarray, value: float) -> int | None:
        """Tell a point the swarm did not ask for.

        Returns:
            The index of the (idle) particle it replaced, or ``None`` when it replaced none.
        """
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
        value = float(value)
        if not math.isfinite(value):
            return None
        self.told += 1
        if value < self.best_f:
            self.best_f, self.best_x = value, x.copy()
        idle = [i for i, p in enumerate(self.particles) if not p.busy]
        if not idle:
            return None
        worst = max(idle, key=lambda i: (self.particles[i].best_f, -self.particles[i].evaluations))
        p = self.particles[worst]
        if value < p.best_f:
            p.x, p.best_x, p.best_f, p.last_f = x.copy(), x.copy(), value, value
            p.evaluations = max(p.evaluations, 1)
            p.next_x = None
            return worst
        return None

    def worst_particles(self, k: int) -> list[int]:
        """Indices of the ``k`` worst particles (by personal best, then last cost)."""
        order = sorted(range(len(self.particles)),
                       key=lambda i: (-_inf_last(self.particles[i].best_f), -_inf_last(self.particles[i].last_f)))
        return order[:k]

    def injection_targets(self) -> list[int]:
        """The particles :meth:`inject` fills, in its order: the worst first, skipping those that
        already hold a position to evaluate next."""
        return [i for i in self.worst_particles(len(self.particles)) if self.particles[i].next_x is None]

    def inject(self, positions: list[np.ndarray], origin: str, particles: list[int] | None = None) -> list[int]:
        """Make ``positions`` the next positions of the worst particles (or of ``particles``).

        With ``reset_injected_velocity`` (the default) a particle that receives a position also loses
        its velocity, so that its next moves start from the new position instead of carrying on the
        old trajectory (see docs/llm-pso.md, "What replacing costs, and two options that lower the cost").

        Args:
            positions: unit-cube positions.
            origin: the origin their proposals will carry (e.g. ``"llm"``).
            particles: the particle of each position, from :meth:`injection_targets`; by default
                the worst particles in order.

        Returns:
            The particles that received a position, in the order of ``positions``.

        Raises:
            ValueError: a particle in ``particles`` that is not free to take a position.
        """
        targets = self.injection_targets()
        if particles is not None:
            bad = [i for i in particles if i not in targets]
            if bad or len(set(particles)) != len(particles):
                raise ValueError(f"particles {particles} must be distinct members of injection_targets() {targets}")
            targets = list(particles)
        used = []
        for x, i in zip(positions, targets):
            p = self.particles[i]
            p.next_x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
            p.next_origin = origin
            if self.reset_injected_velocity:
                p.v = np.zeros(self.dim)
            used.append(i)
        return used

    # ------------------------------------------------------------------ state
    def diversity(self) -> float:
        """Mean distance of the particles to their centroid, over sqrt(dim) (0 = collapsed)."""
        xs = np.array([p.x for p in self.particles])
        return float(np.linalg.norm(xs - xs.mean(axis=0), axis=1).mean() / math.sqrt(self.dim))

    def get_state(self) -> dict[str, Any]:
        """A JSON-able dict of everything, RNG included."""
        return {
            "version": STATE_VERSION,
            "dim": self.dim,
            "params": {"horizon": self.horizon, "w_start": self.w_start, "w_end": self.w_end, "c1": self.c1,
                       "c2": self.c2, "v_max": self.v_max, "reset_injected_velocity": self.reset_injected_velocity},
            "rng": self.rng.bit_generator.state,
            "best_x": None if self.best_x is None else self.best_x.tolist(),
            "best_f": _enc(self.best_f),
            "told": self.told,
            "next_id": self._next_id,
            "in_flight": {str(k): v for k, v in self._in_flight.items()},
            "free": list(self._free),
            "particles": [
                {"x": p.x.tolist(), "v": p.v.tolist(), "best_x": None if p.best_x is None else p.best_x.tolist(),
                 "best_f": _enc(p.best_f), "last_f": _enc(p.last_f), "evaluations": p.evaluations, "busy": p.busy,
                 "next_x": None if p.next_x is None else p.next_x.tolist(), "next_origin": p.next_origin}
                for p in self.particles
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AsyncPSO:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported swarm state version {state.get('version')!r}; expected {STATE_VERSION}")
        pso = cls.__new__(cls)
        pso.dim = int(state["dim"])
        params = state["params"]
        pso.horizon = int(params["horizon"])
        pso.w_start, pso.w_end, pso.c1, pso.c2, pso.v_max = (params[k] for k in ("w_start", "w_end", "c1", "c2", "v_max"))
        pso.reset_injected_velocity = bool(params.get("reset_injected_velocity", False))
        pso.rng = np.random.default_rng()
        pso.rng.bit_generator.state = state["rng"]
        pso.best_x = None if state["best_x"] is None else np.array(state["best_x"])
        pso.best_f = _dec(state["best_f"])
        pso.told = int(state["told"])
        pso._next_id = int(state["next_id"])
        pso._in_flight = {int(k): int(v) for k, v in state["in_flight"].items()}
        pso._free = deque(int(i) for i in state["free"])
        pso.particles = [
            Particle(x=np.array(d["x"]), v=np.array(d["v"]),
                     best_x=None if d["best_x"] is None else np.array(d["best_x"]), best_f=_dec(d["best_f"]),
                     last_f=_dec(d["last_f"]), evaluations=int(d["evaluations"]), busy=bool(d["busy"]),
                     next_x=None if d["next_x"] is None else np.array(d["next_x"]), next_origin=d["next_origin"])
            for d in state["particles"]
        ]
        return pso


def _inf_last(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _enc(x: float) -> float | str:
    return x if math.isfinite(x) else repr(x)


def _dec(x: float | str) -> float:
    return float(x)
