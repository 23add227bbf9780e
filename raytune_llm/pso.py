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

Options that default off (plain asynchronous PSO stays the control):

* ``kinds`` (:mod:`raytune_llm.surrogate.kinds`): integers stay on their grid and a categorical
  parameter moves as a probability vector over its choices, pulled by the same rule towards the
  one-hot vectors of the personal and global best; its position is a category sampled from the
  vector (``categorical="sample"``) or its most likely one (``"argmax"``), never a rounded float.
* ``screen`` (a callable: candidate rows -> scores, lower is better, e.g.
  :class:`raytune_llm.surrogate.SurrogateScreen`): a particle's next position is the best of
  ``screen_candidates`` candidates: velocity updates with different random draws (the first is the
  plain move) and Gaussian perturbations, at random scales, of its personal best and the global best
  (with ``subspace``, that share of them moves a random subset of the coordinates).
* ``stagnation``: after that many completions without a better global best, the worst
  ``trust_fraction`` of the particles restart (next position, at rest, personal best forgotten)
  uniformly in a box of half-width ``radius`` around the global best (origin ``"trust"``); the
  radius starts at ``trust_radius``, halves at each further stagnation, returns to ``trust_radius``
  below ``trust_min`` and on every improvement of the global best.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from raytune_llm._checks import check_bool, check_int, check_number
from raytune_llm.surrogate.kinds import categorical_columns, category, kinds_to_json, normalize_kinds, snap
from raytune_llm.surrogate.proposers import local_steps

STATE_VERSION = 1


@dataclass
class Proposal:
    """A position handed out by :meth:`AsyncPSO.ask`.

    Attributes:
        id: identifier to pass back to :meth:`AsyncPSO.tell`.
        x: position in the unit cube.
        particle: index of the particle evaluating it.
        origin: ``"init"``, ``"pso"``, ``"trust"`` (a trust-region restart), or the origin given to
            :meth:`AsyncPSO.inject`.
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
    probs: list[np.ndarray] | None = None  # one probability vector per categorical coordinate
    pv: list[np.ndarray] | None = None  # their velocities


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
        kinds: per-coordinate kinds (``"cont"``, ``("int", centres)``, ``("cat", n)``; see
            :func:`raytune_llm.surrogate.kinds.kinds_from_space`); ``None``: all continuous.
        categorical: ``"sample"`` or ``"argmax"``: how a categorical position comes from its vector.
        screen: scores candidate positions (rows) for the screened moves, lower is better; ``None``
            (default): plain moves. Not saved: pass it again to :meth:`from_state`.
        screen_candidates: candidate moves per screened move.
        stagnation: completions without a better global best before a trust-region restart;
            ``None`` (default): never.
        trust_radius: first half-width of the trust region (unit cube).
        trust_min: below this half-width the next restart uses ``trust_radius`` again.
        trust_fraction: share of the swarm restarted at each stagnation (at least one particle).
        subspace: probability that a perturbation candidate moves only a random subset of the
            continuous and integer coordinates (:func:`~raytune_llm.surrogate.proposers.local_steps`).

    Example:
        >>> pso = AsyncPSO(2, swarm_size=4, seed=0)
        >>> p = pso.ask()
        >>> pso.tell(p.id, float(((p.x - 0.3) ** 2).sum()))
        >>> pso.best_f < 1
        True
    """

    def __init__(self, dim: int, *, swarm_size: int = 8, seed: int | None = None, horizon: int = 200,
                 w_start: float = 0.9, w_end: float = 0.4, c1: float = 1.49445, c2: float = 1.49445,
                 v_max: float = 0.2, reset_injected_velocity: bool = True, kinds: Sequence[Any] | None = None,
                 categorical: str = "sample", screen: Callable[[np.ndarray], np.ndarray] | None = None,
                 screen_candidates: int = 8, stagnation: int | None = None, trust_radius: float = 0.2,
                 trust_min: float = 0.01, trust_fraction: float = 0.5, subspace: float = 0.0) -> None:
        dim, swarm_size = check_int("dim", dim, minimum=1), check_int("swarm_size", swarm_size, minimum=2)
        horizon = check_int("horizon", horizon, minimum=1)
        seed = check_int("seed", seed, minimum=0, optional=True)
        self.check_options(w_start=w_start, w_end=w_end, c1=c1, c2=c2, v_max=v_max,
                           reset_injected_velocity=reset_injected_velocity, categorical=categorical,
                           screen_candidates=screen_candidates, stagnation=stagnation, trust_radius=trust_radius,
                           trust_min=trust_min, trust_fraction=trust_fraction, subspace=subspace)
        if screen is not None and not callable(screen):
            raise ValueError(f"screen must be a callable (candidate rows -> scores) or None, got {screen!r}")
        self.dim = dim
        self.horizon = int(horizon)
        self.w_start, self.w_end, self.c1, self.c2, self.v_max = map(float, (w_start, w_end, c1, c2, v_max))
        self.reset_injected_velocity = bool(reset_injected_velocity)
        self.kinds = normalize_kinds(kinds, dim)
        self.categorical = categorical
        self.screen = screen
        self.screen_candidates = int(screen_candidates)
        self.stagnation = None if stagnation is None else int(stagnation)
        self.trust_radius, self.trust_min, self.trust_fraction = map(float, (trust_radius, trust_min, trust_fraction))
        self.subspace = float(subspace)
        self._setup_kinds()
        self.since_improvement = 0
        self.trust_level = 0
        self.restarts = 0
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
    #: Options of the screened, categorical-aware and trust-region moves (all off by default).
    MOVE_OPTIONS = ("categorical", "screen_candidates", "stagnation", "trust_radius", "trust_min", "trust_fraction",
                    "subspace")

    @staticmethod
    def check_options(name: str = "AsyncPSO", **options: Any) -> None:
        """Check the update's options (``w_start``, ``w_end``, ``c1``, ``c2``, ``v_max``,
        ``reset_injected_velocity``) and the move options (:attr:`MOVE_OPTIONS`).

        Inertia weights in [0, 1.5], acceleration coefficients in [0, 4] (beyond them the swarm
        diverges), ``v_max`` (a fraction of each range) in (0, 1], ``reset_injected_velocity`` a bool;
        ``categorical`` ``"sample"`` or ``"argmax"``, ``screen_candidates`` an int >= 1,
        ``stagnation`` an int >= 1 or None, ``trust_radius`` and ``trust_min`` in (0, 1],
        ``trust_fraction`` in (0, 1], ``subspace`` in [0, 1].

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
            elif key == "categorical":
                if value not in ("sample", "argmax"):
                    raise ValueError(f"{prefix}categorical must be 'sample' or 'argmax', got {value!r}")
            elif key == "screen_candidates":
                check_int(prefix + key, value, minimum=1)
            elif key == "stagnation":
                check_int(prefix + key, value, minimum=1, optional=True)
            elif key in ("trust_radius", "trust_min", "trust_fraction"):
                check_number(prefix + key, value, low=0, high=1, low_open=True)
            elif key == "subspace":
                check_number(prefix + key, value, low=0, high=1)
            else:
                raise ValueError(f"{name} has an unknown option {key!r}; "
                                 f"valid: {', '.join(AsyncPSO.OPTIONS + AsyncPSO.MOVE_OPTIONS)}")

    # ------------------------------------------------------------------ swarm
    def _setup_kinds(self) -> None:
        self._cats = [(j, self.kinds[j][1]) for j in categorical_columns(self.kinds)]
        self._mixed = any(k != "cont" for k in self.kinds)

    def _add_particles(self, n: int) -> None:
        from scipy.stats import qmc

        start = len(self.particles)
        if n <= 0:
            return
        seed = int(self.rng.integers(2**31))
        positions = qmc.LatinHypercube(d=self.dim, seed=seed).random(n) if n > 1 else self.rng.random((1, self.dim))
        if self._mixed:
            positions = snap(positions, self.kinds)
        for k in range(n):
            v = self.rng.uniform(-self.v_max, self.v_max, self.dim) * 0.5
            particle = Particle(x=positions[k], v=v)
            if self._cats:
                for j, _ in self._cats:
                    v[j] = 0.0
                particle.probs = [np.full(m, 1.0 / m) for _, m in self._cats]
                particle.pv = [np.zeros(m) for _, m in self._cats]
            self.particles.append(particle)
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
            if self._mixed:
                x = snap(x, self.kinds)
                self._concentrate(p, x)
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
        if self.screen is None:
            x, state = self._velocity_move(p)
            p.v, p.probs, p.pv = state
            return x
        m = self.screen_candidates
        n_vel = (m + 1) // 2
        moves = [self._velocity_move(p) for _ in range(n_vel)]
        pbest = p.best_x if p.best_x is not None else p.x
        gbest = self.best_x if self.best_x is not None else pbest
        cands = [x for x, _ in moves] + [self._perturb(p, pbest if k % 2 == 0 else gbest) for k in range(m - n_vel)]
        scores = np.asarray(self.screen(np.array(cands)), dtype=float).reshape(-1)
        if scores.shape[0] != len(cands):
            raise ValueError(f"screen must return one score per candidate ({len(cands)}), got {scores.shape[0]}")
        i = int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))  # ties and all-inf: the plain move
        x = cands[i]
        if i < n_vel:
            p.v, p.probs, p.pv = moves[i][1]
        else:
            v = np.clip(x - p.x, -self.v_max, self.v_max)
            for j, _ in self._cats:
                v[j] = 0.0
            p.v, p.probs, p.pv = v, moves[0][1][1], moves[0][1][2]
        return x

    def _velocity_move(self, p: Particle) -> tuple[np.ndarray, tuple[np.ndarray, Any, Any]]:
        """One velocity update from ``p`` (not applied): the position and ``(v, probs, pv)``."""
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
        x = np.clip(x, 0.0, 1.0)
        if not self._mixed:
            return x, (v, p.probs, p.pv)
        x = snap(x, self.kinds)
        probs, pvs = [], []
        for c, (j, n) in enumerate(self._cats):
            r = self.rng.random(2)
            prob, pv = p.probs[c], p.pv[c]
            pv = self.inertia * pv + self.c1 * r[0] * (_onehot(pbest[j], n) - prob) \
                + self.c2 * r[1] * (_onehot(gbest[j], n) - prob)
            pv = np.clip(pv, -self.v_max, self.v_max)
            prob = np.clip(prob + pv, 0.0, 1.0)
            prob = 0.95 * prob / prob.sum() + 0.05 / n if prob.sum() > 0 else np.full(n, 1.0 / n)
            k = int(np.argmax(prob)) if self.categorical == "argmax" else \
                min(int(np.searchsorted(np.cumsum(prob), self.rng.random() * prob.sum(), side="right")), n - 1)
            x[j], v[j] = (k + 0.5) / n, 0.0
            probs.append(prob)
            pvs.append(pv)
        return x, (v, probs or None, pvs or None)

    def _perturb(self, p: Particle, centre: np.ndarray) -> np.ndarray:
        """A local step from ``centre`` (:func:`~raytune_llm.surrogate.proposers.local_steps`): a
        Gaussian step at a random scale (log-uniform in [0.01, 0.2]); a category changes with
        probability 0.2, to another one drawn from the particle's vector (in a space of categories
        alone at least one changes: the step never repeats ``centre``)."""
        sigma = math.exp(self.rng.uniform(math.log(0.01), math.log(0.2)))
        return local_steps(centre, sigma, self.kinds, self.rng, weights=p.probs, subspace=self.subspace)[0]

    def _concentrate(self, p: Particle, x: np.ndarray) -> None:
        """Centre a particle's category vectors on the categories of ``x`` (a position it took)."""
        if not self._cats:
            return
        p.probs = [0.8 * _onehot(x[j], n) + 0.2 / n for j, n in self._cats]
        if p.pv is None or self.reset_injected_velocity:
            p.pv = [np.zeros(n) for _, n in self._cats]

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
        improved = False
        if math.isfinite(value):
            p.last_f = value
            if value < p.best_f:
                p.best_f, p.best_x = value, p.x.copy()
            if value < self.best_f:
                self.best_f, self.best_x = value, p.x.copy()
                improved = True
        else:
            p.last_f = math.inf
        self._free.append(i)
        if improved:
            self.since_improvement, self.trust_level = 0, 0
        else:
            self.since_improvement += 1
            if self.stagnation is not None and self.since_improvement >= self.stagnation and self.best_x is not None:
                self._trust_restart()

    def _trust_restart(self) -> None:
        """Restart the worst particles in a box around the global best (see the module docstring)."""
        radius = self.trust_radius * 0.5 ** self.trust_level
        if radius < self.trust_min:
            self.trust_level, radius = 0, self.trust_radius
        self.trust_level += 1
        self.since_improvement = 0
        self.restarts += 1
        k = max(1, int(round(self.trust_fraction * len(self.particles))))
        targets = [i for i in self.injection_targets()
                   if self.particles[i].best_x is None or self.particles[i].best_f > self.best_f][:k]
        for i in targets:
            n_cand = self.screen_candidates if self.screen is not None else 1
            cands = np.clip(self.best_x + radius * self.rng.uniform(-1, 1, (n_cand, self.dim)), 0.0, 1.0)
            for j, n in self._cats:
                redraw = self.rng.random(n_cand) < radius
                cands[:, j] = np.where(redraw, (self.rng.integers(n, size=n_cand) + 0.5) / n, self.best_x[j])
            if self._mixed:
                cands = snap(cands, self.kinds)
            best = 0
            if self.screen is not None:
                scores = np.asarray(self.screen(cands), dtype=float).reshape(-1)
                best = int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))
            p = self.particles[i]
            p.next_x, p.next_origin = cands[best], "trust"
            p.v = np.zeros(self.dim)
            p.best_x, p.best_f = None, math.inf
            if self._cats:
                p.pv = [np.zeros(n) for _, n in self._cats]

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
        if self._mixed:
            x = snap(x, self.kinds)
        if value < self.best_f:
            self.best_f, self.best_x = value, x.copy()
            self.since_improvement, self.trust_level = 0, 0
        idle = [i for i, p in enumerate(self.particles) if not p.busy]
        if not idle:
            return None
        worst = max(idle, key=lambda i: (self.particles[i].best_f, -self.particles[i].evaluations))
        p = self.particles[worst]
        if value < p.best_f:
            p.x, p.best_x, p.best_f, p.last_f = x.copy(), x.copy(), value, value
            p.evaluations = max(p.evaluations, 1)
            p.next_x = None
            self._concentrate(p, x)
            return worst
        return None

    def planned_position(self, i: int) -> np.ndarray:
        """Where particle ``i`` goes next if asked now: its held next position, its first position,
        or a (screened) move from where it is. Nothing changes: the particle, the swarm's RNG and
        later asks are as if this was never called (the move asked later is drawn afresh)."""
        p = self.particles[i]
        if p.next_x is not None:
            return snap(p.next_x, self.kinds) if self._mixed else p.next_x.copy()
        if p.evaluations == 0:
            return p.x.copy()
        state = self.rng.bit_generator.state
        try:
            return self._move(replace(p))
        finally:
            self.rng.bit_generator.state = state

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
            "move": {"kinds": kinds_to_json(self.kinds), "categorical": self.categorical,
                     "screen_candidates": self.screen_candidates, "stagnation": self.stagnation,
                     "trust_radius": self.trust_radius, "trust_min": self.trust_min,
                     "trust_fraction": self.trust_fraction, "subspace": self.subspace,
                     "since_improvement": self.since_improvement,
                     "trust_level": self.trust_level, "restarts": self.restarts},
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
                 "next_x": None if p.next_x is None else p.next_x.tolist(), "next_origin": p.next_origin,
                 **({} if p.probs is None else {"probs": [q.tolist() for q in p.probs],
                                                "pv": [q.tolist() for q in p.pv]})}
                for p in self.particles
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, screen: Callable[[np.ndarray], np.ndarray] | None = None) -> AsyncPSO:
        """The swarm saved by :meth:`get_state` (states saved before the move options load with
        them off). ``screen`` is not saved: pass it again to keep screening moves."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported swarm state version {state.get('version')!r}; expected {STATE_VERSION}")
        pso = cls.__new__(cls)
        pso.dim = int(state["dim"])
        params = state["params"]
        pso.horizon = int(params["horizon"])
        pso.w_start, pso.w_end, pso.c1, pso.c2, pso.v_max = (params[k] for k in ("w_start", "w_end", "c1", "c2", "v_max"))
        pso.reset_injected_velocity = bool(params.get("reset_injected_velocity", False))
        move = state.get("move", {})
        pso.kinds = normalize_kinds(move.get("kinds"), pso.dim)
        pso.categorical = move.get("categorical", "sample")
        pso.screen = screen
        pso.screen_candidates = int(move.get("screen_candidates", 8))
        pso.stagnation = None if move.get("stagnation") is None else int(move["stagnation"])
        pso.trust_radius = float(move.get("trust_radius", 0.2))
        pso.trust_min = float(move.get("trust_min", 0.01))
        pso.trust_fraction = float(move.get("trust_fraction", 0.5))
        pso.subspace = float(move.get("subspace", 0.0))
        pso.since_improvement = int(move.get("since_improvement", 0))
        pso.trust_level = int(move.get("trust_level", 0))
        pso.restarts = int(move.get("restarts", 0))
        pso._setup_kinds()
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
                     next_x=None if d["next_x"] is None else np.array(d["next_x"]), next_origin=d["next_origin"],
                     probs=None if "probs" not in d else [np.array(q, dtype=float) for q in d["probs"]],
                     pv=None if "pv" not in d else [np.array(q, dtype=float) for q in d["pv"]])
            for d in state["particles"]
        ]
        return pso


def _onehot(u: float, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[int(category(u, n))] = 1.0
    return out


def _inf_last(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _enc(x: float) -> float | str:
    return x if math.isfinite(x) else repr(x)


def _dec(x: float | str) -> float:
    return float(x)
