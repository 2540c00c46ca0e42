"""Tests for companion.s2n: closed forms, identities and cross-checks for the S2N chapter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from companion import s2n
from companion import samplers as S
from companion.gmm import GaussianMixture
from companion.schedules import EDM, VEGeometric, VPCosine, VPLinear, exponential_sigmas
from companion.training import train_denoiser


@pytest.fixture
def mix() -> GaussianMixture:
    return GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.05, 0.2])


# -- forward SDE ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sch", [VPLinear(), VPCosine(), VEGeometric(), EDM()], ids=lambda s: s.name
)
def test_forward_moments_reproduce_schedule(sch):
    ts = torch.linspace(sch.t_min, sch.t_max, 30, dtype=torch.float64)
    m, v = s2n.forward_moments(sch, ts)
    np.testing.assert_allclose(m, sch.alpha(ts).numpy(), rtol=1e-9)
    np.testing.assert_allclose(v, sch.sigma(ts).numpy() ** 2, rtol=1e-9)


def test_forward_moments_detect_wrong_diffusion():
    class Wrong(VEGeometric):
        def g2(self, t):  # forgets the factor 2 of d sigma^2 / dt
            return super().g2(t) / 2

    ts = torch.linspace(0.0, 1.0, 10, dtype=torch.float64)
    _, v = s2n.forward_moments(Wrong(), ts)
    assert abs(v[-1] / float(Wrong().sigma(ts[-1])) ** 2 - 1) > 0.1


def test_forward_moments_bad_times():
    with pytest.raises(ValueError, match="times"):
        s2n.forward_moments(EDM(), [1.0, 0.5])


def test_forward_em_matches_marginal(gen):
    sch = VPLinear()
    x0 = torch.full((40_000, 1), 1.5, dtype=torch.float64)
    ts = torch.linspace(sch.t_min, 0.6, 600, dtype=torch.float64)
    z = s2n.forward_em(sch, x0, ts, gen)
    a, s = float(sch.alpha(ts[-1])), float(sch.sigma(ts[-1]))
    assert abs(float(z.mean()) - 1.5 * a) < 4 * s / math.sqrt(40_000)
    assert abs(float(z.var()) / s**2 - 1) < 0.04


def test_forward_em_bad_input():
    with pytest.raises(TypeError, match="x0"):
        s2n.forward_em(EDM(), torch.zeros(3), torch.tensor([1.0, 2.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="times"):
        s2n.forward_em(EDM(), torch.zeros(3, 1), torch.tensor([2.0, 1.0], dtype=torch.float64))


def test_mixture_cdf_against_quadrature(mix):
    z = torch.linspace(-4, 4, 9, dtype=torch.float64)
    cdf = s2n.mixture_cdf(mix, z, alpha=0.7, sigma=0.5)
    noised = mix.noised(0.7, 0.5)
    ref = []
    for zi in z.tolist():
        fine = torch.linspace(-14.0, zi, 20_001, dtype=torch.float64)
        ref.append(float(torch.trapezoid(noised.prob(fine[:, None]), fine)))
    np.testing.assert_allclose(cdf.numpy(), ref, atol=1e-7)
    with pytest.raises(ValueError, match="one-dimensional"):
        s2n.mixture_cdf(GaussianMixture([1.0], [[0.0, 0.0]], 1.0), z)


def test_ks_against_mixture_uses_the_noised_law(mix, gen):
    a, s = 0.8, 0.6
    x = mix.sample(4000, gen)[:, 0]
    z = a * x + s * torch.randn(x.shape, dtype=torch.float64, generator=gen)
    good = s2n.ks_against_mixture(z, mix, a, s)
    ref = scipy.stats.kstest(
        z.numpy(), lambda u: s2n.mixture_cdf(mix, torch.from_numpy(u), a, s).numpy()
    )
    assert abs(good.statistic - ref.statistic) < 1e-12 and good.n == 4000
    assert good.pvalue > 1e-3
    # the clean data are not the noised law: the test must reject them
    assert s2n.ks_against_mixture(a * x, mix, a, s).pvalue < 1e-6


def test_forward_em_wrong_diffusion_is_rejected(mix, gen):
    sch = VPCosine()
    ts = torch.linspace(sch.t_min, 0.5, 300, dtype=torch.float64)
    a, s = float(sch.alpha(ts[-1])), float(sch.sigma(ts[-1]))
    x0 = mix.sample(20_000, gen)
    good = s2n.forward_em(sch, x0, ts, gen)
    wrong = s2n.forward_em(sch, x0, ts, gen, g2_scale=1.3)
    assert s2n.ks_against_mixture(good[:, 0], mix, a, s).pvalue > 1e-3
    assert s2n.ks_against_mixture(wrong[:, 0], mix, a, s).pvalue < 1e-6
    with pytest.raises(ValueError, match="g2_scale"):
        s2n.forward_em(sch, x0, ts, gen, g2_scale=0.0)


@pytest.mark.parametrize("rho", [0.0, 1.0, 2.0])
def test_step_map_min_slope_single_gaussian(rho):
    # single Gaussian N(0, v): x_hat = v / (v + s^2) x, so every step map is affine
    v = 0.5
    g = GaussianMixture([1.0], [[0.0]], v)
    sig = torch.tensor([2.0, 1.0, 0.4], dtype=torch.float64)
    xs = torch.linspace(-3, 3, 61, dtype=torch.float64)
    k = 1 + rho**2
    eps = [1 - k * (1 - sn / s) * s**2 / (v + s**2) for s, sn in [(2.0, 1.0), (1.0, 0.4)]]
    got = s2n.step_map_min_slope(S.frozen_eps_step, g, sig, xs, rho=rho)
    assert abs(got - min(eps)) < 1e-12
    xh = []
    for s, sn in [(2.0, 1.0), (1.0, 0.4)]:
        b2 = sn**2 * (1 - (sn / s) ** (2 * rho**2))
        c = math.sqrt(sn**2 - b2) / s
        xh.append(c + (1 - c) * v / (v + s**2))
    got = s2n.step_map_min_slope(S.frozen_denoiser_step, g, sig, xs, rho=rho)
    assert abs(got - min(xh)) < 1e-12
    with pytest.raises(ValueError, match="x must"):
        s2n.step_map_min_slope(S.frozen_eps_step, g, sig, xs.flip(0))


def test_cells_text_groups_by_rho():
    cells = [(2.0, 5), (1.5, 10), (1.5, 5)]
    assert s2n.cells_text(cells) == "rho = 1.5 (N = 5, 10); rho = 2 (N = 5)"
    assert s2n.cells_text([], empty="no cell") == "no cell"


# -- non-Markovian kernel -------------------------------------------------------------------
def test_beta_of_rho_special_cases():
    sch = VPCosine()
    s, t = torch.tensor(0.3, dtype=torch.float64), torch.tensor(0.6, dtype=torch.float64)
    ls, lt = float(sch.log_snr(s)), float(sch.log_snr(t))
    a_s, s_s, a_t, s_t = (
        float(v) for v in (sch.alpha(s), sch.sigma(s), sch.alpha(t), sch.sigma(t))
    )
    assert s2n.beta_of_rho(0.0, ls, lt, s_s) == 0.0
    s2_ts = s_t**2 - (a_t / a_s) ** 2 * s_s**2  # DDPM posterior variance
    assert abs(s2n.beta_of_rho(1.0, ls, lt, s_s) ** 2 - s_s**2 * s2_ts / s_t**2) < 1e-14
    with pytest.raises(ValueError, match="lambda_t"):
        s2n.beta_of_rho(1.0, lt, ls, s_s)


@pytest.mark.parametrize("frac", [0.0, 0.4, 1.0])
def test_nonmarkov_kernel_keeps_marginal(frac, gen):
    x = torch.full((200_000, 1), 0.8, dtype=torch.float64)
    a_s, s_s, a_t, s_t = 0.9, 0.5, 0.6, 0.8
    z_t = a_t * x + s_t * torch.randn(x.shape, dtype=torch.float64, generator=gen)
    mean, std = s2n.nonmarkov_kernel(x, z_t, a_s, s_s, a_t, s_t, frac * s_s)
    z_s = mean + std * torch.randn(x.shape, dtype=torch.float64, generator=gen)
    assert abs(float(z_s.mean()) - a_s * 0.8) < 0.005
    assert abs(float(z_s.var()) / s_s**2 - 1) < 0.015


def test_nonmarkov_kernel_bad_input():
    x = torch.zeros(3, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="beta"):
        s2n.nonmarkov_kernel(x, x, 1.0, 0.5, 0.5, 1.0, 0.6)
    with pytest.raises(ValueError, match="same shape"):
        s2n.nonmarkov_kernel(x, torch.zeros(3, 2), 1.0, 0.5, 0.5, 1.0, 0.1)


@pytest.mark.parametrize("rho", [0.0, 0.7, 1.0])
def test_z_space_step_is_frozen_denoiser_step_in_snr_form(mix, rho):
    sch = VPCosine()
    t, s = 0.7, 0.4
    z = torch.linspace(-2, 2, 7, dtype=torch.float64)[:, None]
    mean, std = s2n.z_space_step(mix, z, sch, t, s, rho)
    a_t, a_s = float(sch.alpha(t)), float(sch.alpha(s))
    m2, std2, _ = S.frozen_denoiser_step(
        mix, z / a_t, float(sch.sigma_tilde(t)), float(sch.sigma_tilde(s)), rho=rho
    )
    torch.testing.assert_close(mean / a_s, m2, rtol=1e-12, atol=1e-12)
    assert abs(std / a_s - std2) < 1e-12


def test_sample_z_space_same_in_snr_space(mix):
    ll = torch.linspace(-4.0, 6.0, 11, dtype=torch.float64)
    vp, ve = VPCosine(), VEGeometric(sigma_min=math.exp(-3.0), sigma_max=math.exp(2.0))
    y0 = torch.linspace(-5, 5, 5, dtype=torch.float64)[:, None]
    out = []
    for sch in (vp, ve):
        ts = s2n.snr_grid_times(sch, ll)
        traj = s2n.sample_z_space(
            mix,
            float(sch.alpha(ts[0])) * y0,
            sch,
            ts,
            rho=1.0,
            generator=torch.Generator().manual_seed(5),
        )
        out.append(traj[-1] / float(sch.alpha(ts[-1])))
    assert float((out[0] - out[1]).abs().max()) < 1e-11
    with pytest.raises(ValueError, match="decreasing"):
        s2n.sample_z_space(mix, y0, vp, torch.tensor([0.1, 0.5], dtype=torch.float64))


# -- the continuous-time loss and the derivative -----------------------------------------------
def test_derivative_is_fourth_order():
    assert abs(s2n.derivative(math.sin, 0.3, 1e-2) - math.cos(0.3)) < 1e-9
    with pytest.raises(ValueError, match="h"):
        s2n.derivative(math.sin, 0.0, 0.0)


def test_diffusion_loss_closed_form_and_schedule_invariance():
    v = 0.7
    g = GaussianMixture([1.0], [[0.0]], v)
    vp, ve = VPCosine(), VEGeometric(sigma_min=math.exp(-3.0), sigma_max=math.exp(2.0))
    lam0, lam1 = math.exp(-4.0), math.exp(6.0)
    exact = 0.5 * math.log((1 + lam1 * v) / (1 + lam0 * v))
    t0, t1 = (
        float(u) for u in s2n.snr_grid_times(vp, torch.tensor([6.0, -4.0], dtype=torch.float64))
    )
    assert abs(s2n.diffusion_loss(g, vp, t0, t1, 80, 2001) / exact - 1) < 1e-8
    assert abs(s2n.diffusion_loss(g, ve, 0.0, 1.0, 80, 2001) / exact - 1) < 1e-8
    with pytest.raises(ValueError, match="t0"):
        s2n.diffusion_loss(g, ve, 1.0, 0.0)


# -- the parametric family ------------------------------------------------------------------
@pytest.mark.parametrize("rho", [0.0, 0.5, 1.3])
def test_placeholder_reduces_to_frozen_eps(mix, rho):
    x = torch.linspace(-3, 3, 11, dtype=torch.float64)[:, None]
    m1, s1, _ = s2n.parametric_step(rho, 0.0, 1.0)(mix, x, 2.0, 0.7)
    m2, s2_, _ = S.frozen_eps_step(mix, x, 2.0, 0.7, rho=rho)
    torch.testing.assert_close(m1, m2, rtol=1e-14, atol=1e-14)
    assert abs(s1 - s2_) < 1e-14
    m3, s3, _ = s2n.parametric_step(rho, 0.0, 0.5)(mix, x, 2.0, 0.7)
    assert abs(s3 - 0.5 * s2_) < 1e-14
    if rho == 0:
        m4, _, _ = S.ddim_step(mix, x, 2.0, 0.7)
        torch.testing.assert_close(m1, m4, rtol=1e-12, atol=1e-12)


def test_placeholder_gamma_one_is_the_limit(mix):
    x = torch.linspace(-3, 3, 5, dtype=torch.float64)[:, None]
    m1, _, _ = s2n.parametric_step(0.0, 1.0)(mix, x, 2.0, 0.7)
    m2, _, _ = s2n.parametric_step(0.0, 1.0 - 1e-7)(mix, x, 2.0, 0.7)
    torch.testing.assert_close(m1, m2, rtol=1e-6, atol=1e-6)


def test_placeholder_gamma_exact_cases():
    # point mass at 0: eps-hat is constant along the ODE, so gamma = 0 is exact in one step
    point = lambda x, s: torch.zeros_like(x)  # noqa: E731
    x = torch.tensor([[1.3]], dtype=torch.float64)
    m, _, _ = s2n.parametric_step(0.0, 0.0)(point, x, 4.0, 0.5)
    assert abs(float(m) - 1.3 * 0.5 / 4.0) < 1e-14
    # very wide Gaussian data (variance v >> sigma^2): eps-hat ~ sigma, so gamma = -1 is exact
    v = 1e8
    wide = lambda x, s: x * v / (v + s[:, None] ** 2)  # noqa: E731
    m, _, _ = s2n.parametric_step(0.0, -1.0)(wide, x, 2.0, 1.0)
    exact = 1.3 * math.sqrt((v + 1.0) / (v + 4.0))
    assert abs(float(m) - exact) < 1e-9
    m0, _, _ = s2n.parametric_step(0.0, 0.0)(wide, x, 2.0, 1.0)
    assert abs(float(m0) - exact) > 1e-9


@pytest.mark.parametrize("gamma", [-0.5, 0.4])
def test_placeholder_local_error_is_second_order(mix, gamma):
    # one step sigma -> sigma e^{-h} against an accurate ODE solution: local error O(h^2)
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    errs = []
    for h in (0.2, 0.1, 0.05):
        s0, s1 = 1.5, 1.5 * math.exp(-h)
        out, _, _ = s2n.parametric_step(0.0, gamma)(mix, x, s0, s1)
        ref = S.run_sampler(
            S.heun_step, mix, x, exponential_sigmas(401, s1, s0, zero=False), disable=True
        )
        errs.append(float((out - ref).abs().max()))
    orders = [math.log2(errs[0] / errs[1]), math.log2(errs[1] / errs[2])]
    assert all(1.7 < o < 2.4 for o in orders), orders


def test_parametric_step_bad_input():
    with pytest.raises(ValueError, match="delta"):
        s2n.parametric_step(1.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="variant"):
        s2n.parametric_step(variant="eq7")
    with pytest.raises(TypeError, match="gamma"):
        s2n.parametric_step(gamma="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gamma"):
        s2n.parametric_step(gamma=math.inf)


def test_parametric_variants_are_swappable(mix, monkeypatch):
    calls = []

    def mine(denoiser, x, sigma, sigma_next, rho=0.0, gamma=0.0, delta=1.0):
        calls.append((rho, gamma, delta))
        return S.euler_step(denoiser, x, sigma, sigma_next)

    monkeypatch.setitem(s2n.PARAMETRIC_VARIANTS, "mine", mine)
    step = s2n.parametric_step(0.5, 0.2, 0.9, variant="mine")
    step(mix, torch.zeros(2, 1, dtype=torch.float64), 1.0, 0.5)
    assert calls == [(0.5, 0.2, 0.9)]


# -- exact 1-D output densities ------------------------------------------------------------
def test_one_jump_exact_for_point_mass():
    point = GaussianMixture([1.0], [[0.4]], 0.0)
    for rho in (0.0, 1.0, 1.7):
        assert s2n.one_jump_kl(point, 3.0, 0.3, rho) < 2e-6
    mix = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], 0.05)
    assert s2n.one_jump_kl(mix, 3.0, 0.3, 1.0) > 1e-2
    with pytest.raises(ValueError, match="sigma_s"):
        s2n.one_jump_kl(point, 0.3, 3.0, 1.0)


# -- trained-model helpers ------------------------------------------------------------------


def test_as_denoiser_and_sample_metrics(gen):
    data = torch.randn(512, 2, dtype=torch.float64, generator=gen)
    model, _ = train_denoiser(data, 60, width=16, depth=2, seed=1)
    den = s2n.as_denoiser(model)
    out = den(torch.zeros(3, 2, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (3, 2)
    vals, samples = s2n.sample_metrics(
        s2n.parametric_step(0.0, -0.2), den, exponential_sigmas(5, 0.01, 10.0), data, 100, seed=0
    )
    assert set(vals) == {"sw2", "mmd"} and samples.shape == (100, 2)
    with pytest.raises(TypeError, match="model"):
        s2n.as_denoiser(lambda x, s: x)  # type: ignore[arg-type]


def test_evaluate_sampler(mix):
    exact = s2n.evaluate_sampler("exact-kl", S.euler_step, mix, 20, target=mix)[0]
    assert 0 < exact < 0.5
    coarse = s2n.evaluate_sampler("exact-kl", S.euler_step, mix, 5, target=mix)[0]
    assert coarse > exact
    ref = mix.sample(300, torch.Generator().manual_seed(0))
    val, out = s2n.evaluate_sampler("sw2", S.euler_step, mix, 10, reference=ref, n=300)
    assert out is not None and out.shape == (300, 1) and 0 < val < 0.5
    with pytest.raises(ValueError, match="kind"):
        s2n.evaluate_sampler("fid", S.euler_step, mix, 10)
    with pytest.raises(ValueError, match="target"):
        s2n.evaluate_sampler("exact-kl", S.euler_step, mix, 10)
    with pytest.raises(ValueError, match="classifier"):
        s2n.evaluate_sampler("digits-fd", S.euler_step, mix, 10, reference=ref)
    with pytest.raises(ValueError, match="nfe"):
        s2n.evaluate_sampler("sw2", S.euler_step, mix, 1, reference=ref)


# -- reconstructions of the family, the Gaussian-optimal gamma, the exact sampler KL ----------
@pytest.mark.parametrize("variant", ["placeholder", "interpolated", "noise_level"])
@pytest.mark.parametrize("rho", [0.0, 1.0])
def test_variants_reduce_to_frozen_eps_at_neutral(mix, variant, rho):
    x = torch.linspace(-3, 3, 11, dtype=torch.float64).reshape(-1, 1)
    for s, s1 in [(2.0, 1.0), (0.5, 0.1), (0.3, 0.0)]:
        m, sd, _ = s2n.parametric_step(rho, 0.0, 1.0, variant=variant)(mix, x, s, s1)
        m0, sd0, _ = S.frozen_eps_step(mix, x, s, s1, rho=rho)
        torch.testing.assert_close(m, m0, rtol=1e-13, atol=1e-13)
        assert sd == pytest.approx(sd0, rel=1e-13, abs=1e-15)
        # away from the neutral point the variants differ from the baseline
        if s1 > 0 and (variant != "interpolated" or rho > 0):
            m2, sd2, _ = s2n.parametric_step(rho, 0.3, 1.0, variant=variant)(mix, x, s, s1)
            assert float((m2 - m0).abs().max()) + abs(sd2 - sd0) > 1e-3


def test_interpolated_endpoints_and_rho0():
    mixd = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [0.1, 0.3])
    x = torch.linspace(-2, 2, 9, dtype=torch.float64).reshape(-1, 1)
    m1, sd1, _ = s2n.interpolated_step(mixd, x, 1.0, 0.5, rho=0.7, gamma=1.0)
    mx, sdx, _ = S.frozen_denoiser_step(mixd, x, 1.0, 0.5, rho=0.7)
    torch.testing.assert_close(m1, mx, rtol=1e-13, atol=1e-13)
    assert sd1 == pytest.approx(sdx, rel=1e-12)
    # at rho = 0 both ends are DDIM: gamma does nothing
    ma, _, _ = s2n.interpolated_step(mixd, x, 1.0, 0.5, rho=0.0, gamma=0.0)
    mb, _, _ = s2n.interpolated_step(mixd, x, 1.0, 0.5, rho=0.0, gamma=0.8)
    torch.testing.assert_close(ma, mb, rtol=1e-13, atol=1e-13)


def test_noise_level_queries_scaled_sigma():
    seen = []

    def den(x, s):
        seen.append(float(s[0]))
        return torch.zeros_like(x)

    s2n.noise_level_step(den, torch.ones((2, 1), dtype=torch.float64), 2.0, 1.0, gamma=0.25)
    assert seen == [2.5]
    with pytest.raises(ValueError, match="gamma > -1"):
        s2n.noise_level_step(den, torch.ones((2, 1), dtype=torch.float64), 2.0, 1.0, gamma=-1.0)


@pytest.mark.parametrize("nfe", [4, 8, 15])
@pytest.mark.parametrize("v", [0.01, 1.0, 4.0])
def test_gaussian_optimal_gamma_exact_variance(nfe, v):
    from companion.schedules import karras_sigmas

    sig = karras_sigmas(nfe, 0.002, 80.0)
    g = s2n.gaussian_optimal_gamma(v, sig)
    # the closed form agrees with stepping the sampler (an independent code path) ...
    for gg in (g, 0.0, g + 0.05):
        _, var_step = S.gaussian_output_law(
            s2n.parametric_step(0.0, gg), 0.0, v, sig, start=(0.0, float(sig[0]) ** 2)
        )
        assert float(s2n.gaussian_output_variance(gg, v, sig)) == pytest.approx(var_step, rel=1e-12)
    # ... the output variance is exact at gamma* and not at a wrong gamma
    _, var_opt = S.gaussian_output_law(
        s2n.parametric_step(0.0, g), 0.0, v, sig, start=(0.0, float(sig[0]) ** 2)
    )
    assert var_opt == pytest.approx(v, rel=1e-12)
    _, var_wrong = S.gaussian_output_law(
        s2n.parametric_step(0.0, g + 0.02), 0.0, v, sig, start=(0.0, float(sig[0]) ** 2)
    )
    assert abs(var_wrong / v - 1) > 1e-3
    # one eigenvalue: the anchor is the optimal gamma
    assert s2n.gaussian_anchor_gamma([v], sig) == pytest.approx(g, abs=1e-6)


def test_gaussian_optimal_gamma_no_root():
    with pytest.raises(ValueError, match="no gamma"):
        s2n.gaussian_optimal_gamma(1.0, [80.0, 10.0, 0.0], bounds=(0.5, 0.9))


def test_no_fold_gamma_bounds_the_slopes():
    from companion.schedules import karras_sigmas

    sig = karras_sigmas(8, 0.002, 80.0)
    gf = s2n.no_fold_gamma(sig)
    tiny = 1e-9  # a direction of almost no variance: A_i -> 1 + I_i / sigma_i
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    den = GaussianMixture([1.0], [[0.0]], [tiny])
    for g, ok in [(gf - 0.01, True), (gf + 0.05, False)]:
        step = s2n.parametric_step(0.0, g)
        slopes = [
            float(step(den, x, s, s1)[0][1, 0] - step(den, x, s, s1)[0][0, 0])
            for s, s1 in zip(sig[:-2].tolist(), sig[1:-1].tolist(), strict=True)
        ]
        assert (min(slopes) > 0) == ok


def test_deterministic_log_density_matches_gaussian_closed_form():
    from companion.gmm import FullCovarianceMixture
    from companion.schedules import karras_sigmas

    g = torch.Generator().manual_seed(3)
    d = 5
    a = torch.randn((d, d), dtype=torch.float64, generator=g)
    cov = a @ a.T / d + 0.05 * torch.eye(d, dtype=torch.float64)
    mu = torch.randn(d, dtype=torch.float64, generator=g)
    target = FullCovarianceMixture([1.0], mu.unsqueeze(0), cov.unsqueeze(0))
    lam, U = torch.linalg.eigh(cov)
    sig = karras_sigmas(6, 0.002, 80.0)
    for variant, gam in [("placeholder", -0.05), ("noise_level", -0.3)]:
        step = s2n.parametric_step(0.0, gam, variant=variant)
        x0 = float(sig[0]) * torch.randn((50, d), dtype=torch.float64, generator=g)
        out, log_q = s2n.deterministic_log_density(step, target, x0, sig)
        laws = [
            S.gaussian_output_law(
                step, float((mu @ U)[j]), float(lam[j]), sig, start=(0.0, float(sig[0]) ** 2)
            )
            for j in range(d)
        ]
        M, P = (torch.tensor(v, dtype=torch.float64) for v in zip(*laws, strict=True))
        closed = (-0.5 * ((out @ U - M) ** 2 / P + torch.log(2 * math.pi * P))).sum(-1)
        torch.testing.assert_close(log_q, closed, rtol=1e-10, atol=1e-9)


def test_exact_kl_run_is_zero_free_and_positive(mix):
    from companion.schedules import karras_sigmas

    sig = karras_sigmas(12, 0.002, 80.0)
    lr, out = s2n.exact_kl_run(s2n.parametric_step(0.0, 0.0), mix, sig, 4000, 0)
    assert out.shape == (4000, 1) and lr.shape == (4000,)
    # a KL estimate: positive, and close to the grid-propagated exact KL of the same sampler
    kl_grid = s2n.evaluate_sampler("exact-kl", s2n.parametric_step(0.0, 0.0), mix, 12, target=mix)[
        0
    ]
    se = lr.std() / math.sqrt(lr.size)
    assert lr.mean() > 0
    assert abs(lr.mean() - kl_grid) < 4 * se + 0.02 * kl_grid


def test_deterministic_log_density_rejects_stochastic_and_nonlinear(mix):
    x = torch.zeros((3, 1), dtype=torch.float64)
    with pytest.raises(ValueError, match="deterministic"):
        s2n.deterministic_log_density(s2n.parametric_step(1.0, 0.0), mix, x, [2.0, 1.0, 0.0])

    def nonlinear(den, x, s, s1):
        x0 = den(x, x.new_full((x.shape[0],), s))
        return x + 0.1 * x0**2, 0.0, x0

    with pytest.raises(ValueError, match="not linear"):
        s2n.deterministic_log_density(nonlinear, mix, x, [2.0, 1.0])


def test_gamma_search_and_power():
    g, v, nev, at_b = s2n.gamma_search(lambda t: (t - 0.13) ** 2, 0.1, 0.5, xatol=1e-6)
    assert g == pytest.approx(0.13, abs=1e-5) and not at_b and nev > 3
    g, _, _, at_b = s2n.gamma_search(lambda t: t, 0.0, 0.2, xatol=1e-4)
    assert at_b and g == pytest.approx(-0.2, abs=1e-3)
    # the seed count grows as (sd / effect)^2 and never falls below the minimum
    assert s2n.paired_seeds_needed(0.0, 0.1) == 5
    n1, n2 = s2n.paired_seeds_needed(0.1, 0.05), s2n.paired_seeds_needed(0.2, 0.05)
    assert 30 < n1 < 40 and 3.5 < n2 / n1 < 4.2


def test_deterministic_log_density_refuses_a_fold():
    from companion.schedules import karras_sigmas

    sig = karras_sigmas(5, 0.002, 80.0)
    thin = GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [1e-6, 1e-6])
    x = float(sig[0]) * torch.randn((20, 1), dtype=torch.float64, generator=torch.Generator())
    with pytest.raises(ValueError, match="folds"):
        s2n.deterministic_log_density(
            s2n.parametric_step(0.0, s2n.no_fold_gamma(sig) + 0.3), thin, x, sig
        )


def test_heun_log_density_matches_gaussian_closed_form_and_samplers():
    from companion.gmm import FullCovarianceMixture
    from companion.schedules import karras_sigmas

    g = torch.Generator().manual_seed(4)
    d = 4
    a = torch.randn((d, d), dtype=torch.float64, generator=g)
    cov = a @ a.T / d + 0.05 * torch.eye(d, dtype=torch.float64)
    mu = torch.randn(d, dtype=torch.float64, generator=g)
    target = FullCovarianceMixture([1.0], mu.unsqueeze(0), cov.unsqueeze(0))
    lam, U = torch.linalg.eigh(cov)
    sig = karras_sigmas(5, 0.002, 80.0)
    x0 = float(sig[0]) * torch.randn((40, d), dtype=torch.float64, generator=g)
    out, log_q = s2n.heun_log_density(target, x0, sig)
    # the samples are those of companion.samplers' Heun sampler
    torch.testing.assert_close(out, S.sample_heun(target.denoise, x0, sig), rtol=1e-10, atol=1e-10)
    laws = [
        S.gaussian_output_law(
            S.heun_step, float((mu @ U)[j]), float(lam[j]), sig, start=(0.0, float(sig[0]) ** 2)
        )
        for j in range(d)
    ]
    M, P = (torch.tensor(v, dtype=torch.float64) for v in zip(*laws, strict=True))
    closed = (-0.5 * ((out @ U - M) ** 2 / P + torch.log(2 * math.pi * P))).sum(-1)
    torch.testing.assert_close(log_q, closed, rtol=1e-10, atol=1e-9)


def test_heun_log_density_jacobian_on_a_mixture_matches_autograd():
    from companion.gmm import FullCovarianceMixture

    g = torch.Generator().manual_seed(5)
    d = 2
    target = FullCovarianceMixture(
        [0.4, 0.6],
        torch.tensor([[-1.0, 0.5], [1.0, -0.3]], dtype=torch.float64),
        torch.stack([0.1 * torch.eye(d), torch.tensor([[0.3, 0.1], [0.1, 0.2]])]).double(),
    )
    sig = [3.0, 1.0, 0.4]  # one Heun step with a non-constant posterior covariance, then Euler
    x0 = torch.randn((6, d), dtype=torch.float64, generator=g)

    def heun_map(x):
        return S.sample_heun(target.denoise, x.unsqueeze(0), torch.tensor(sig + [0.0]))[0]

    _, log_q = s2n.heun_log_density(target, x0, sig + [0.0], start_var=1.0)
    start = -0.5 * (x0**2).sum(-1) - 0.5 * d * math.log(2 * math.pi)
    for i in range(x0.shape[0]):
        jac = torch.autograd.functional.jacobian(heun_map, x0[i])
        assert float(log_q[i]) == pytest.approx(
            float(start[i] - torch.linalg.slogdet(jac)[1]), rel=1e-6, abs=1e-6
        )
    run = s2n.heun_kl_run(target, sig + [0.0], 50, 0)
    assert run.shape == (50,) and np.isfinite(run).all()
