from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm, spearmanr

from raytune_llm.space import CategoricalParam, FloatParam, IntParam, SearchSpace
from raytune_llm.surrogate import (MixedGP, SurrogateScreen, expected_improvement, kernel_predict, kinds_from_space,
                                   log_expected_improvement, lower_confidence_bound, normalize_kinds, snap)

KINDS = ["cont", "cont", ("int", (0.1, 0.5, 0.9)), ("cat", 3)]


def mixed_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = snap(rng.random((n, 4)), normalize_kinds(KINDS, 4))
    y = ((X[:, :2] - 0.3) ** 2).sum(axis=1) + 0.5 * (X[:, 2] - 0.5) ** 2 + 0.4 * (np.floor(X[:, 3] * 3) != 1)
    return X, y


# ---------------------------------------------------------------- kinds
def test_kinds_from_space_and_snap_stay_on_the_space_grid():
    space = SearchSpace((FloatParam("lr", 1e-4, 1e-1, log=True), IntParam("units", 16, 1024, log=True),
                         IntParam("layers", 1, 4), CategoricalParam("act", ("relu", "tanh", "gelu"))))
    kinds = kinds_from_space(space)
    by_name = dict(zip(space.names, kinds))
    assert by_name["lr"] == "cont" and by_name["act"] == ("cat", 3)
    assert by_name["units"][0] == "int" and len(by_name["units"][1]) == 1009
    assert by_name["layers"] == ("int", (0.125, 0.375, 0.625, 0.875))
    rng = np.random.default_rng(0)
    X = snap(rng.random((200, 4)), kinds)
    grid = [j for j, k in enumerate(kinds) if k != "cont"]
    for x in X:
        config = space.flat_from_unit(x)
        assert np.allclose(space.to_unit(config)[grid], x[grid])  # snapped points are exactly the values' centres
    assert json.loads(json.dumps(normalize_kinds(json.loads(json.dumps(kinds)), 4) == kinds))


def test_large_integer_ranges_are_continuous():
    space = SearchSpace((IntParam("n", 0, 5000),))
    assert kinds_from_space(space) == ["cont"]


@pytest.mark.parametrize("kinds", [["cont"], ["cont", "float"], ["cont", ("cat", 0)], ["cont", ("int", [0.5, 0.2])],
                                   ["cont", ("int", [])]])
def test_bad_kinds_are_named(kinds):
    with pytest.raises(ValueError, match="kinds"):
        normalize_kinds(kinds, 2)


# ---------------------------------------------------------------- kernel regression
def test_kernel_predict_interpolates_the_history():
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    pred = kernel_predict(x, np.array([0.0, 1.0]), np.array([[0.1, 0.1], [0.9, 0.9], [0.5, 0.5]]))
    assert pred[0] < 0.01 and pred[1] > 0.99 and pred[2] == pytest.approx(0.5)


# ---------------------------------------------------------------- GP
def test_gp_likelihood_gradient_matches_finite_differences():
    X, y = mixed_data(30)
    gp = MixedGP(4, kinds=KINDS, seed=0)
    C, K = gp._split(X)
    yt = gp._transform(y)
    D2 = (C.T[:, :, None] - C.T[:, None, :]) ** 2
    Dk = (K.T[:, :, None] != K.T[:, None, :]).astype(float)
    theta = np.random.default_rng(1).normal(size=gp.n_params) * 0.5
    analytic = gp._nll(theta, C, K, yt, D2, Dk)[1]
    numeric = approx_fprime(theta, lambda t: gp._nll(t, C, K, yt, D2, Dk)[0], 1e-6)
    assert np.allclose(analytic, numeric, rtol=1e-4, atol=1e-4)


def test_gp_ranks_held_out_points_and_learns_the_category():
    X, y = mixed_data(60)
    gp = MixedGP(4, kinds=KINDS, seed=0).fit(X, y)
    Xt, yt = mixed_data(300, seed=1)
    mean, std = gp.predict(Xt)
    assert spearmanr(mean, yt)[0] > 0.9
    assert spearmanr(kernel_predict(X, y, Xt), yt)[0] < spearmanr(mean, yt)[0]
    base = np.array([[0.3, 0.3, 0.5, c] for c in (1 / 6, 0.5, 5 / 6)])
    assert np.argmin(gp.predict(base)[0]) == 1  # the cheap category
    far = gp.predict(np.array([[0.99, 0.01, 0.9, 0.5]]))[1]
    assert gp.predict(X[:5])[1].max() < far[0]


def test_gp_refits_hyperparameters_every_k_points_only():
    X, y = mixed_data(40)
    gp = MixedGP(4, kinds=KINDS, seed=0, refit_every=5)
    gp.fit(X[:20], y[:20])
    theta = gp.theta.copy()
    gp.fit(X[:24], y[:24])
    assert np.array_equal(gp.theta, theta)  # posterior updated, hyperparameters kept
    gp.fit(X[:25], y[:25])
    assert not np.array_equal(gp.theta, theta)


def test_gp_window_keeps_the_best_the_most_recent_and_a_spread_of_the_rest():
    gp = MixedGP(1, window=10, keep_best=3, keep_recent=4)
    y = np.arange(30, dtype=float)[::-1].copy()
    y[[2, 5, 7]] = [-3.0, -2.0, -1.0]
    keep = gp.select(y)
    assert keep.tolist() == [0, 2, 5, 7, 14, 25, 26, 27, 28, 29]  # 3 best, 4 recent, 3 spread (first, middle, last)
    assert gp.select(y[:8]).tolist() == list(range(8))
    assert MixedGP(1, window=10, keep_best=3).keep_recent == 3


def test_pending_fantasies_spread_parallel_picks():
    X, y = mixed_data(40)
    gp = MixedGP(4, kinds=KINDS, seed=0).fit(X, y)
    x = np.array([[0.3, 0.3, 0.5, 0.5]])
    mean, std = gp.predict(x)
    believer = gp.fantasize(x)
    m2, s2 = believer.predict(x)
    assert m2[0] == pytest.approx(mean[0], abs=1e-3) and s2[0] < 0.5 * std[0]
    assert gp.fantasize(x, "max").predict(x)[0][0] > mean[0] + 0.5
    with pytest.raises(ValueError, match="strategy"):
        gp.fantasize(x, "median")


def test_gp_state_round_trip():
    X, y = mixed_data(30)
    gp = MixedGP(4, kinds=KINDS, seed=3).fit(X, y)
    clone = MixedGP.from_state(json.loads(json.dumps(gp.get_state())))
    clone.fit(X, y, optimize_hyperparameters=False)
    Xt, _ = mixed_data(10, seed=2)
    assert np.allclose(clone.predict(Xt)[0], gp.predict(Xt)[0])
    gp.fit(X, y, optimize_hyperparameters=True)
    clone.fit(X, y, optimize_hyperparameters=True)
    assert np.array_equal(gp.theta, clone.theta)


def test_auto_warp_takes_the_log_scale_for_heavy_tailed_costs_only():
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    valley = ((X - 0.3) ** 2).sum(axis=1)
    heavy, smooth = MixedGP(3, seed=0, warp="auto"), MixedGP(3, seed=0, warp="auto")
    heavy.fit(X, np.exp(12 * valley))  # orders of magnitude apart: its log is the smooth valley
    smooth.fit(X, valley + 0.05 * np.sin(20 * X[:, 0]))
    assert heavy._auto_warp == "log" and smooth._auto_warp == "standard"
    # the chosen warp's model ranks held-out points well on the cost's own ordering
    Xq = rng.random((200, 3))
    assert spearmanr(heavy.predict(Xq)[0], ((Xq - 0.3) ** 2).sum(axis=1))[0] > 0.8
    clone = MixedGP.from_state(json.loads(json.dumps(heavy.get_state())))
    assert clone._auto_warp == "log"
    plateau = MixedGP(3, seed=0, warp="auto")  # half the costs tied at the best: no log spike
    plateau.fit(X, np.where(valley < np.median(valley), 0.0, np.exp(12 * valley)))
    assert plateau._auto_warp == "standard"


def test_gp_rejects_bad_input():
    gp = MixedGP(2)
    with pytest.raises(ValueError, match="finite"):
        gp.fit(np.zeros((2, 2)), np.array([1.0, math.nan]))
    with pytest.raises(ValueError, match="as many"):
        gp.fit(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(RuntimeError, match="fit"):
        gp.predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="warp"):
        MixedGP(2, warp="box-cox")


def test_gp_handles_duplicates_constants_and_one_point():
    gp = MixedGP(2, seed=0).fit(np.full((5, 2), 0.5), np.ones(5))
    mean, std = gp.predict(np.array([[0.5, 0.5], [0.1, 0.9]]))
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert np.all(np.isfinite(MixedGP(2).fit(np.array([[0.2, 0.2]]), np.array([3.0])).predict(np.zeros((1, 2)))[0]))


# ---------------------------------------------------------------- acquisitions
def test_log_ei_matches_the_closed_form_and_stays_finite_far_away():
    mean, std, best = np.array([-1.0, 0.0, 0.5, 2.0]), np.array([1.0, 0.5, 2.0, 1.0]), 0.2
    z = (best - mean) / std
    closed = std * (z * norm.cdf(z) + norm.pdf(z))
    assert np.allclose(expected_improvement(mean, std, best), closed, rtol=1e-9)
    far = log_expected_improvement(np.array([10.0, 40.0, 1e3]), np.ones(3), 0.0)
    assert np.all(np.isfinite(far)) and far[0] > far[1] > far[2]
    assert far[0] == pytest.approx(math.log(expected_improvement(np.array([10.0]), np.ones(1), 0.0)[0]), rel=1e-6)
    assert lower_confidence_bound(np.array([1.0]), np.array([0.5]), 2.0)[0] == 0.0


# ---------------------------------------------------------------- screen
def test_screen_is_neutral_until_min_points_and_imputes_failures():
    screen = SurrogateScreen(2, seed=0, min_points=3)
    screen.observe([0.1, 0.1], 1.0)
    screen.observe([0.9, 0.9], math.inf)
    assert np.all(screen(np.random.default_rng(0).random((4, 2))) == 0)
    screen.observe([0.5, 0.5], 0.2)
    screen.observe([0.4, 0.5], 0.1)
    X, y = screen.history()
    assert y.tolist() == [1.0, 1.0, 0.2, 0.1]
    scores = screen(np.array([[0.45, 0.5], [0.95, 0.95]]))
    assert scores[0] < scores[1]


@pytest.mark.parametrize("model", ["gp", "kernel"])
def test_screen_prefers_good_regions(model):
    rng = np.random.default_rng(0)
    screen = SurrogateScreen(3, model=model, seed=0)
    for x in rng.random((40, 3)):
        screen.observe(x, float(((x - 0.7) ** 2).sum()))
    cands = rng.random((200, 3))
    truth = ((cands - 0.7) ** 2).sum(axis=1)
    assert spearmanr(screen(cands), truth)[0] > 0.5


def test_screen_pending_trials_push_the_next_pick_away():
    rng = np.random.default_rng(0)
    screen = SurrogateScreen(2, seed=0)
    for x in rng.random((15, 2)):
        screen.observe(x, float(((x - 0.5) ** 2).sum()))
    cands = rng.random((300, 2))
    picks = []
    for k in range(8):
        scores = screen(cands)
        i = int(np.argmin(scores))
        picks.append(i)
        screen.add_pending(k, cands[i])
        assert screen(cands[i:i + 1])[0] > scores[i]  # a pending point loses EI
    assert len(set(picks)) >= 3  # without the fantasies all 8 picks are the same point
    screen.observe(cands[picks[0]], 0.0, key=0)
    assert 0 not in screen.pending
    clone = SurrogateScreen.from_state(json.loads(json.dumps(screen.get_state())))
    assert np.allclose(clone(cands[:20]), screen(cands[:20]), atol=1e-6)


def test_refined_model_proposals_land_closer_to_the_acquisition_optimum():
    from raytune_llm.surrogate.proposers import model_candidates, model_proposals

    rng = np.random.default_rng(0)
    screen = SurrogateScreen(6, acquisition="mean", seed=0)
    for x in rng.random((40, 6)):
        screen.observe(x, float(((x - 0.37) ** 2).sum()))
    kinds = ["cont"] * 6
    gaps = {}
    for refine in (0, 3):
        best = [model_proposals(screen, kinds, 1, np.random.default_rng(s), candidates=64, refine=refine)[0]
                for s in range(5)]
        gaps[refine] = [float(screen(b[None])[0]) for b in best]
    # the local search scores more points near the best ones: a lower acquisition on every seed
    assert all(g3 < g0 for g0, g3 in zip(gaps[0], gaps[3]))

    class Rescaled:  # scores its first call on another scale, as "hedge" may draw LCB once and EI after
        dim, calls = 6, 0

        def history(self):
            return screen.history()

        def __call__(self, c):
            self.calls += 1
            return ((c - 0.37) ** 2).sum(axis=1) - (1000.0 if self.calls == 1 else 0.0)

    first = model_candidates(*screen.history(), 6, kinds, 64, np.random.default_rng(0))
    [best] = model_proposals(Rescaled(), kinds, 1, np.random.default_rng(0), candidates=64, refine=3)
    # the whole pool is scored once at the end: a refined point wins, not the first call's by its scale
    assert ((best - 0.37) ** 2).sum() < ((first - 0.37) ** 2).sum(axis=1).min()
    mixed = model_proposals(screen, ["cont"] * 4 + [("int", (0.1, 0.5, 0.9)), ("cat", 3)], 3,
                            np.random.default_rng(0), candidates=32, refine=2)
    assert all(x[4] in (0.1, 0.5, 0.9) and abs(x[5] * 3 % 1 - 0.5) < 1e-9 for x in mixed)  # on the grid


def test_hedge_draws_the_acquisition_its_gains_favour_and_learns_them_from_results():
    from raytune_llm.surrogate.acquisition import log_expected_improvement, lower_confidence_bound

    rng = np.random.default_rng(0)
    screen = SurrogateScreen(2, acquisition="hedge", seed=0)
    for x in rng.random((12, 2)):
        screen.observe(x, float(((x - 0.5) ** 2).sum()))
    cands = rng.random((50, 2))
    mean, std = screen.predict(cands)
    ei = -log_expected_improvement(mean, std, screen._fitted_gp().incumbent())
    lcb = lower_confidence_bound(mean, std, screen.beta)
    screen.gains[:] = [0.0, -60.0]  # EI far ahead: LCB is (almost) never drawn
    assert np.allclose(screen(cands), ei)
    nominees = screen._nominees[1].copy()  # each acquisition's first pick, rewarded at the next result
    assert np.allclose(nominees, [cands[np.argmin(ei)], cands[np.argmin(lcb)]])
    screen.observe([0.5, 0.5], 0.0)
    screen.gains[:] = [-60.0, 0.0]
    expected = np.array([-60.0, 0.0]) - screen.predict(nominees)[0]
    mean, std = screen.predict(cands)
    assert np.allclose(screen(cands), lower_confidence_bound(mean, std, screen.beta))
    assert np.allclose(screen.gains, expected) and sum(screen.hedge_chosen) == 2
    # a saved screen goes on identically: the gains, the RNG's draws (at even odds) and the nominees
    screen.gains[:] = 0.0
    screen(cands)
    clone = SurrogateScreen.from_state(json.loads(json.dumps(screen.get_state())))
    for k, x in enumerate(rng.random((4, 2))):
        for s in (screen, clone):
            s.observe(x, float(((x - 0.5) ** 2).sum()))
        assert np.allclose(clone(cands), screen(cands)) and np.allclose(clone.gains, screen.gains), k
    assert clone.hedge_chosen == screen.hedge_chosen and 0 < screen.hedge_chosen[0] < sum(screen.hedge_chosen)
    with pytest.raises(ValueError, match="eta"):
        SurrogateScreen(2, acquisition="hedge", eta=-1)


def test_screen_rejects_unknown_settings():
    with pytest.raises(ValueError, match="model"):
        SurrogateScreen(2, model="forest")
    with pytest.raises(ValueError, match="acquisition"):
        SurrogateScreen(2, acquisition="pi")
    with pytest.raises(ValueError, match="coordinates"):
        SurrogateScreen(2).observe([0.1], 1.0)


def test_screen_refresh_conditions_now_so_scoring_does_not_fit(monkeypatch):
    screen = SurrogateScreen(2, seed=0, gp_options={"max_iter": 5})
    assert screen.gp.max_iter == 5 and MixedGP.from_state(screen.gp.get_state()).max_iter == 5
    rng = np.random.default_rng(0)
    for x in rng.random((12, 2)):
        screen.observe(x, float(((x - 0.5) ** 2).sum()))
    screen.refresh(optimize_hyperparameters=True)
    theta = screen.gp.theta.copy()
    screen.observe([0.5, 0.5], 0.0)
    screen.refresh(optimize_hyperparameters=False)
    assert np.array_equal(screen.gp.theta, theta)  # the new point only updated the posterior
    calls = []
    monkeypatch.setattr(MixedGP, "fit", lambda *a, **k: calls.append(1))
    screen.add_pending("t", [0.2, 0.2])
    screen(rng.random((5, 2)))
    assert calls == []  # refreshed: scoring only adds the pending trial
    with pytest.raises(ValueError, match="max_iter must be an int >= 1"):
        MixedGP(2, max_iter=0)


def test_local_steps_redraw_categories_instead_of_stepping_across_their_cells():
    from raytune_llm.surrogate.proposers import local_steps, model_candidates, perturb_proposals

    kinds = ["cont", ("cat", 9), ("cat", 9)]
    centre = np.array([0.5, (0 + 0.5) / 9, (4 + 0.5) / 9])
    steps = local_steps(np.repeat(centre[None], 4000, axis=0), 0.2, kinds, np.random.default_rng(0))
    cats = np.floor(steps[:, 1:] * 9).astype(int)
    changed = cats != [0, 4]
    # each category is kept or redrawn with probability 0.2, to any other category alike: a Gaussian
    # step of width 0.2 would mostly land on the neighbouring cells (1; 3 and 5) and never on 8
    assert 0.15 < changed.mean() < 0.25
    for col, start in ((0, 0), (1, 4)):
        moved = cats[changed[:, col], col]
        assert set(moved.tolist()) == set(range(9)) - {start}
        assert np.bincount(moved, minlength=9).max() < 2.5 * len(moved) / 8
    assert np.all(np.abs(steps[:, 1:] * 9 % 1 - 0.5) < 1e-9)  # at the cells' centres
    # a space of categories alone: every step differs from its centre in at least one category with a
    # choice (a category of one choice never counts as the one that changed)
    only = local_steps(np.repeat(centre[None, 1:], 500, axis=0), 0.2, kinds[1:], np.random.default_rng(1))
    assert np.all(np.any(np.floor(only * 9).astype(int) != [0, 4], axis=1))
    lone = local_steps(np.repeat([[0.5, 0.5]], 300, axis=0), 0.2, [("cat", 1), ("cat", 3)], np.random.default_rng(1))
    assert np.all(np.floor(lone[:, 1] * 3) != 1) and np.all(lone[:, 0] == 0.5)
    # weights: another category drawn from them without the centre's (category 2: 0.6 / 0.8)
    weighted = local_steps(np.repeat(centre[None, 1:], 2000, axis=0), 0.2, kinds[1:], np.random.default_rng(3),
                           weights=[np.array([0.2, 0.1, 0.6] + [0.1 / 6] * 6), np.full(9, 1 / 9)])
    moved = np.floor(weighted[:, 0] * 9).astype(int)
    assert 0.68 < np.mean(moved[moved != 0] == 2) < 0.82
    with pytest.raises(ValueError, match="one width per row"):
        local_steps(centre[None], np.full(3, 0.1), kinds, np.random.default_rng(0))
    # the proposers use them: no local proposal repeats the point of a one-point categorical history
    X, y = np.array([[0.5 / 9, 4.5 / 9]]), np.array([1.0])
    rng = np.random.default_rng(2)
    near = model_candidates(X, y, 2, kinds[1:], 200, rng)[100:]
    assert not np.any(np.all(np.isclose(near, X[0]), axis=1))
    assert not any(np.allclose(x, X[0]) for x in perturb_proposals(X, y, kinds[1:], 30, rng))


def test_local_steps_leave_continuous_spaces_to_the_gaussian_step():
    from raytune_llm.surrogate.proposers import local_steps, model_candidates, model_proposals, perturb_proposals, reflect

    centres = np.random.default_rng(0).random((50, 3))
    got = local_steps(centres, 0.1, ["cont"] * 3, np.random.default_rng(1))
    want = reflect(centres + 0.1 * np.random.default_rng(1).standard_normal((50, 3)))
    assert np.array_equal(got, want)  # the same draws: recorded runs of continuous spaces reproduce
    # the proposers on a float and integer space give what they gave before local_steps existed
    # (values recorded from the code of 2026-12-07 03:00, whose benchmark runs are committed)
    kinds = ["cont", ("int", (0.1, 0.5, 0.9)), "cont"]
    X = np.random.default_rng(0).random((12, 3))
    y = ((X - 0.3) ** 2).sum(axis=1)

    class Screen:
        dim = 3

        def history(self):
            return X, y

        def __call__(self, c):
            return ((np.asarray(c) - 0.3) ** 2).sum(axis=1)

    cands = model_candidates(X, y, 3, kinds, 64, np.random.default_rng(1))
    steps = np.array(perturb_proposals(X, y, kinds, 6, np.random.default_rng(2)))
    best = np.array(model_proposals(Screen(), kinds, 3, np.random.default_rng(3), candidates=32, refine=2))
    assert cands.sum() == pytest.approx(85.75262881977486, abs=1e-9)
    assert cands[-1].tolist() == pytest.approx([0.2881903814558151, 0.5, 0.02260044489882796], abs=1e-12)
    assert steps.sum() == pytest.approx(5.831159547644212, abs=1e-9)
    assert steps[-1].tolist() == pytest.approx([0.6926173403854557, 0.5, 0.14420146344172324], abs=1e-12)
    assert best.sum() == pytest.approx(4.080213526714217, abs=1e-9)
    assert best[0].tolist() == pytest.approx([0.48188932787933564, 0.5, 0.37928832519825595], abs=1e-12)


def test_subspace_steps_move_a_random_subset_of_the_numeric_coordinates():
    from raytune_llm.surrogate.proposers import local_steps

    kinds = ["cont", "cont", "cont", "cont", ("cat", 3)]
    centre = np.full(5, 0.5)
    steps = local_steps(np.repeat(centre[None], 4000, axis=0), 0.05, kinds, np.random.default_rng(0), subspace=1.0)
    # every step moves one to all four continuous coordinates, each subset size alike often
    sizes = np.bincount((steps[:, :4] != 0.5).sum(axis=1), minlength=5)
    assert sizes[0] == 0 and np.all(np.abs(sizes[1:] / 4000 - 0.25) < 0.03)
    # half the rows subspace steps: the other half and a quarter of the subspace steps move all four
    half = local_steps(np.repeat(centre[None], 4000, axis=0), 0.05, kinds, np.random.default_rng(1), subspace=0.5)
    assert abs(np.all(half[:, :4] != 0.5, axis=1).mean() - 0.625) < 0.03
    # integers take part in the subset; a subset step that stays in its integers' cells takes the full
    # step instead, so that no step repeats its centre where the full step would not
    kinds_int = ["cont"] + [("int", (0.1, 0.5, 0.9))] * 4
    for width in (0.05, 0.2):
        ints = local_steps(np.full((2000, 5), 0.5), width, kinds_int, np.random.default_rng(2), subspace=1.0)
        assert np.all(np.any(ints != 0.5, axis=1))
    assert 0.05 < np.mean(ints[:, 0] == 0.5) < 0.6  # at width 0.2: subsets of integers that crossed a cell
    # categories as before: kept or redrawn with probability 0.2
    assert 0.15 < (np.floor(steps[:, 4] * 3) != 1).mean() < 0.25
    # fewer than two numeric coordinates: nothing to choose, the very draws of subspace=0
    centres = np.random.default_rng(4).random((300, 3))
    for kinds_few in (["cont", ("cat", 3), ("cat", 4)], [("cat", 2), ("cat", 3), ("cat", 4)]):
        assert np.array_equal(local_steps(centres, 0.1, kinds_few, np.random.default_rng(5), subspace=1.0),
                              local_steps(centres, 0.1, kinds_few, np.random.default_rng(5)))
    with pytest.raises(ValueError, match="subspace must be a finite number in \\[0, 1\\], got nan"):
        local_steps(centres, 0.1, ["cont"] * 3, np.random.default_rng(0), subspace=float("nan"))

