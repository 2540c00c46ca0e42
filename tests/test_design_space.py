"""Tests of companion.design_space: bound proxies, exact score errors, controlled errors, exact
end-to-end KL of the VE sampler, GD/Adam drivers and the training designs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from companion import design_space as ds
from companion.gmm import GaussianMixture, ring_mixture
from companion.grid import GridDensity

GMM = GaussianMixture([0.3, 0.7], [[-1.0], [1.5]], [0.05, 0.2])


# -- bound proxies -------------------------------------------------------------------------------
def test_discretization_proxy_closed_form_for_exponential_grid():
    n, lo, hi = 30, 0.002, 80.0
    r = (hi / lo) ** (1 / (n - 1))
    expected = (n - 1) * (r**2 - 1) ** 2
    assert ds.bound_discretization(ds.schedule_sigmas(n, lo, hi)) == pytest.approx(
        expected, rel=1e-10
    )
    assert ds.bound_discretization(ds.schedule_sigmas(n, lo, hi), dim=3) == pytest.approx(
        3 * expected
    )
    # large-N asymptotics 4 L^2 / N
    big = ds.bound_discretization(ds.schedule_sigmas(4000, lo, hi))
    assert big * 4000 == pytest.approx(4 * math.log(hi / lo) ** 2, rel=0.01)


def test_discretization_proxy_prefers_exponential_and_polynomial_limit():
    lo, hi, n = 0.002, 80.0, 200
    e_geo = ds.bound_discretization(ds.schedule_sigmas(n, lo, hi))
    e7 = ds.bound_discretization(ds.schedule_sigmas(n, lo, hi, 7.0))
    e3 = ds.bound_discretization(ds.schedule_sigmas(n, lo, hi, 3.0))
    assert e_geo < e7 < e3
    # the large-N formula 4 rho^2 (R^(1/rho) - 2 + R^(-1/rho)) / N for rho = 7
    R, n = hi / lo, 4000
    approx7 = 4 * 49 * (R ** (1 / 7) - 2 + R ** (-1 / 7)) / n
    assert ds.bound_discretization(ds.schedule_sigmas(n, lo, hi, 7.0)) == pytest.approx(
        approx7, rel=0.02
    )


def test_score_proxy_constant_error_and_concavity():
    lo, hi, n, e = 0.002, 80.0, 25, 0.3
    sg = ds.schedule_sigmas(n, lo, hi)
    r = (hi / lo) ** (1 / (n - 1))
    assert ds.bound_score(sg, torch.full((n - 1,), e)) == pytest.approx(
        e**2 * (n - 1) * (1 - r**-2)
    )
    # callable form equals the array form
    assert ds.bound_score(sg, lambda s: torch.full_like(s, e)) == pytest.approx(
        ds.bound_score(sg, torch.full((n - 1,), e))
    )
    # uneven log-steps (polynomial grid) give a smaller E_S for a constant error (concavity)
    sp = ds.schedule_sigmas(n, lo, hi, 7.0)
    assert ds.bound_score(sp, torch.full((n - 1,), e)) < ds.bound_score(sg, torch.full((n - 1,), e))


def test_initialization_proxy_and_exact_kl_closed_form():
    assert ds.bound_initialization(2.0, 1, 10.0) == pytest.approx(3.0 / 100)
    g = GaussianMixture([1.0], [[0.7]], [0.3])
    for smax in (2.0, 10.0):
        v = 0.3 + smax**2
        exact = 0.5 * (v / smax**2 + 0.49 / smax**2 - 1 - math.log(v / smax**2))
        q = ds.initialization_kl(g, smax)
        assert q.value == pytest.approx(exact, rel=1e-6, abs=1e-12)
        # the reconstructed E_I bounds it
        assert q.value <= ds.bound_initialization(0.49 + 0.3, 1, smax)


# -- score errors ---------------------------------------------------------------------------------
def test_score_error_exact_and_constant_offset():
    sig = torch.tensor([0.01, 0.3, 5.0], dtype=torch.float64)
    assert torch.allclose(
        ds.score_error(GMM.denoise, GMM, sig), torch.zeros(3, dtype=torch.float64)
    )

    def off(x, s):
        return GMM.denoise(x, s) + 0.2 * s.unsqueeze(-1)

    assert torch.allclose(ds.score_error(off, GMM, sig), torch.full((3,), 0.2, dtype=torch.float64))
    ring = ring_mixture(4, 1.0, 0.2)

    def off2(x, s):
        return ring.denoise(x, s) + 0.1 * s.unsqueeze(-1)

    e2 = ds.score_error(off2, ring, [0.5], n_mc=500, generator=torch.Generator().manual_seed(0))
    assert float(e2[0]) == pytest.approx(0.1 * math.sqrt(2), rel=1e-9)


def test_score_error_quadrature_matches_monte_carlo():
    D = ds.PerturbedDenoiser(GMM, 0.2, seed=3)
    quad = ds.score_error(D, GMM, [0.7])
    x0 = GMM.sample(400_000, torch.Generator().manual_seed(1))
    x = x0 + 0.7 * torch.randn(
        x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    s = torch.full((x.shape[0],), 0.7, dtype=torch.float64)
    mc = torch.sqrt(((D(x, s) - GMM.denoise(x, s)) ** 2).mean()) / 0.7
    assert float(quad[0]) == pytest.approx(float(mc), rel=0.01)


def test_perturbed_denoiser_is_linear_in_e_and_unit_size():
    sig = torch.logspace(-2, 1, 7, dtype=torch.float64)
    assert torch.allclose(
        ds.score_error(ds.PerturbedDenoiser(GMM, 0.0), GMM, sig),
        torch.zeros(7, dtype=torch.float64),
    )
    a = ds.score_error(ds.PerturbedDenoiser(GMM, 0.1, seed=5), GMM, sig)
    b = ds.score_error(ds.PerturbedDenoiser(GMM, 0.3, seed=5), GMM, sig)
    assert torch.allclose(b, 3 * a, rtol=1e-10)
    # averaged over fields the error has size about e at every level
    errs = torch.stack(
        [ds.score_error(ds.PerturbedDenoiser(GMM, 0.1, seed=k), GMM, sig) for k in range(20)]
    )
    rms = torch.sqrt((errs**2).mean(0))
    assert bool(((rms > 0.05) & (rms < 0.2)).all())


# -- exact end-to-end KL ----------------------------------------------------------------------------
def _gaussian_recursion_kl(mu, v, sigmas):
    """Closed-form output law of the VE exponential sampler with the exact score of N(mu, v)."""
    m, var = 0.0, sigmas[0] ** 2
    for s, s1 in zip(sigmas[:-1], sigmas[1:], strict=False):
        g = 1 - s1**2 / s**2
        k = v / (v + s**2)  # D(x) = mu + k (x - mu)
        a = 1 - g + g * k
        b = g * (1 - k) * mu
        m, var = a * m + b, a * a * var + s**2 - s1**2
    t_var = v + sigmas[-1] ** 2
    return 0.5 * (t_var / var + (m - mu) ** 2 / var - 1 + math.log(var / t_var))


@pytest.mark.parametrize("rho", [None, 7.0])
def test_output_kl_matches_gaussian_closed_form(rho):
    g = GaussianMixture([1.0], [[0.8]], [0.25])
    sig = ds.schedule_sigmas(12, 0.01, 20.0, rho)
    expected = _gaussian_recursion_kl(0.8, 0.25, sig.tolist())
    got = ds.output_kl(g.denoise, g, sig)
    assert got.value == pytest.approx(expected, rel=1e-3, abs=1e-7)


def test_output_kl_decreases_with_steps_and_exact_prior_helps():
    k = [
        ds.output_kl(GMM.denoise, GMM, ds.schedule_sigmas(n, 0.002, 80.0), n_points=1500).value
        for n in (10, 20, 40)
    ]
    assert k[0] > k[1] > k[2] > 0
    sig = ds.schedule_sigmas(40, 0.002, 4.0)
    prior = GridDensity.from_function(lambda x: GMM.prob(x.unsqueeze(-1), 4.0), -48, 48, 1500)
    kg = ds.output_kl(GMM.denoise, GMM, sig, n_points=1500).value
    ke = ds.output_kl(GMM.denoise, GMM, sig, prior=prior, n_points=1500).value
    assert ke < kg


# -- training drivers --------------------------------------------------------------------------------
def test_discrete_levels_blocks():
    nd = ds.discrete_levels([3.0, 1.0])
    out = nd.sample(6, None)
    assert out.tolist() == [3.0, 3.0, 3.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="multiple"):
        nd.sample(5, None)
    with pytest.raises(ValueError, match="sigmas"):
        ds.discrete_levels([1.0, -1.0])


def test_train_checkpoints_and_presets():
    nets = ds.train_checkpoints(GMM, [5, 40], seed=0, width=16, depth=2, n_train=512)
    assert sorted(nets) == [5, 40]
    x = torch.linspace(-2, 2, 7, dtype=torch.float64).unsqueeze(-1)
    s = torch.full((7,), 0.5, dtype=torch.float64)
    y5, y40 = nets[5](x, s), nets[40](x, s)
    assert y5.dtype == torch.float64 and y5.shape == (7, 1)
    assert not torch.allclose(y5, y40)
    D = ds.train_preset("increasing", GMM, 5, width=16, depth=2, n_train=256)
    assert D(x, s).shape == (7, 1)
    with pytest.raises(ValueError, match="preset"):
        ds.train_preset("nope", GMM, 5)


def test_eps_weight_density():
    grid = torch.linspace(-10, 8, 181, dtype=torch.float64)
    h = float(grid[1] - grid[0])
    for name in ds.TRAINING_PRESETS:
        d = ds.eps_weight_density(name, grid, n=50_000)
        assert float(d.sum() * h) == pytest.approx(1.0)
    flat = ds.eps_weight_density("loguniform-eps", grid, n=400_000)
    inside = (grid > math.log(0.002) + 0.2) & (grid < math.log(80.0) - 0.2)
    assert float(flat[inside].std() / flat[inside].mean()) < 0.05
    # EDM: density proportional to N(u; -1.2, 1.2^2) (e^{2u} + 1) for sigma_data = 1
    edm = ds.eps_weight_density("edm", grid, sigma_data=1.0, n=400_000)
    ref = scipy.stats.norm.pdf(grid.numpy(), -1.2, 1.2) * (np.exp(2 * grid.numpy()) + 1)
    ref /= ref.sum() * h
    assert abs(grid[int(edm.argmax())].item() - grid[int(np.argmax(ref))].item()) < 0.4
    assert float(np.abs(edm.numpy() - ref).sum() * h) < 0.12


# -- closed-form Gaussian reference and the NTK trace (chapter 04) -----------------------------
@pytest.mark.parametrize("rho", [None, 7.0])
def test_gaussian_output_kl_matches_recursion_grid_and_monte_carlo(rho):
    sig = ds.schedule_sigmas(12, 0.01, 20.0, rho)
    got = ds.gaussian_output_kl(0.8, 0.25, sig)
    # an independently written recursion (denoiser form) and the exact grid
    assert got == pytest.approx(_gaussian_recursion_kl(0.8, 0.25, sig.tolist()), rel=1e-10)
    g = GaussianMixture([1.0], [[0.8]], [0.25])
    assert ds.output_kl(g.denoise, g, sig).value == pytest.approx(got, rel=2e-3)
    # Monte Carlo of the sampler itself: mean and variance of the output law
    gen = torch.Generator().manual_seed(0)
    x = 20.0 * torch.randn(200_000, 1, dtype=torch.float64, generator=gen)
    for a, b in zip(sig[:-1].tolist(), sig[1:].tolist(), strict=True):
        d = a * a - b * b
        x = (
            x
            + d * (-(x - 0.8) / (0.25 + a * a))
            + math.sqrt(d) * torch.randn(x.shape, dtype=torch.float64, generator=gen)
        )
    m, p = float(x.mean()), float(x.var())
    t = 0.25 + float(sig[-1]) ** 2
    mc = 0.5 * (t / p + (m - 0.8) ** 2 / p - 1 + math.log(p / t))
    assert mc == pytest.approx(got, abs=0.01)
    # a wrong variance recursion (no a_k^2) would break agreement; exact data give a tiny KL
    fine = ds.schedule_sigmas(400, 0.01, 20.0)
    assert ds.gaussian_output_kl(0.8, 0.25, fine) < 0.1 * got


def test_gaussian_output_kl_prior_start_and_initialisation_rate():
    sig = ds.schedule_sigmas(30, 0.01, 20.0)
    base = ds.gaussian_output_kl(0.8, 0.25, sig)
    assert ds.gaussian_output_kl(0.8, 0.25, sig, 0.0, 400.0) == pytest.approx(base, rel=1e-12)
    # the grid with the same Gaussian prior agrees (an independent propagation)
    g = GaussianMixture([1.0], [[0.8]], [0.25])
    prior = GridDensity.from_function(lambda x: g.prob(x.unsqueeze(-1), 20.0), -240.0, 240.0, 4001)
    exact_start = ds.gaussian_output_kl(0.8, 0.25, sig, 0.8, 0.25 + 400.0)
    assert ds.output_kl(g.denoise, g, sig, prior=prior).value == pytest.approx(
        exact_start, rel=5e-3
    )
    assert exact_start < base  # the exact start removes the initial mismatch
    # many levels: the initialisation effect decays like sigma_max^-4 (the output mean offset
    # is the initial one times (v + sigma_min^2) / (v + sigma_max^2)), not like E_I's ^-2
    smax = np.array([16.0, 32.0, 64.0])
    gap = []
    for sm in smax:
        s = ds.schedule_sigmas(3000, 0.01, float(sm))
        gap.append(
            ds.gaussian_output_kl(0.8, 0.25, s)
            - ds.gaussian_output_kl(0.8, 0.25, s, 0.8, 0.25 + sm**2)
        )
    slopes = np.diff(np.log(gap)) / np.diff(np.log(smax))
    assert np.all(np.abs(slopes + 4.0) < 0.15)
    with pytest.raises(ValueError):
        ds.gaussian_output_kl(0.8, 0.25, sig, 0.0, -1.0)


def test_classify_profile_and_design_shapes():
    u = torch.linspace(-5, 5, 101, dtype=torch.float64)
    assert ds.classify_profile(torch.exp(-(u**2))) == "bell"
    assert ds.classify_profile(torch.ones(50)) == "flat"
    assert ds.classify_profile(torch.exp(u)) == "increasing"
    assert ds.classify_profile(torch.exp(-u)) == "decreasing"
    assert (
        ds.classify_profile(torch.cat([torch.zeros(5), torch.ones(20), torch.zeros(5)])) == "flat"
    )
    assert ds.classify_profile(2 + torch.cos(u)) == "other"  # two maxima at the ends, one inside
    with pytest.raises(ValueError):
        ds.classify_profile(torch.zeros(5))
    # the designs: grid edges at log sigma_min, log sigma_max, wide enough for every support
    a, b = math.log(0.002), math.log(80.0)
    h = (b - a) / 40
    grid = a + h * (torch.arange(-16, 56, dtype=torch.float64) + 0.5)
    expect = {
        "edm": "bell",
        "loguniform-eps": "flat",
        "vp-uniform-t": "bell",
        "increasing": "increasing",
        "decreasing": "decreasing",
    }
    for name, shape in expect.items():
        d = ds.eps_weight_density(name, grid, sigma_data=1.2, n=200_000)
        assert ds.classify_profile(d) == shape, name


# -- the crossover level of the score error (E4.3, Test 4) ---------------------------------------
def test_normalised_profiles_have_unit_mean_square_and_shape():
    lg = np.exp(np.linspace(math.log(0.002), math.log(80.0), 4001))
    for name, f in ds.ERROR_PROFILES.items():
        g = ds.normalised_profile(f, 0.002, 80.0)
        assert np.mean(g(lg) ** 2) == pytest.approx(1.0, rel=1e-12), name
    inv = ds.normalised_profile(ds.ERROR_PROFILES["1/sigma"], 0.002, 80.0)
    assert inv(np.array([0.01]))[0] / inv(np.array([1.0]))[0] == pytest.approx(100.0)
    low = ds.ERROR_PROFILES["low sigma"](np.array([0.01, 0.4]))
    assert low[0] == pytest.approx(1.0) and low[1] < 0.01
    with pytest.raises(ValueError):
        ds.normalised_profile(lambda s: 0 * s, 0.002, 80.0)
    # a measured profile is reproduced at its levels and interpolated log-log in between
    p = ds.interpolated_profile([0.1, 1.0, 10.0], [4.0, 1.0, 0.25])
    assert p(np.array([0.1, 1.0, 10.0])) == pytest.approx([4.0, 1.0, 0.25])
    assert p(np.array([math.sqrt(0.1)]))[0] == pytest.approx(2.0)  # power law in between
    assert p(np.array([1e-4, 1e4])) == pytest.approx([4.0, 0.25])  # constant beyond the ends
    with pytest.raises(ValueError):
        ds.interpolated_profile([1.0, 0.1], [1.0, 2.0])


def test_bound_crossover_equalises_the_two_bounds():
    f = ds.normalised_profile(ds.ERROR_PROFILES["uniform"], 0.002, 80.0)
    for n in (18, 35, 80):
        e = ds.bound_crossover(n, 0.002, 80.0, f)
        se, sp = ds.schedule_sigmas(n, 0.002, 80.0), ds.schedule_sigmas(n, 0.002, 80.0, 7.0)

        def total(s, level):
            err = torch.full((s.numel() - 1,), level * float(f(np.ones(1))[0]), dtype=torch.float64)
            return ds.bound_discretization(s) + ds.bound_score(s, err)

        assert total(se, e) == pytest.approx(total(sp, e), rel=1e-10)
        assert total(se, 0.5 * e) < total(sp, 0.5 * e)  # below e*: the exponential grid
        assert total(se, 2.0 * e) > total(sp, 2.0 * e)  # above e*: rho = 7
    # more levels shrink the E_D gap faster than the E_S gap: the crossover comes earlier
    assert ds.bound_crossover(80, 0.002, 80.0, f) < ds.bound_crossover(35, 0.002, 80.0, f)
    # an error at high sigma only, where rho = 7 takes more and smaller log-steps: by
    # concavity rho = 7 then has the larger E_S as well as the larger E_D, so no crossover
    high = ds.normalised_profile(lambda s: np.exp(-0.5 * np.log(s / 30.0) ** 2 / 0.25), 0.002, 80.0)
    assert math.isnan(ds.bound_crossover(35, 0.002, 80.0, high))


@pytest.mark.parametrize("rho", [None, 7.0])
def test_gaussian_perturbed_output_kl_zero_error_and_against_grid(rho):
    sig = ds.schedule_sigmas(25, 0.01, 20.0, rho)
    z = np.zeros(24)
    assert ds.gaussian_perturbed_output_kl(0.7, 0.1, sig, z, z) == pytest.approx(
        ds.gaussian_output_kl(0.7, 0.1, sig), rel=1e-12
    )
    # an affine error: the closed form against the grid propagation of the perturbed denoiser
    b, nu = ds.affine_error_fields(3, seed=1)
    sh, sl = ds.affine_error(sig, 0.4, lambda s: np.ones_like(s), b, nu)
    assert sh.shape == (3, 24) and np.allclose(sh**2 + sl**2, 0.16)
    closed = ds.gaussian_perturbed_output_kl(0.7, 0.1, sig, sh, sl)
    g = GaussianMixture([1.0], [[0.7]], [0.1])
    levels = sig[:-1].tolist()
    for j in range(3):

        def denoiser(x, s, j=j):
            k = min(range(len(levels)), key=lambda i: abs(levels[i] - float(s.reshape(-1)[0])))
            sd = math.sqrt(0.1 + levels[k] ** 2)
            err = levels[k] * (sh[j, k] + sl[j, k] * (x - 0.7) / sd)
            return g.denoise(x, s) + err

        grid = ds.output_kl(denoiser, g, sig, n_points=3000).value
        assert grid == pytest.approx(closed[j], rel=1e-2)
    # the error moves the output: the KL grows with e (a wrong sign or scale would not)
    big = ds.gaussian_perturbed_output_kl(
        0.7, 0.1, sig, *ds.affine_error(sig, 2.0, np.ones_like, b, nu)
    )
    assert np.all(big > closed)
    with pytest.raises(ValueError):
        ds.gaussian_perturbed_output_kl(0.7, 0.1, sig, np.zeros(5), np.zeros(5))


def test_first_crossing():
    x = np.array([0.1, 1.0, 10.0, 100.0])
    assert ds.first_crossing(x, np.array([-1.0, -1.0, 1.0, -1.0])) == pytest.approx(
        math.sqrt(10) * 1.0
    )
    assert ds.first_crossing(x, np.array([-1.0, 0.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert math.isnan(ds.first_crossing(x, np.array([1.0, 2.0, 3.0, 4.0])))
    assert math.isnan(ds.first_crossing(x, -np.ones(4)))


# -- E4.4: sensitivity of the output law to a localised score error (worker A) ------------------
def test_gaussian_sensitivity_matches_finite_differences_of_the_affine_recursion():
    mean, var = 0.7, 1.5
    sp = ds.schedule_sigmas(20, 0.01, 40.0, rho=7.0)
    shift, scale = ds.gaussian_sensitivity(mean, var, sp)

    def out_law(a, c):  # independent forward recursion of the perturbed affine step
        s = sp.numpy()
        m, p = -mean, s[0] ** 2
        for k in range(s.size - 1):
            d, v = s[k] ** 2 - s[k + 1] ** 2, var + s[k] ** 2
            amp = 1 - d / v + d * c[k] / (s[k] * math.sqrt(v))
            m, p = amp * m + d * a[k] / s[k], amp * amp * p + d
        return m, p

    z, h = np.zeros(19), 1e-6
    for k in (0, 7, 18):
        e = np.zeros(19)
        e[k] = h
        fd_m = (out_law(e, z)[0] - out_law(-e, z)[0]) / (2 * h) / math.sqrt(var)
        fd_p = (math.log(out_law(z, e)[1]) - math.log(out_law(z, -e)[1])) / (2 * h)
        assert shift[k] == pytest.approx(fd_m, rel=1e-6)
        assert scale[k] == pytest.approx(fd_p, rel=1e-6)


def test_gaussian_sensitivity_tends_to_the_continuum_bells():
    var = 0.64  # sigma_d = 0.8
    u = np.log(0.8) + np.arange(-2.0, 2.0, 0.01)
    for n, tol in ((800, 0.02),):
        sp = ds.schedule_sigmas(n, 1e-3, 200.0)  # exponential grid: uniform in log sigma
        shift, scale = ds.gaussian_sensitivity(0.0, var, sp)
        for j, s_ in enumerate((shift, scale)):
            disc = ds.bump_response(s_, sp, u, 0.4)
            cont = ds.bump_density_response(
                lambda ell, j=j: ds.gaussian_sensitivity_density(ell, var, 1e-3)[j], u, 0.4
            )
            # a per-step sensitivity is the per-log-sigma density times one log step
            assert np.max(np.abs(disc - cont)) < tol * cont.max()
    # the continuum kernels: 1/cosh(log t) (peak at sigma_d) and 4t/(1+t^2)^1.5 (at sigma_d/sqrt2)
    ell = np.log(0.8) + np.linspace(-3, 3, 6001)
    k_shift, k_scale = ds.gaussian_sensitivity_density(ell, var, 0.0)
    assert np.allclose(k_shift, 1 / np.cosh(ell - np.log(0.8)))
    assert ds.peak_location(ell, k_shift) == pytest.approx(np.log(0.8), abs=1e-6)
    assert ds.peak_location(ell, k_scale) == pytest.approx(np.log(0.8 / math.sqrt(2)), abs=1e-6)


def test_bump_denoiser_on_the_grid_agrees_with_the_closed_form_sensitivity():
    from companion.grid import propagate
    from companion.samplers import ve_exponential_step

    mean, var = 0.5, 1.0
    sp = ds.schedule_sigmas(12, 0.01, 20.0, rho=7.0)
    shift, scale = ds.gaussian_sensitivity(mean, var, sp)
    for kind, s_ in (("shift", shift), ("scale", scale)):
        out = [
            propagate(
                ve_exponential_step,
                ds.BumpDenoiser(mean, var, 0.0, 0.5, e, kind),
                sp,
                n_points=3000,
                disable=True,
            )
            for e in (1e-3, -1e-3)
        ]
        if kind == "shift":
            fd = (out[0].mean() - out[1].mean()) / 2e-3
        else:
            fd = (math.log(out[0].var()) - math.log(out[1].var())) / 2e-3
        assert fd == pytest.approx(float(ds.bump_response(s_, sp, [0.0], 0.5)[0]), rel=5e-3)
    with pytest.raises(ValueError, match="kind"):
        ds.BumpDenoiser(mean, var, 0.0, 0.5, 0.1, "twist")


def test_peak_location_refines_a_parabola_and_refuses_an_end():
    x = np.linspace(0, 1, 11)
    assert ds.peak_location(x, -((x - 0.537) ** 2)) == pytest.approx(0.537, abs=1e-12)
    with pytest.raises(ValueError, match="end"):
        ds.peak_location(x, x)
