from __future__ import annotations

import json
import math

import numpy as np
import pytest

from raytune_llm.pso import AsyncPSO


def sphere(x):
    return float(((x - 0.3) ** 2).sum())


def run(pso, n):
    for _ in range(n):
        p = pso.ask()
        pso.tell(p.id, sphere(p.x))


def test_golden_values_for_a_fixed_seed():
    pso = AsyncPSO(3, swarm_size=4, seed=42)
    run(pso, 40)
    # recorded from this implementation; a change here changes every seeded search
    assert pso.best_f == pytest.approx(GOLDEN_BEST, rel=1e-9)
    assert pso.best_x.tolist() == pytest.approx(GOLDEN_X, rel=1e-9)


GOLDEN_BEST = 0.0031580644296964836
GOLDEN_X = [0.33020838925005014, 0.3252417060458033, 0.2598954625446048]


def test_converges_on_sphere():
    pso = AsyncPSO(4, swarm_size=8, seed=0, horizon=300)
    run(pso, 300)
    assert pso.best_f < 1e-3


def test_positions_stay_in_the_unit_cube_and_reflect():
    pso = AsyncPSO(2, swarm_size=4, seed=1, v_max=1.0)
    for _ in range(200):
        p = pso.ask()
        assert np.all((0 <= p.x) & (p.x <= 1))
        pso.tell(p.id, -float(p.x.sum()))  # pulls to the corner (1, 1)


def test_asynchronous_one_trial_per_particle():
    pso = AsyncPSO(2, swarm_size=3, seed=0)
    proposals = [pso.ask() for _ in range(3)]
    assert pso.ask() is None and {p.particle for p in proposals} == {0, 1, 2}
    pso.tell(proposals[1].id, 0.5)
    nxt = pso.ask()
    assert nxt is not None and nxt.particle == 1  # moves as soon as its own result is in


def test_failed_evaluations_update_nothing():
    pso = AsyncPSO(2, swarm_size=2, seed=0)
    p = pso.ask()
    pso.tell(p.id, math.nan)
    q = pso.ask()
    pso.tell_failed(q.id)
    assert pso.best_f == math.inf and pso.best_x is None and pso.busy == 0


def test_tell_external_replaces_the_worst_idle_particle():
    pso = AsyncPSO(2, swarm_size=3, seed=0)
    for value in (5.0, 1.0, 3.0):
        p = pso.ask()
        pso.tell(p.id, value)
    replaced = pso.tell_external(np.array([0.3, 0.3]), 0.5)
    assert replaced == 0 and pso.best_f == 0.5
    assert pso.particles[0].best_f == 0.5 and pso.particles[0].x.tolist() == [0.3, 0.3]
    assert pso.tell_external(np.array([0.9, 0.9]), 100.0) is None


def test_inject_sets_next_positions_of_worst_particles():
    pso = AsyncPSO(2, swarm_size=4, seed=0)
    ids = [pso.ask() for _ in range(4)]
    for p, value in zip(ids, (4.0, 3.0, 2.0, 1.0)):
        pso.tell(p.id, value)
    used = pso.inject([np.array([0.1, 0.1]), np.array([0.2, 0.2])], origin="llm")
    assert used == [0, 1] and pso.injection_targets() == [2, 3]  # the next worst without a position
    assert pso.inject([np.array([0.3, 0.3])], origin="llm") == [2]
    origins = {}
    for _ in range(4):
        p = pso.ask()
        origins[p.particle] = (p.origin, p.x.tolist())
    assert origins[0] == ("llm", [0.1, 0.1]) and origins[1] == ("llm", [0.2, 0.2])
    assert origins[2] == ("llm", [0.3, 0.3]) and origins[3][0] == "pso"
    assert pso.injection_targets() == [0, 1, 2, 3]


@pytest.mark.parametrize("reset", [False, True])
def test_reset_injected_velocity_stops_only_the_injected_particles(reset):
    pso = AsyncPSO(2, swarm_size=4, seed=0, reset_injected_velocity=reset)
    run(pso, 12)
    before = [p.v.copy() for p in pso.particles]
    used = pso.inject([np.array([0.1, 0.1])], origin="llm")
    assert len(used) == 1 and np.any(before[used[0]] != 0)
    for i, p in enumerate(pso.particles):
        stopped = reset and i == used[0]
        assert np.array_equal(p.v, np.zeros(2) if stopped else before[i])
    clone = AsyncPSO.from_state(json.loads(json.dumps(pso.get_state())))
    assert clone.reset_injected_velocity is reset


def test_injected_particles_start_at_rest_by_default_but_not_in_a_state_saved_before_the_option():
    assert AsyncPSO(2, seed=0).reset_injected_velocity is True
    state = AsyncPSO(2, seed=0).get_state()
    del state["params"]["reset_injected_velocity"]  # written before the option existed: the old behaviour
    assert AsyncPSO.from_state(state).reset_injected_velocity is False


def test_state_round_trip_is_json_and_exact():
    pso = AsyncPSO(3, swarm_size=5, seed=7)
    run(pso, 17)
    pending = pso.ask()
    state = json.loads(json.dumps(pso.get_state()))
    clone = AsyncPSO.from_state(state)
    for s in (pso, clone):
        s.tell(pending.id, 0.25)
        run(s, 10)
    assert clone.best_f == pso.best_f and clone.get_state() == pso.get_state()


def test_resize_grows_only():
    pso = AsyncPSO(2, swarm_size=4, seed=0)
    pso.resize(10)
    assert pso.swarm_size == 10
    pso.resize(3)
    assert pso.swarm_size == 10


@pytest.mark.parametrize("kw", [{"dim": 0}, {"swarm_size": 1}, {"v_max": 0}, {"horizon": 0},
                                {"reset_injected_velocity": "yes"}])
def test_bad_arguments(kw):
    args = {"dim": 2, **kw}
    dim = args.pop("dim")
    with pytest.raises(ValueError):
        AsyncPSO(dim, **args)


# ---------------------------------------------------------------- move options (off by default)
MIXED = ["cont", ("int", (0.1, 0.3, 0.5, 0.7, 0.9)), ("cat", 4)]


def mixed_cost(x):
    return float((x[0] - 0.3) ** 2 + (x[1] - 0.7) ** 2 + (0.0 if math.floor(x[2] * 4) == 2 else 1.0))


def distance_screen(target):
    return lambda xs: ((np.asarray(xs) - target) ** 2).sum(axis=1)


def drive(pso, n, cost, in_flight=3, seed=0):
    """Ask up to ``in_flight``, tell one at random, ``n`` times; returns the proposals in order."""
    rng = np.random.default_rng(seed)
    pending, seen = [], []
    for _ in range(n):
        while len(pending) < in_flight:
            p = pso.ask()
            if p is None:
                break
            pending.append(p)
            seen.append(p)
        p = pending.pop(int(rng.integers(len(pending))))
        pso.tell(p.id, cost(p.x))
    return seen


def test_categories_and_integers_stay_on_their_grid_and_vectors_stay_distributions():
    pso = AsyncPSO(3, swarm_size=6, seed=0, kinds=MIXED)
    for p in drive(pso, 120, mixed_cost):
        assert p.x[1] in (0.1, 0.3, 0.5, 0.7, 0.9) and p.x[2] in (0.125, 0.375, 0.625, 0.875)
    for particle in pso.particles:
        (prob,) = particle.probs
        assert np.all(prob >= 0) and prob.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("categorical", ["sample", "argmax"])
def test_the_swarm_learns_the_best_category(categorical):
    pso = AsyncPSO(3, swarm_size=6, seed=1, kinds=MIXED, categorical=categorical)
    late = drive(pso, 150, mixed_cost)[-50:]
    assert np.mean([math.floor(p.x[2] * 4) == 2 for p in late]) > 0.6


def test_a_perturbation_changes_categories_to_other_ones_and_never_repeats_its_centre():
    pso = AsyncPSO(3, swarm_size=4, seed=0, kinds=[("cat", 5)] * 3)
    p = pso.particles[0]
    p.probs = [np.array([0.1, 0.5, 0.2, 0.1, 0.1]), np.full(5, 0.2), np.full(5, 0.2)]
    centre = np.array([0.1, 0.5, 0.9])  # categories 0, 2, 4
    steps = np.array([pso._perturb(p, centre) for _ in range(3000)])
    cats = np.floor(steps * 5).astype(int)
    assert np.all(np.any(cats != [0, 2, 4], axis=1))  # all categorical: never the centre again
    moved = cats[cats[:, 0] != 0, 0]
    # another category, drawn from the vector without the centre's: category 1 with 0.5 / 0.9
    assert set(moved.tolist()) == {1, 2, 3, 4} and 0.48 < np.mean(moved == 1) < 0.63
    # a category with a single choice never counts as the one that changes
    lone = AsyncPSO(2, swarm_size=4, seed=0, kinds=[("cat", 1), ("cat", 3)])
    q = lone.particles[0]
    assert all(math.floor(lone._perturb(q, np.array([0.5, 0.5]))[1] * 3) != 1 for _ in range(300))
    assert np.all(np.abs(steps * 5 % 1 - 0.5) < 1e-9)
    # beside a float, a category changes with probability 0.2 and the centre may come back
    mixed = AsyncPSO(2, swarm_size=4, seed=0, kinds=["cont", ("cat", 5)])
    q = mixed.particles[0]
    changed = [math.floor(mixed._perturb(q, np.array([0.5, 0.1]))[1] * 5) != 0 for _ in range(3000)]
    assert 0.15 < np.mean(changed) < 0.25


def test_plain_options_keep_the_plain_swarm():
    a, b = AsyncPSO(3, swarm_size=4, seed=42), AsyncPSO(3, swarm_size=4, seed=42, kinds=["cont"] * 3, stagnation=None)
    run(a, 40)
    run(b, 40)
    assert a.best_f == b.best_f == pytest.approx(GOLDEN_BEST, rel=1e-9)


def test_a_screened_move_is_the_best_candidate_and_ties_keep_the_plain_move():
    seen = []

    def screen(xs):
        seen.append(np.array(xs))
        return distance_screen(np.array([0.9, 0.9]))(xs)

    pso = AsyncPSO(2, swarm_size=3, seed=0, screen=screen, screen_candidates=6)
    for p in drive(pso, 30, sphere, in_flight=1):
        if p.origin == "pso":
            cands = seen.pop(0)
            assert len(cands) == 6 and np.array_equal(p.x, cands[np.argmin(((cands - 0.9) ** 2).sum(axis=1))])
    flat = AsyncPSO(2, swarm_size=3, seed=0, screen=lambda xs: np.zeros(len(xs)), screen_candidates=6)
    plain = AsyncPSO(2, swarm_size=3, seed=0)
    first = [p.x for p in drive(flat, 4, sphere, in_flight=1)]
    assert np.array_equal(first[3], drive(plain, 4, sphere, in_flight=1)[3].x)  # first candidate = plain move


def test_screen_must_score_every_candidate():
    pso = AsyncPSO(2, swarm_size=2, seed=0, screen=lambda xs: np.zeros(1), screen_candidates=4)
    with pytest.raises(ValueError, match="one score per candidate"):
        drive(pso, 5, sphere, in_flight=1)


def test_stagnation_restarts_the_worst_particles_in_a_shrinking_box_around_the_best():
    pso = AsyncPSO(2, swarm_size=6, seed=0, stagnation=6, trust_radius=0.2, trust_fraction=0.5)
    drive(pso, 6, lambda x: float(x[0]), in_flight=1)
    best = pso.best_x.copy()
    radii, restarts = [], 0
    for _ in range(60):
        p = pso.ask()
        if p.origin == "trust":
            radii.append(float(np.abs(p.x - best).max()))
            assert np.array_equal(pso.best_x, best)
        pso.tell(p.id, 5.0)  # never better: the swarm stagnates
        if pso.restarts > restarts:
            restarts = pso.restarts
            assert sum(q.next_origin == "trust" for q in pso.particles) >= 1
    assert pso.restarts >= 4 and max(radii) <= 0.2 + 1e-12
    assert radii[-1] <= 0.2 * 0.5 ** 2  # later restarts use a smaller box
    p = pso.ask()
    pso.tell(p.id, -1.0)
    assert pso.trust_level == 0 and pso.since_improvement == 0


def test_same_seed_same_proposals_with_every_option_also_across_a_state_round_trip():
    from raytune_llm.surrogate import SurrogateScreen

    def make_screen():
        return SurrogateScreen(3, kinds=MIXED, seed=0)

    def driven(pso, screen, steps, rng, pending):
        out = []
        for _ in range(steps):
            while len(pending) < 3:
                p = pso.ask()
                screen.add_pending(p.id, p.x)
                pending.append(p)
                out.append((p.origin, p.x.tolist()))
            p = pending.pop(int(rng.integers(len(pending))))
            pso.tell(p.id, mixed_cost(p.x))
            screen.observe(p.x, mixed_cost(p.x), key=p.id)
        return out

    options = dict(swarm_size=5, seed=3, kinds=MIXED, screen_candidates=6, stagnation=5)
    runs = []
    for _ in range(2):
        screen = make_screen()
        pso = AsyncPSO(3, screen=screen, **options)
        runs.append(driven(pso, screen, 40, np.random.default_rng(0), []))
    assert runs[0] == runs[1] and any(o == "trust" for o, _ in runs[0])

    screen = make_screen()
    pso = AsyncPSO(3, screen=screen, **options)
    rng, pending = np.random.default_rng(0), []
    head = driven(pso, screen, 20, rng, pending)
    state = json.loads(json.dumps(pso.get_state()))
    screen_state = json.loads(json.dumps(screen.get_state()))
    restored_screen = SurrogateScreen.from_state(screen_state)
    restored = AsyncPSO.from_state(state, screen=restored_screen)
    assert restored.get_state() == pso.get_state()
    tail = driven(restored, restored_screen, 20, rng, pending)
    assert head + tail == runs[0]


def test_a_state_saved_before_the_move_options_loads_with_them_off():
    state = AsyncPSO(2, seed=0).get_state()
    del state["move"]
    pso = AsyncPSO.from_state(state)
    assert pso.kinds == ["cont", "cont"] and pso.stagnation is None and pso.screen is None


@pytest.mark.parametrize("kw", [{"categorical": "round"}, {"screen_candidates": 0}, {"stagnation": 0},
                                {"trust_radius": 0}, {"trust_fraction": 1.5}, {"screen": "gp"},
                                {"kinds": ["cont"]}])
def test_bad_move_options(kw):
    with pytest.raises(ValueError):
        AsyncPSO(2, **kw)


@pytest.mark.parametrize("screened", [False, True])
def test_planned_position_changes_nothing_and_is_the_next_move(screened):
    from raytune_llm.surrogate import SurrogateScreen

    screen = SurrogateScreen(3, seed=0) if screened else None
    pso = AsyncPSO(3, swarm_size=4, seed=1, screen=screen)
    for _ in range(8):
        p = pso.ask()
        value = float(((p.x - 0.3) ** 2).sum())
        pso.tell(p.id, value)
        if screen is not None:
            screen.observe(p.x, value)
    i = pso._free[0]
    before = json.dumps(pso.get_state())
    planned = pso.planned_position(i)
    assert json.dumps(pso.get_state()) == before  # no particle moved, no random number drawn
    assert np.array_equal(pso.ask().x, planned)  # with nothing in between, the next ask is that move
    fresh = AsyncPSO(3, swarm_size=4, seed=1)
    assert np.array_equal(fresh.planned_position(0), fresh.particles[0].x)  # not evaluated yet: where it starts
    fresh.inject([np.full(3, 0.7)], origin="llm", particles=[1])
    assert np.array_equal(fresh.planned_position(1), np.full(3, 0.7))  # a held position


def test_subspace_is_an_option_of_the_swarm_and_survives_a_saved_state():
    from ray import tune

    from raytune_llm.searchers import LLMPSOSearcher
    from raytune_llm.surrogate import SurrogateScreen

    screen = SurrogateScreen(10, seed=0)
    pso = AsyncPSO(10, swarm_size=4, seed=0, screen=screen, screen_candidates=16, subspace=1.0)
    for _ in range(12):
        p = pso.ask()
        value = float(((p.x - 0.3) ** 2).sum())
        pso.tell(p.id, value)
        screen.observe(p.x, value)
    # a perturbation with subspace=1 keeps at least one coordinate of its centre in 10-D most times
    centre = pso.best_x
    kept = [np.sum(pso._perturb(pso.particles[0], centre) == centre) for _ in range(200)]
    assert np.mean(np.array(kept) > 0) > 0.8  # subsets of 1 to 9 of the 10 coordinates: 0.9
    pso.subspace = 0.0
    assert np.mean([np.any(pso._perturb(pso.particles[0], centre) == centre) for _ in range(200)]) < 0.1
    pso.subspace = 1.0
    state = pso.get_state()
    assert AsyncPSO.from_state(state).subspace == 1.0
    del state["move"]["subspace"]  # a state saved before the option existed: off
    assert AsyncPSO.from_state(state).subspace == 0.0
    with pytest.raises(ValueError, match="subspace must be a finite number in \\[0, 1\\], got 1.5"):
        AsyncPSO(2, subspace=1.5)
    searcher = LLMPSOSearcher(llm=None, pso_options={"subspace": 0.5}, metric="loss", mode="min", seed=0,
                              space={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)})
    searcher.suggest("t0")
    assert searcher.pso.subspace == 0.5
    with pytest.raises(ValueError, match="pso_options subspace must be a finite number in \\[0, 1\\], got -0.1"):
        LLMPSOSearcher(llm=None, pso_options={"subspace": -0.1})
