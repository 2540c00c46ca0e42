import math

import pytest
import torch

from companion import grid as G
from companion import samplers as S
from companion.gmm import GaussianMixture
from companion.schedules import karras_sigmas
from tests.test_samplers import M, V, affine_law, gauss_denoiser


def normal_pdf(mean: float, var: float):
    return lambda x: torch.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)


def test_distances_against_closed_forms():
    x = torch.linspace(-25, 25, 20_001, dtype=torch.float64)
    p, q = normal_pdf(0.0, 1.0), normal_pdf(1.0, 4.0)
    kl = G.kl_divergence(p, q, x)
    exact = math.log(2.0) + (1 + 1) / (2 * 4) - 0.5
    assert abs(kl.value - exact) < 1e-10 and kl.error < 1e-8
    tv = G.tv_distance(normal_pdf(0.0, 1.0), normal_pdf(1.0, 1.0), x)
    assert abs(tv.value - (2 * 0.5 * (1 + math.erf(0.5 / math.sqrt(2))) - 1)) < 1e-6
    w1 = G.w1_distance(normal_pdf(0.0, 1.0), normal_pdf(1.0, 1.0), x)
    assert abs(w1.value - 1.0) < 1e-6


@pytest.mark.parametrize("std", [1e-4, 0.01, 0.5, 3.0])
def test_gaussian_convolve(std):
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    out = G.gaussian_convolve(normal_pdf(0.0, 1.0)(x), float(x[1] - x[0]), std)
    assert torch.allclose(out, normal_pdf(0.0, 1.0 + std**2)(x), atol=2e-6)


@pytest.mark.parametrize("name", ["euler", "heun", "ddpm", "euler_maruyama", "ve_exponential"])
def test_propagate_gaussian_target_exact(name):
    sig = karras_sigmas(15, 0.02, 20.0)
    opts = {"rho": 0.7} if name == "euler_maruyama" else {}
    prior = G.GridDensity.gaussian(M, math.sqrt(V + 400.0))
    d = G.propagate(S.STEPS[name], gauss_denoiser, sig, prior=prior, n_points=3000, **opts)
    mean, var = affine_law(S.STEPS[name], sig, M, V + 400.0, **opts)
    x = torch.linspace(
        mean - 12 * math.sqrt(var), mean + 12 * math.sqrt(var), 20_001, dtype=torch.float64
    )
    kl = G.kl_divergence(normal_pdf(mean, var), d, x)
    assert kl.value < 1e-7, kl
    assert abs(d.mass() - 1) < 1e-9


def test_propagate_matches_monte_carlo_on_mixture(gen):
    g = GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [0.05, 0.2])
    sig = karras_sigmas(10, 0.01, 20.0)
    d = G.propagate(S.ddpm_step, g.denoise, sig)
    n = 400_000
    x = S.sample_ddpm(
        g.denoise, 20.0 * torch.randn(n, 1, dtype=torch.float64, generator=gen), sig, generator=gen
    )
    xs = torch.linspace(-3, 3, 13, dtype=torch.float64)
    emp = (x[:, 0].unsqueeze(-1) <= xs).double().mean(0)
    cdf = torch.cumsum(d.p, 0) * d.h
    grid_cdf = G._interp(xs, d.x + 0.5 * d.h, cdf)
    assert (emp - grid_cdf).abs().max() < 4 / math.sqrt(n) * 2, (emp - grid_cdf).abs().max()


def test_mixture_transition_linear_gaussian():
    d = G.GridDensity.gaussian(0.0, 1.0, 1500)
    w = torch.ones(1500, 1, dtype=torch.float64)
    mu = (0.6 * d.x + 0.4).unsqueeze(-1)
    y = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    out = G.mixture_transition(d, w, mu, torch.tensor([0.5], dtype=torch.float64), y)
    assert torch.allclose(out.p, normal_pdf(0.4, 0.36 + 0.25)(y), atol=1e-8)


def test_grid_density_interp_and_errors():
    d = G.GridDensity.gaussian(0.0, 1.0, 101)
    assert torch.allclose(d(d.x), d.p)
    assert float(d(torch.tensor([100.0], dtype=torch.float64))) == 0.0
    with pytest.raises(ValueError, match="equal length"):
        G.GridDensity(torch.zeros(5), torch.zeros(4))


def _gauss_kl(m1: float, v1: float, m2: float, v2: float) -> float:
    return 0.5 * (v1 / v2 + (m1 - m2) ** 2 / v2 - 1 + math.log(v2 / v1))


def test_trapezoid_weights_and_kl_from_logs():
    x = torch.linspace(-2.0, 3.0, 11, dtype=torch.float64)
    w = G.trapezoid_weights(x)
    assert float(w.sum()) == pytest.approx(5.0, rel=1e-14)
    assert float((w * (2 * x + 1)).sum()) == pytest.approx(10.0, rel=1e-13)  # exact for lines
    with pytest.raises(ValueError, match="x must be"):
        G.trapezoid_weights(x[:2])
    # KL of two Gaussians from logs, and p = 0 (log p = -inf) contributes nothing
    z = torch.linspace(-20, 20, 8001, dtype=torch.float64)
    lp = -0.5 * (z - 0.3) ** 2 / 0.5 - 0.5 * math.log(2 * math.pi * 0.5)
    lq = -0.5 * (z + 0.2) ** 2 / 1.3 - 0.5 * math.log(2 * math.pi * 1.3)
    exact = _gauss_kl(0.3, 0.5, -0.2, 1.3)
    assert G.kl_from_logs(lp, lq, z) == pytest.approx(exact, rel=1e-10)
    lp_cut = torch.where(z.abs() > 19, -math.inf, lp)
    assert G.kl_from_logs(lp_cut, lq, z) == pytest.approx(exact, rel=1e-10)
    kl = G.log_kl_divergence(
        lambda u: -0.5 * (u - 0.3) ** 2 / 0.5 - 0.5 * math.log(math.pi), lambda u: lq, z
    )
    assert kl.value == pytest.approx(exact, rel=1e-10) and kl.error < 1e-9
    # tiny divergences stay accurate from logs: KL(p || p e^{eps sin}) = -eps E_p sin(z)
    lq_tiny = lp + 1e-9 * torch.sin(z)
    closed = -1e-9 * math.sin(0.3) * math.exp(-0.5 * 0.5)
    assert G.kl_from_logs(lp, lq_tiny, z) == pytest.approx(closed, rel=1e-6)


def test_density_kl_on_own_nodes_and_on_a_grid():
    d = G.GridDensity.gaussian(0.4, 1.1, 4001)
    lp = lambda u: -0.5 * (u - 0.1) ** 2 / 0.8 - 0.5 * math.log(2 * math.pi * 0.8)  # noqa: E731
    exact = _gauss_kl(0.1, 0.8, 0.4, 1.1**2)
    own = G.density_kl(lp, d)
    assert own.value == pytest.approx(exact, rel=1e-6) and own.error < 1e-5
    x = torch.linspace(-9, 9, 20_001, dtype=torch.float64)
    # off the nodes, q is interpolated linearly (relative error ~ h^2 / 8)
    assert G.density_kl(lp, d, x).value == pytest.approx(exact, rel=1e-4)
    # the density form agrees with the log form
    assert G.kl_divergence(lambda u: torch.exp(lp(u)), d, x).value == pytest.approx(
        G.density_kl(lp, d, x).value, rel=1e-10
    )


def test_sampler_output_kl_closed_form_and_convergence():
    # Gaussian data N(M, V): the steps are affine, so the output law is Gaussian in closed form
    target = GaussianMixture([1.0], [M], V)
    sig = karras_sigmas(12, 0.05, 20.0, zero=False)
    kl = G.sampler_output_kl(S.STEPS["euler"], gauss_denoiser, sig, target, n_points=3000)
    mean, var = affine_law(S.STEPS["euler"], sig, 0.0, 400.0)  # prior N(0, sigma_max^2)
    exact = _gauss_kl(M, V + float(sig[-1]) ** 2, mean, var)
    assert kl.value == pytest.approx(exact, rel=2e-3)  # grid propagation error, first order
    exact_prior = G.sampler_output_kl(S.STEPS["euler"], gauss_denoiser, sig, target, "exact")
    mean, var = affine_law(S.STEPS["euler"], sig, M, V + 400.0)
    assert exact_prior.value == pytest.approx(
        _gauss_kl(M, V + float(sig[-1]) ** 2, mean, var), rel=2e-3
    )
    # a mixture: the first-order frozen-eps sampler converges (KL ~ N^-2)
    mix = GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.05, 0.2])
    kls = [
        G.sampler_output_kl(S.frozen_eps_step, mix, G_sig, mix, "exact", rho=1.0).value
        for G_sig in (
            karras_sigmas(21, 0.02, 50.0, zero=False),
            karras_sigmas(81, 0.02, 50.0, zero=False),
        )
    ]
    assert kls[1] < kls[0] / 8
    with pytest.raises(ValueError, match="one-dimensional"):
        G.sampler_output_kl(S.STEPS["euler"], mix, sig, GaussianMixture([1.0], [[0.0, 0.0]], 1.0))
    with pytest.raises(ValueError, match="prior"):
        G.sampler_output_kl(S.STEPS["euler"], mix, sig, mix, "gaussian")


def test_propagate_with_a_per_state_std_is_exact_for_the_moment_matched_kernel():
    """The moment-matched reverse kernel of Gaussian data is the exact reverse kernel: from the
    exact marginal, the dense Gaussian-sum push (one std per state) lands on the exact marginal;
    with the posterior variance set to 0 it agrees with the convolution push of the
    frozen-denoiser step on a mixture."""
    sig = karras_sigmas(6, 0.05, 5.0, zero=False)
    post = S.state_variance_step(
        lambda z, s: torch.full((z.shape[0],), V * s**2 / (V + s**2), dtype=z.dtype)
    )
    prior = G.GridDensity.gaussian(M, math.sqrt(V + 25.0), 1200)
    d = G.propagate(post, gauss_denoiser, sig, prior=prior, n_points=1200, rho=0.8, disable=True)
    end = V + float(sig[-1]) ** 2
    x = torch.linspace(
        M - 12 * math.sqrt(end), M + 12 * math.sqrt(end), 20_001, dtype=torch.float64
    )
    assert G.kl_divergence(normal_pdf(M, end), d, x).value < 1e-8
    g = GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [0.05, 0.2])
    zero = S.state_variance_step(lambda z, s: torch.zeros(z.shape[0], dtype=z.dtype))
    p0 = G.GridDensity.from_function(lambda z: g.prob(z[:, None], 5.0), -25.0, 25.0, 1500)
    dense = G.propagate(zero, g.denoise, sig, prior=p0, n_points=1500, rho=0.8, disable=True)
    conv = G.propagate(
        S.frozen_denoiser_step, g.denoise, sig, prior=p0, n_points=1500, rho=0.8, disable=True
    )
    xs = torch.linspace(-4.0, 4.0, 20_001, dtype=torch.float64)
    assert G.kl_divergence(conv, dense, xs).value < 1e-6
    with pytest.raises(ValueError, match="> 0"):
        G.propagate(
            zero,
            g.denoise,
            karras_sigmas(3, 0.05, 5.0, zero=False),
            prior=p0,
            rho=0.0,
            disable=True,
        )
