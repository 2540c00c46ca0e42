"""Tests of companion.kernel_fit: the exact per-step objective, its optimiser and the floors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion import kernel_fit as kf
from companion import mixture_kernels as mk
from companion.chains import VPChain
from companion.conditional_targets import GumbelBetaTarget, MixtureTarget
from companion.gmm import ConditionalGaussianMixture
from companion.information import context_mutual_information

F64 = torch.float64
CONTEXTS = [0.1, 0.5, 0.9]
GRID = dict(n_z=81, n_y=121, z_range=(-6.0, 6.0), y_range=(-6.0, 6.0))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def mixture() -> MixtureTarget:
    """Two components whose weights and means move with c."""
    return MixtureTarget(
        ConditionalGaussianMixture(
            lambda c: torch.stack([0.3 + 0.4 * c, 0.7 - 0.4 * c], -1),
            lambda c: torch.stack([-1.5 + 0.5 * c, 1.2 + 0.3 * c], -1).unsqueeze(-1),
            lambda c: torch.tensor([0.3**2, 0.4**2], dtype=F64).expand(c.shape[0], 2).unsqueeze(-1),
        )
    )


def _gaussian(c_slope: float = 0.8) -> MixtureTarget:
    """N(-0.3 + c_slope * c, 0.5^2): its reverse kernel is Gaussian with a mean affine in (z, c)."""
    return MixtureTarget(
        ConditionalGaussianMixture(
            lambda c: torch.ones(c.shape[0], 1, dtype=F64),
            lambda c: (-0.3 + c_slope * c).reshape(-1, 1, 1),
            lambda c: torch.full((c.shape[0], 1, 1), 0.25, dtype=F64),
        )
    )


CHAIN = VPChain.uniform(3, 4.0)


def test_exact_kernel_has_zero_step_kl(mixture):
    # log q(y|z,c) by Bayes from the marginals against the closed-form reverse kernel
    for t in (1, 3):
        prob = kf.step_problem(mixture, CHAIN, t, CONTEXTS, **GRID)
        assert abs(prob.mass - 1) < 1e-6 and prob.dropped < 1e-12
        val = float(prob.kl(kf.kernel_fn_params(prob, mk.exact_kernel(mixture, CHAIN))))
        assert abs(val) < 1e-10


def test_perturbed_kernel_matches_monte_carlo(mixture):
    t = 2
    kern = mk.perturbed_logit_kernel(mk.exact_kernel(mixture, CHAIN), 1.5)
    prob = kf.step_problem(mixture, CHAIN, t, CONTEXTS, **GRID)
    quad = float(prob.kl(kf.kernel_fn_params(prob, kern)))
    fine = kf.step_problem(mixture, CHAIN, t, CONTEXTS, n_z=161, n_y=241)
    assert abs(float(fine.kl(kf.kernel_fn_params(fine, kern))) - quad) < 1e-5
    # Monte Carlo: forward samples, log q(y|z,c) from the batched closed-form reverse kernel
    g = torch.Generator().manual_seed(0)
    n = 40_000
    c = torch.tensor(CONTEXTS, dtype=F64)[torch.randint(0, 3, (n,), generator=g)]
    x0 = mixture.sample(c, g)
    e = torch.randn(2, n, dtype=F64, generator=g)
    y = CHAIN.alpha(t - 1) * x0 + CHAIN.sigma(t - 1) * e[0]
    z = CHAIN.a(t) * y + math.sqrt(CHAIN.b2(t)) * e[1]
    rk = mixture.mixture.reverse_kernel(
        c, CHAIN.alpha(t - 1), CHAIN.sigma(t - 1), CHAIN.alpha(t), CHAIN.sigma(t)
    )
    log_q = rk.log_prob(y[:, None], z[:, None])
    log_p = torch.empty(n, dtype=F64)
    for cv in CONTEXTS:
        i = c == cv
        log_p[i] = kern(z[i], cv, t).log_prob_rows(y[i, None])[:, 0]
    d = (log_q - log_p).numpy()
    mc, se = d.mean(), d.std(ddof=1) / math.sqrt(n)
    assert quad > 0.01  # a real error, not a rounding residue
    assert abs(quad - mc) < 4 * se


def test_literal_k1_recovers_exact_gaussian_posterior():
    target = _gaussian()
    t = 2
    prob = kf.step_problem(target, CHAIN, t, CONTEXTS, **GRID)
    model = kf.RegressionMixture(
        1, 4, math.sqrt(CHAIN.b2(t)), CHAIN.a(t), generator=torch.Generator().manual_seed(0)
    )
    fit = kf.fit_step(prob, model, max_iter=150)
    assert fit.value < 1e-8
    with torch.no_grad():
        got = model(prob.features).means[:, 0]
    exact = kf.kernel_fn_params(prob, mk.exact_kernel(target, CHAIN)).means[:, 0]
    assert float((got - exact).abs().max()) < 1e-4
    # the constant-mean variant cannot follow z_t: its error stays large
    const = kf.RegressionMixture(
        1, 4, math.sqrt(CHAIN.b2(t)), CHAIN.a(t), means="constant",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert kf.fit_step(prob, const, max_iter=100).value > 0.05


def test_networked_k1_reaches_moment_matched_floor(mixture):
    # the moment-matched Gaussian is the best single Gaussian at every (z, c): a lower bound
    t = 1  # bimodal reverse kernel: a large single-Gaussian error
    prob = kf.step_problem(mixture, CHAIN, t, CONTEXTS, **GRID)
    mm = float(prob.kl(kf.kernel_fn_params(prob, mk.moment_matched_kernel(mixture, CHAIN))))
    model = kf.NetworkedMixture(
        1, 16, math.sqrt(CHAIN.b2(t)), min_std=1e-3, generator=torch.Generator().manual_seed(1)
    )
    fit = kf.fit_step(prob, model, max_iter=250)
    assert mm > 0.2
    assert fit.value >= mm - 1e-9
    assert fit.value < 1.01 * mm
    assert fit.history[-1] <= fit.history[0]


def test_held_out_equals_in_sample_on_the_same_contexts(mixture):
    t = 1
    prob = kf.step_problem(mixture, CHAIN, t, CONTEXTS, **GRID)
    same = kf.step_problem(mixture, CHAIN, t, list(CONTEXTS), **GRID)
    other = kf.step_problem(mixture, CHAIN, t, [0.2, 0.6], **GRID)
    model = kf.NetworkedMixture(2, 8, 0.5, generator=torch.Generator().manual_seed(0))
    kf.fit_step(prob, model, max_iter=20)
    assert kf.step_value(same, model) == pytest.approx(kf.step_value(prob, model), rel=1e-12)
    assert kf.step_value(other, model) != pytest.approx(kf.step_value(prob, model), rel=1e-3)
    # per-context values average to the total
    with torch.no_grad():
        per = prob.kl_per_context(model(prob.features))
    assert float(per.mean()) == pytest.approx(kf.step_value(prob, model), rel=1e-12)


def test_multistart_and_chain_kernel(mixture):
    probs = kf.chain_problems(mixture, VPChain.uniform(2, 3.0), CONTEXTS, **GRID)
    fits = kf.fit_chain(
        probs,
        lambda t, g: kf.NetworkedMixture(2, 8, 0.6, generator=g),
        n_starts=2,
        max_iter=20,
    )
    assert len(fits) == 2 and all(f.values.shape == (2,) for f in fits)
    assert fits[0].spread >= 0 and fits[0].best_value == fits[0].values.min()
    kern = kf.chain_kernel([f.best for f in fits])
    p = kern(torch.linspace(-2, 2, 5, dtype=F64), 0.5, 2)
    assert p.log_w.shape == (5, 2)
    assert torch.allclose(torch.logsumexp(p.log_w, -1), torch.zeros(5, dtype=F64))
    const = kf.RegressionMixture(3, 4, 0.5, 0.8, means="constant")
    assert not any(v.requires_grad for v in kf.chain_kernel([const])(p.means[:, 0], 0.5, 1))


def test_grouped_floor_is_the_lost_information(mixture):
    chain = VPChain.uniform(2, 3.0)
    one_group = torch.zeros(3, dtype=torch.long)
    floors = [kf.grouped_step_floor(mixture, chain, t, CONTEXTS, one_group) for t in (1, 2)]
    x = torch.linspace(-7, 7, 1401, dtype=F64)
    i0 = kf.conditional_context_information(mixture, CONTEXTS, one_group, 1.0, 0.0, x)
    iT = kf.conditional_context_information(
        mixture, CONTEXTS, one_group, chain.alpha(2), chain.sigma(2), x
    )
    assert i0 == pytest.approx(context_mutual_information(mixture, CONTEXTS, x), rel=1e-10)
    assert min(floors) > 0
    assert sum(floors) == pytest.approx(i0 - iT, rel=1e-4)  # the chain rule
    own = torch.arange(3)
    assert kf.grouped_step_floor(mixture, chain, 1, CONTEXTS, own) == pytest.approx(0, abs=1e-12)
    # a kernel that cannot see the context cannot beat the floor
    prob = kf.step_problem(mixture, chain, 1, CONTEXTS, **GRID)
    blind = kf.NetworkedMixture(
        3, 16, math.sqrt(chain.b2(1)), context_map=kf.ContextMap.fixed([[0.0]]),
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert kf.fit_step(prob, blind, max_iter=100).value >= floors[0] - 1e-6


def test_projected_target_and_context_maps():
    base = GumbelBetaTarget(n_quad=501)
    tg = kf.ProjectedTarget(base, [0.5, 0.5, 0.0])
    c = torch.tensor([0.2, 0.6, 0.9], dtype=F64)
    z = torch.linspace(-3, 3, 7, dtype=F64)
    assert torch.allclose(tg.log_marginal(z, c, 0.8, 0.6), base.log_marginal(z, 0.4, 0.8, 0.6))
    cs = torch.tensor([[0.1, 0.3, 0.0], [0.3, 0.1, 1.0], [0.1, 0.3, 1.0]], dtype=F64)
    drop = kf.context_groups(cs, kf.ContextMap.fixed([[1.0, 0.0, 0.0]]))
    assert drop[0] == drop[2] != drop[1]
    learned = kf.ContextMap.learned(3, 2, torch.Generator().manual_seed(0))
    assert learned(cs).shape == (3, 2) and learned.matrix.requires_grad
    model = kf.RegressionMixture(4, 8, 0.5, 0.8, context_map=learned)
    assert model(torch.cat([z[:3, None], cs], -1)).means.shape == (3, 4)
    with pytest.raises(ValueError, match="features must have shape"):
        model(torch.zeros(3, 2, dtype=F64))


def test_bad_inputs(mixture):
    with pytest.raises(ValueError, match="miss mass"):
        kf.step_problem(mixture, CHAIN, 1, CONTEXTS, z_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="t must be"):
        kf.step_problem(mixture, CHAIN, 4, CONTEXTS)
    with pytest.raises(ValueError, match="contexts"):
        kf.step_problem(mixture, CHAIN, 1, torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="context_weights"):
        kf.step_problem(mixture, CHAIN, 1, CONTEXTS, context_weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="n_components"):
        kf.NetworkedMixture(0, 8, 0.5)
    with pytest.raises(ValueError, match="means"):
        kf.RegressionMixture(2, 8, 0.5, 0.8, means="quadratic")
    with pytest.raises(ValueError, match="w must"):
        kf.ProjectedTarget(GumbelBetaTarget(n_quad=501), [0.5, 0.6])
    prob = kf.step_problem(mixture, CHAIN, 1, CONTEXTS, **GRID)
    with pytest.raises(ValueError, match="float64"):
        kf.fit_step(prob, torch.nn.Linear(2, 3))
    assert np.isfinite(prob.n_points)


def test_nonfinite_trial_points_restart_from_the_best_state(mixture):
    prob = kf.step_problem(mixture, CHAIN, 2, CONTEXTS, **GRID)

    class Flaky(torch.nn.Module):
        """A kernel whose 5th evaluation overflows (as a wild line-search step would)."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = kf.NetworkedMixture(2, 8, 0.5, generator=torch.Generator().manual_seed(0))
            self.calls = 0

        def forward(self, features):
            self.calls += 1
            p = self.inner(features)
            return p._replace(stds=p.stds * math.inf) if self.calls == 5 else p

    model = Flaky()
    start = kf.step_value(prob, model)
    fit = kf.fit_step(prob, model, max_iter=60, chunk=20)
    assert fit.nonfinite == 1
    assert math.isfinite(fit.value) and fit.value < start
    assert kf.step_value(prob, model) == pytest.approx(fit.value, rel=1e-12)


def test_literal_initialisation_is_the_gaussian_regression():
    # on a Gaussian target the reverse kernel is a Gaussian regression: the data-driven start
    # of the literal class with K = 1 is already (almost) exact, before any optimisation
    target = _gaussian()
    prob = kf.step_problem(target, CHAIN, 2, CONTEXTS, **GRID)
    g = torch.Generator().manual_seed(0)
    model = kf.RegressionMixture(1, 4, math.sqrt(CHAIN.b2(2)), CHAIN.a(2), generator=g)
    assert kf.step_value(prob, model) > 1e-3
    assert kf.step_value(prob, model.initialise(prob, g)) < 1e-6
    wide = kf.RegressionMixture(5, 4, 0.5, 0.8, generator=g).initialise(prob, g)
    assert bool((wide.intercept[1:] > wide.intercept[:-1]).all())  # spread over the residual


def test_chain_values_per_step_and_per_context(mixture):
    # the exact kernel as a KernelFn scores 0 at every step and context; a perturbed one does not,
    # and the context-weighted mean of the per-context sums equals the sum of the per-step values
    weights = [1.0, 2.0, 1.0]
    probs = kf.chain_problems(mixture, CHAIN, CONTEXTS, context_weights=weights, **GRID)
    exact = mk.exact_kernel(mixture, CHAIN)
    assert np.abs(kf.chain_values(probs, exact)).max() < 1e-10
    bad = mk.perturbed_logit_kernel(exact, 0.5)
    per_step = kf.chain_values(probs, bad)
    per_ctx = kf.chain_values_per_context(probs, bad)
    assert per_step.shape == (CHAIN.T,) and per_ctx.shape == (len(CONTEXTS),)
    assert per_step.min() > 0 and per_ctx.min() > 0
    w = np.asarray(weights) / sum(weights)
    assert abs(float((w * per_ctx).sum()) - float(per_step.sum())) < 1e-12
    # per-step values agree with StepProblem.kl of the same parameters
    for p, v in zip(probs, per_step, strict=True):
        assert abs(float(p.kl(kf.kernel_fn_params(p, bad))) - v) < 1e-12
    # fitted modules, one per problem
    g = torch.Generator().manual_seed(0)
    models = [kf.NetworkedMixture(2, 8, math.sqrt(CHAIN.b2(p.t)), generator=g) for p in probs]
    vals = kf.chain_values(probs, models)
    assert np.allclose(vals, [kf.step_value(p, m) for p, m in zip(probs, models, strict=True)])
    with pytest.raises(ValueError):
        kf.chain_values(probs, models[:2])
    other = kf.step_problem(mixture, CHAIN, 1, [0.2, 0.4, 0.6], **GRID)
    with pytest.raises(ValueError):
        kf.chain_values_per_context([probs[0], other], bad)


def test_fit_chain_iterations_per_step(mixture):
    probs = kf.chain_problems(mixture, CHAIN, CONTEXTS, **GRID)

    def make(t, g):
        return kf.NetworkedMixture(1, 8, math.sqrt(CHAIN.b2(t)), generator=g)

    fits = kf.fit_chain(probs, make, n_starts=1, max_iters=[10, 1, 1], chunk=1)
    evals = [ms.fits[0].n_evals for ms in fits]
    # chunk=1: one L-BFGS call per iteration, so the budget shows in the number of calls
    assert len(fits[0].fits[0].history) > len(fits[1].fits[0].history)
    assert evals[0] > evals[1]
    with pytest.raises(ValueError):
        kf.fit_chain(probs, make, n_starts=1, max_iters=[10, 1])


def test_ratio_with_errors_takes_the_extreme_ratios():
    iv = kf.ratio_with_errors(1.0, 0.1, 10.0, 1.0, 2, "grid change plus start spread")
    assert iv.value == pytest.approx(0.1)
    assert iv.low == pytest.approx(0.9 / 11.0)
    assert iv.high == pytest.approx(1.1 / 9.0)
    assert iv.kind == "refinement" and iv.n == 2
    # an unresolved denominator cannot bound the ratio from above
    assert math.isinf(kf.ratio_with_errors(1.0, 0.0, 1.0, 1.0, 2, "x").high)
    # a numerator within its error of 0 gives a lower end of 0, not a negative ratio
    assert kf.ratio_with_errors(0.1, 0.2, 1.0, 0.0, 2, "x").low == 0.0
    with pytest.raises(ValueError):
        kf.ratio_with_errors(1.0, -0.1, 1.0, 0.0, 2, "x")
    with pytest.raises(ValueError):
        kf.ratio_with_errors(1.0, 0.1, 0.0, 0.0, 2, "x")
    with pytest.raises(ValueError):
        kf.ratio_with_errors(1.0, 0.1, 1.0, 0.0, 2, "")


@pytest.mark.parametrize("factor", [2, 4])
def test_split_components_is_the_same_kernel_and_a_nested_start(mixture, factor):
    prob = kf.step_problem(mixture, CHAIN, 1, CONTEXTS, **GRID)
    g = torch.Generator().manual_seed(3)
    small = kf.NetworkedMixture(2, 8, math.sqrt(CHAIN.b2(1)), generator=g)
    kf.fit_step(prob, small, max_iter=30)
    v_small = kf.step_value(prob, small)
    big = kf.split_components(small, factor)
    assert big.K == 2 * factor and kf.step_value(prob, small) == v_small  # original untouched
    p_s, p_b = small(prob.features), big(prob.features)
    assert p_b.log_w.shape[-1] == 2 * factor
    # same kernel: equal log-densities at every pair, unequal weights within each copy group
    ys = torch.linspace(-3.0, 3.0, 7, dtype=F64)
    for yy in ys:
        a = torch.logsumexp(
            p_s.log_w - 0.5 * ((yy - p_s.means) / p_s.stds) ** 2 - p_s.stds.log(), -1
        )
        b = torch.logsumexp(
            p_b.log_w - 0.5 * ((yy - p_b.means) / p_b.stds) ** 2 - p_b.stds.log(), -1
        )
        assert torch.allclose(a, b, atol=1e-12)
    assert not torch.allclose(p_b.log_w[:, 0], p_b.log_w[:, 1])
    assert abs(kf.step_value(prob, big) - v_small) < 1e-12
    # nested fit_chain: each step's best is no worse than the smaller class's fit
    probs = kf.chain_problems(mixture, VPChain.uniform(2, 3.0), CONTEXTS, **GRID)

    def make(K):
        return lambda t, g: kf.NetworkedMixture(K, 8, 0.6, generator=g)

    f1 = kf.fit_chain(probs, make(1), n_starts=1, max_iter=20)
    fk = kf.fit_chain(probs, make(factor), n_starts=1, max_iter=5, nested=f1, nested_factor=factor)
    assert all(b.values.size == 2 for b in fk)
    assert all(b.best_value <= a.best_value + 1e-12 for a, b in zip(f1, fk, strict=True))
    with pytest.raises(ValueError):
        kf.fit_chain(probs, make(2), n_starts=1, nested=f1[:1])


def test_split_components_literal_class():
    prob = kf.step_problem(_gaussian(), CHAIN, 1, CONTEXTS, **GRID)
    for means in ("affine", "constant"):
        g = torch.Generator().manual_seed(1)
        lit = kf.RegressionMixture(
            2, 6, math.sqrt(CHAIN.b2(1)), CHAIN.a(1), means=means, generator=g
        )
        lit.initialise(prob, g)
        kf.fit_step(prob, lit, max_iter=10)
        v = kf.step_value(prob, lit)
        big = kf.split_components(lit, 2)
        assert big.K == 4 and abs(kf.step_value(prob, big) - v) < 1e-12
        ms = kf.fit_multistart(prob, None, n_starts=0, initial=[big], max_iter=10)  # type: ignore[arg-type]
        assert ms.best_value <= v + 1e-12
    with pytest.raises(TypeError):
        kf.split_components(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_fit_step_runs_at_most_max_iter_iterations(mixture):
    # the last L-BFGS call runs only the remaining iterations (not a whole chunk)
    prob = kf.step_problem(mixture, CHAIN, 1, CONTEXTS, **GRID)

    def model():
        return kf.NetworkedMixture(
            2, 8, math.sqrt(CHAIN.b2(1)), generator=torch.Generator().manual_seed(5)
        )

    short, long = kf.fit_step(prob, model(), max_iter=3), kf.fit_step(prob, model(), max_iter=50)
    assert short.n_evals < long.n_evals
    assert len(short.history) == 2  # one call of 3 iterations
    two = kf.fit_step(prob, model(), max_iter=60, chunk=50)
    assert len(two.history) <= 3 and two.n_evals > long.n_evals - 1


def test_difference_with_errors_can_come_out_undecided():
    from companion.ledger import at_least, verdict

    iv = kf.difference_with_errors(0.0055, 0.003, 0.0014, 0.002, 2, "grid change + spread")
    assert iv.value == pytest.approx(0.0041)
    assert iv.low == pytest.approx(0.0041 - 0.005) and iv.high == pytest.approx(0.0091)
    assert iv.kind == "refinement" and iv.n == 2
    # overlapping bars: undecided, where the exact margin would read "no"
    assert verdict(iv, at_least(0.0)) == "inconclusive"
    assert verdict(iv.low, at_least(0.0)) == "not reproduced"
    assert verdict(kf.difference_with_errors(1.0, 0.1, 0.5, 0.1, 2, "x"), at_least(0.0)) == (
        "supported"
    )
    assert verdict(kf.difference_with_errors(0.5, 0.1, 1.0, 0.1, 2, "x"), at_least(0.0)) == (
        "not reproduced"
    )
    with pytest.raises(ValueError):
        kf.difference_with_errors(1.0, -0.1, 1.0, 0.0, 2, "x")
    with pytest.raises(ValueError):
        kf.difference_with_errors(1.0, 0.1, 1.0, 0.0, 2, "")


def test_quotient_of_intervals_takes_the_extreme_ratios():
    a = kf.ratio_with_errors(1.0, 0.1, 1.0, 0.0, 2, "x")  # [0.9, 1.1]
    b = kf.ratio_with_errors(2.0, 0.0, 1.0, 0.0, 2, "x")  # exactly 2
    q = kf.quotient_of_intervals(a, b, "both")
    assert q.value == pytest.approx(0.5)
    assert q.low == pytest.approx(0.45) and q.high == pytest.approx(0.55)
    unresolved = kf.ratio_with_errors(1.0, 0.0, 1.0, 1.0, 2, "x")  # high = inf
    assert kf.quotient_of_intervals(a, unresolved, "x").low == 0.0
    zero_low = kf.ratio_with_errors(0.1, 0.2, 1.0, 0.0, 2, "x")  # low = 0
    assert math.isinf(kf.quotient_of_intervals(a, zero_low, "x").high)
    with pytest.raises(ValueError):
        kf.quotient_of_intervals(a, b, "")


def test_fit_power_floor_recovers_a_floor_and_its_absence():
    K = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = 0.01 + 0.5 * K**-1.5
    a, b, r = kf.fit_power_floor(K, y * (1 + 1e-4 * np.array([1, -1, 1, -1, 1])))
    assert a.kind == "fit" and a.n == 5
    assert a.low <= 0.01 <= a.high and a.value == pytest.approx(0.01, rel=0.05)
    assert b == pytest.approx(0.5, rel=0.05) and r == pytest.approx(1.5, rel=0.05)
    # no floor: the interval contains 0 (up to its small width)
    a0, _, _ = kf.fit_power_floor(K, 0.5 * K**-1.0 * (1 + 1e-3 * np.array([1, -1, 1, -1, 1])))
    assert a0.low <= 0.0 <= a0.high
    with pytest.raises(ValueError):
        kf.fit_power_floor(K[:3], y[:3])
