"""Tests of the DDPM ratio targets, the kernel plug-in estimator and its exact KLs."""

from __future__ import annotations

import math

import pytest
import torch

from companion import ratio as R
from companion.chains import VPChain, mixture_log_kernel, mixture_step_kl
from companion.gmm import GaussianMixture


@pytest.fixture(scope="module")
def p0():
    return GaussianMixture([0.3, 0.5, 0.2], [-2.0, 0.5, 2.5], [0.09, 0.25, 0.04])


@pytest.fixture(scope="module")
def chain():
    return VPChain.fixed_total(10)


def test_posterior_mean_terms_by_quadrature(p0, chain):
    t = 4
    ab = float(chain.alpha_bar[t])
    x = torch.tensor([-3.0, -0.7, 0.4, 2.2], dtype=torch.float64)
    y = torch.linspace(-8, 8, 40001, dtype=torch.float64)
    K = torch.exp(-0.5 * (x[:, None] - math.sqrt(ab) * y) ** 2 / (1 - ab)) / math.sqrt(
        2 * math.pi * (1 - ab)
    )
    py = p0.prob(y[:, None])
    f1q = torch.trapezoid(y * K * py, y, dim=-1)
    f2q = torch.trapezoid(K * py, y, dim=-1)
    f1, f2 = R.posterior_mean_terms(p0, chain, t, x)
    assert torch.allclose(f1, f1q, rtol=1e-9, atol=1e-14)
    assert torch.allclose(f2, f2q, rtol=1e-9, atol=1e-14)


def test_reverse_density_terms_match_kernel(p0, chain):
    t = 3
    xp = torch.tensor([-1.5, 0.2, 0.9], dtype=torch.float64)
    xt = torch.tensor([-1.2, 0.4, 1.3], dtype=torch.float64)
    f1, f2 = R.reverse_density_terms(p0, chain, t, xp, xt)
    lp = chain.reverse_kernel(p0, t).log_prob(xp[:, None], xt[:, None])
    assert torch.allclose(torch.log(f1 / f2), lp, atol=1e-11)
    # integrates to one in x_{t-1}
    grid = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    g1, g2 = R.reverse_density_terms(p0, chain, t, grid, torch.full_like(grid, 0.4))
    assert float(torch.trapezoid(g1 / g2, grid)) == pytest.approx(1.0, abs=1e-9)


def test_kde_and_bandwidth():
    y = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    k = R.kde_mixture(y, 0.5)
    assert k.n_components == 3 and torch.allclose(
        k.variances, torch.full((3, 1), 0.25, dtype=torch.float64)
    )
    assert R.kde_bandwidth(32, 1.0) == pytest.approx(32**-0.2)
    with pytest.raises(ValueError, match="h"):
        R.kde_mixture(y, 0.0)
    with pytest.raises(ValueError, match="n"):
        R.kde_bandwidth(0)


def test_marginal_kl_gaussians_closed_form():
    p = GaussianMixture([1.0], [0.3], 0.5)
    q = GaussianMixture([1.0], [-0.2], 1.3)
    closed = 0.5 * (0.5 / 1.3 + 0.5**2 / 1.3 - 1 + math.log(1.3 / 0.5))
    assert R.marginal_kl(p, q).value == pytest.approx(closed, rel=1e-8)


def test_telescoping_identity_against_2d_quadrature(p0, chain):
    g = torch.Generator().manual_seed(0)
    ph = R.kde_mixture(p0.sample(40, g), 0.3)
    pk = R.kernel_ratio_path_kl(p0, ph, chain)
    for t in [1, 5, 10]:
        q = mixture_step_kl(chain, p0, t, mixture_log_kernel(chain.reverse_kernel(ph, t)), 150, 150)
        assert q.value == pytest.approx(float(pk.steps[t - 1]), rel=1e-5, abs=1e-12)
    # path KL = terminal + KL(p0||p0_hat) - KL(pT||pT_hat), and output <= path
    kl0 = R.marginal_kl(p0, ph).value
    klT = R.marginal_kl(chain.marginal(p0, chain.T), chain.marginal(ph, chain.T)).value
    assert pk.total == pytest.approx(pk.terminal + kl0 - klT, rel=1e-10)
    assert pk.output <= pk.total + 1e-12
    short = R.kernel_ratio_path_kl(p0, ph, chain, per_step=False)
    assert short.total == pytest.approx(pk.total, rel=1e-12)


def test_path_kl_of_kernel_ratio_independent_of_T(p0):
    g = torch.Generator().manual_seed(1)
    ph = R.kde_mixture(p0.sample(30, g), 0.3)
    vals = [
        R.kernel_ratio_path_kl(p0, ph, VPChain.fixed_total(T), per_step=False).total
        for T in (3, 12)
    ]
    assert vals[0] == pytest.approx(vals[1], rel=1e-9)


def test_exact_ratio_output_density_started_at_pT_hat_is_p0_hat(p0, chain):
    # if p_T_hat were N(0,1) exactly the output would be p0_hat; check mass and closeness here
    ph = R.kde_mixture(torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64), 0.4)
    x = torch.linspace(-5, 6, 3001, dtype=torch.float64)
    d = R.kernel_ratio_output_density(ph, chain, x)
    assert d.mass() == pytest.approx(1.0, abs=1e-6)
    assert float((d.p - ph.prob(x[:, None])).abs().max()) < 1e-2


def test_gaussian_kernel_with_point_mass_is_exact():
    # for a point-mass-like p0 the DDPM posterior with beta_tilde is the true reverse kernel
    p = GaussianMixture([1.0], [0.7], 1e-10)
    chain = VPChain.fixed_total(6)
    for t in [2, 4]:
        kern = R.gaussian_log_kernel(p.denoise, chain, t, "beta_tilde")
        q = mixture_step_kl(chain, p, t, kern, 80, 80)
        assert abs(q.value) < 1e-6
    q = mixture_step_kl(chain, p, 3, R.gaussian_log_kernel(p.denoise, chain, 3, "beta"), 80, 80)
    assert q.value > 1e-3  # the other variance choice is not exact


def test_ddpm_output_density_gaussian_data():
    # Gaussian data: DDPM with exact denoiser is close to p0 for many steps, and mass is one
    p = GaussianMixture([1.0], [0.5], 0.3)
    chain = VPChain.fixed_total(40)
    d = R.ddpm_output_density(p.denoise, chain, 1000)
    assert d.mass() == pytest.approx(1.0, abs=1e-6)
    assert d.mean() == pytest.approx(0.5, abs=0.02)
    pk = R.gaussian_kernel_path_kl(p, p.denoise, chain, 80, 80, 1000)
    assert 0 <= pk.output <= pk.total + 1e-6


def test_sample_chain_matches_density():
    p = GaussianMixture([1.0], [0.5], 0.3)
    chain = VPChain.fixed_total(20)
    xs = R.sample_ddpm_chain(p.denoise, chain, 20000, 1, torch.Generator().manual_seed(0))
    d = R.ddpm_output_density(p.denoise, chain, 1000)
    assert float(xs.mean()) == pytest.approx(d.mean(), abs=0.02)
    assert float(xs.var()) == pytest.approx(d.var(), rel=0.05)


def test_ddpm_posterior_coefficients():
    chain = VPChain.fixed_total(10)
    c0, ct, bt = R.ddpm_posterior(chain, 5, "beta_tilde")
    ab, abp, b = float(chain.alpha_bar[5]), float(chain.alpha_bar[4]), float(chain.betas[4])
    # q(z_{t-1}|z_t, z_0) from Gaussian conditioning of the joint
    cov = torch.tensor(
        [[1 - abp, math.sqrt(1 - b) * (1 - abp)], [math.sqrt(1 - b) * (1 - abp), 1 - ab]],
        dtype=torch.float64,
    )
    assert ct == pytest.approx(float(cov[0, 1] / cov[1, 1]), rel=1e-12)
    assert bt == pytest.approx(float(cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]), rel=1e-12)
    assert c0 == pytest.approx(math.sqrt(abp) - ct * math.sqrt(ab), rel=1e-12)
    assert R.ddpm_posterior(chain, 1, "beta_tilde")[2] > 0
    with pytest.raises(ValueError, match="variance"):
        R.ddpm_posterior(chain, 2, "bogus")


def test_ddpm_noise_levels():
    chain = VPChain.fixed_total(5)
    s = R.ddpm_noise(chain).sample(1000, torch.Generator().manual_seed(0))
    levels = {round(chain.sigma_tilde(t), 12) for t in range(1, 6)}
    assert {round(float(v), 12) for v in s} == levels


def test_modular_ratio_with_exact_parts_and_errors():
    class Const(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
            self.fn = fn

        def forward(self, x):
            return self.fn(x) + 0 * self.w

    x = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    f2 = lambda z: 0.2 + 0.8 * torch.exp(-(z**2))  # noqa: E731
    f1 = lambda z: torch.sin(3 * z) * f2(z)  # noqa: E731
    L = 1.1
    mod = R.modular_ratio(Const(lambda z: f1(z) + L * f2(z)), Const(f2), L, 2.5, 0.1)
    assert torch.allclose(mod(x), torch.sin(3 * x[:, 0]), atol=1e-9)
    m = R.ratio_error_metrics(mod(x), torch.sin(3 * x[:, 0]), x[:, 0] > 0.5)
    assert m["sup"] < 1e-9 and set(m) == {"L1", "L2", "sup", "sup_low"}
    with pytest.raises(ValueError, match="delta"):
        R.modular_ratio(Const(f1), Const(f2), 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="shift"):
        R.modular_ratio(Const(f1), Const(f2), -1.0, 1.0, 0.1)


def test_ratio_fit_study_small():
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None]
    f2 = 0.3 + torch.exp(-(x[:, 0] ** 2))
    f1 = x[:, 0] * f2
    rows = R.ratio_fit_study(x, f1, f2, x, f1, f2, [8], [0], activations=("signrelu",), steps=30)
    assert {r["method"] for r in rows} == {"direct", "modular"}
    assert all(r["L2"] >= 0 for r in rows)


def test_ratio_fit_study_relative_weighting_favours_small_denominators():
    # a denominator spanning three decades: relative weighting must fit its small values better
    x = torch.linspace(-1, 1, 128, dtype=torch.float64)[:, None]
    f2 = 1e-3 + torch.exp(-8 * x[:, 0] ** 2)
    f1 = (0.5 + 0.3 * x[:, 0]) * f2
    kw = dict(activations=("signrelu",), steps=400, batch_size=None, low_level=0.01)
    rows = {
        w: R.ratio_fit_study(x, f1, f2, x, f1, f2, [16], [0], weighting=w, **kw)
        for w in ("absolute", "relative")
    }
    mod = {w: next(r for r in rs if r["method"] == "modular") for w, rs in rows.items()}
    assert mod["relative"]["sup_low"] < mod["absolute"]["sup_low"]
    assert all(0 < r["plateau"] < 10 for rs in rows.values() for r in rs)
    with pytest.raises(ValueError, match="weighting"):
        R.ratio_fit_study(x, f1, f2, x, f1, f2, [8], [0], weighting="log", steps=2)


def test_gaussian_estimation_kl_is_the_path_kl_difference():
    # path KL with the plug-in mean = terminal + discretisation (exact mean) + estimation part
    p0 = GaussianMixture([0.4, 0.6], [-1.0, 1.0], [0.2, 0.3])
    ph = GaussianMixture([0.5, 0.5], [-0.9, 1.1], [0.25, 0.3])
    ch = VPChain.fixed_total(4)
    est = R.gaussian_estimation_kl(p0, ph, ch, 1001)
    gk = R.gaussian_kernel_path_kl(p0, ph.denoise, ch, 200, 200, 800)
    gx = R.gaussian_kernel_path_kl(p0, p0.denoise, ch, 200, 200, 800)
    assert est.value > 0 and est.error < 1e-6 * est.value
    assert abs((gk.total - gx.total) - est.value) <= 1e-4 * est.value + gk.error + gx.error
    assert R.gaussian_estimation_kl(p0, p0, ch, 101).value == 0.0
    with pytest.raises(ValueError, match="n_z"):
        R.gaussian_estimation_kl(p0, ph, ch, 3)


def test_hinge_log_kernel_normalised_and_exact_at_knots():
    p0 = GaussianMixture([0.4, 0.6], [-1.0, 1.0], [0.2, 0.3])
    ch = VPChain.fixed_total(5)
    kern = ch.reverse_kernel(p0, 3)
    knots = torch.linspace(-6, 6, 401, dtype=torch.float64)
    f = R.hinge_log_kernel(kern, knots)
    z = torch.tensor([-0.5, 0.0, 1.2], dtype=torch.float64)
    yk = knots.expand(3, -1).contiguous()
    exact = mixture_log_kernel(kern)(yk, z)
    approx = f(yk, z)
    # at the knots the interpolant is the exact kernel over its trapezoid normaliser (near 1)
    norm = torch.trapezoid(exact.exp(), knots, dim=-1).unsqueeze(-1)
    assert torch.allclose(approx, exact - norm.log(), rtol=0, atol=1e-12)
    assert torch.allclose(norm, torch.ones_like(norm), atol=1e-6)
    yf = torch.linspace(-6, 6, 24001, dtype=torch.float64).expand(3, -1).contiguous()
    mass = torch.trapezoid(f(yf, z).exp(), yf[0], dim=-1)
    assert torch.allclose(mass, torch.ones(3, dtype=torch.float64), atol=1e-6)
    # fine knots: tiny per-step KL; coarse knots: far larger
    fine = mixture_step_kl(ch, p0, 3, f, 80, 80).value
    coarse = mixture_step_kl(ch, p0, 3, R.hinge_log_kernel(kern, knots[::40]), 80, 80).value
    assert abs(fine) < 1e-4 < coarse
    with pytest.raises(ValueError, match="uniformly"):
        R.hinge_log_kernel(kern, torch.tensor([0.0, 1.0, 3.0]))
    with pytest.raises(ValueError, match="increasing"):
        R.hinge_log_kernel(kern, torch.tensor([0.0, 1.0]))
