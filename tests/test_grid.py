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
