import math

import pytest
import torch

from companion import samplers as S
from companion.schedules import karras_sigmas

M, V = 0.7, 0.3  # single-Gaussian target N(M, V)


def gauss_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s2 = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
    return M + V / (V + s2) * (x - M)


def affine_law(step, sigmas, mean, var, **opts):
    """Push a Gaussian law through affine steps (exact for the Gaussian target)."""
    levels = sigmas.tolist()
    for i in range(len(levels) - 1):
        pts = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        mu, std, _ = step(gauss_denoiser, pts, levels[i], levels[i + 1], **opts)
        a, b = float(mu[1] - mu[0]), float(mu[0])
        mean, var = a * mean + b, a * a * var + std**2
    return mean, var


def test_ddpm_step_is_the_forward_posterior():
    x = torch.tensor([[-1.0], [0.4], [2.5]], dtype=torch.float64)
    s, s1 = 1.7, 0.6
    mean, std, x0 = S.ddpm_step(gauss_denoiser, x, s, s1)
    # textbook VE posterior q(x_{s1} | x_s, x0) = N(x0 + (s1/s)^2 (x_s - x0), s1^2 (s^2 - s1^2)/s^2)
    assert torch.allclose(mean, x0 + (s1 / s) ** 2 * (x - x0), rtol=1e-14)
    assert math.isclose(std**2, s1**2 * (s**2 - s1**2) / s**2, rel_tol=1e-14)


def test_family_identities(gen):
    x = torch.randn(20, 2, dtype=torch.float64, generator=gen)
    s, s1 = 2.0, 0.8
    euler = S.euler_step(gauss_denoiser, x, s, s1)
    for other in [
        S.ddim_step(gauss_denoiser, x, s, s1, eta=0.0),
        S.frozen_denoiser_step(gauss_denoiser, x, s, s1, rho=0.0),
        S.frozen_eps_step(gauss_denoiser, x, s, s1, rho=0.0),
        S.euler_maruyama_step(gauss_denoiser, x, s, s1, rho=0.0),
    ]:
        assert torch.allclose(other[0], euler[0], rtol=1e-14) and other[1] == 0.0
    ddpm = S.ddpm_step(gauss_denoiser, x, s, s1)
    fd1 = S.frozen_denoiser_step(gauss_denoiser, x, s, s1, rho=1.0)
    assert torch.allclose(ddpm[0], fd1[0], rtol=1e-14) and math.isclose(
        ddpm[1], fd1[1], rel_tol=1e-14
    )
    # every step into sigma = 0 returns the denoised estimate
    for name, step in S.STEPS.items():
        mean, std, x0 = step(gauss_denoiser, x, s, 0.0)
        assert torch.allclose(mean, x0) and std == 0.0, name


@pytest.mark.parametrize("name,order", [("euler", 1.0), ("heun", 2.0), ("ddim", 1.0)])
def test_ode_convergence_orders(name, order):
    smin, smax = 0.05, 20.0
    errs = []
    ns = [16, 32, 64, 128]
    for n in ns:
        sig = karras_sigmas(n, smin, smax, zero=False)
        mean, var = affine_law(S.STEPS[name], sig, M, V + smax**2)
        errs.append(abs(var - (V + smin**2)) + abs(mean - M))
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(len(ns) - 1)]
    assert abs(rates[-1] - order) < 0.15, rates


@pytest.mark.parametrize("name", ["ddpm", "euler_maruyama", "frozen_eps", "ve_exponential"])
def test_sde_samplers_converge(name):
    smin, smax = 0.05, 20.0
    errs = []
    for n in [80, 320, 1280]:
        sig = karras_sigmas(n, smin, smax, zero=False)
        mean, var = affine_law(
            S.STEPS[name],
            sig,
            M,
            V + smax**2,
            **({"rho": 1.0} if "rho" in S.STEPS[name].__code__.co_varnames else {}),
        )
        errs.append(abs(var - (V + smin**2)))
    assert errs[2] < errs[1] < errs[0] and errs[2] < 0.002
    assert 0.8 < math.log(errs[1] / errs[2], 4) < 1.2  # first order in the step size


@pytest.mark.parametrize("name", sorted(S.SAMPLERS))
def test_monte_carlo_matches_closed_form_law(name, gen):
    # the sampler loop (noise injection, final step) against the exact Gaussian law of its recursion
    sig = karras_sigmas(12, 0.01, 10.0)
    n = 100_000
    opts = {"rho": 0.8} if "rho" in S.STEPS[name].__code__.co_varnames else {}
    if name == "ddim":
        opts = {"eta": 0.5}
    x = M + math.sqrt(V + 100.0) * torch.randn(n, 2, dtype=torch.float64, generator=gen)
    calls = []
    out = S.SAMPLERS[name](gauss_denoiser, x, sig, generator=gen, callback=calls.append, **opts)
    assert out.shape == (n, 2) and len(calls) == 12
    mean, var = affine_law(S.STEPS[name], sig, M, V + 100.0, **opts)
    tol_mean = 5 * math.sqrt(var / n)
    assert torch.allclose(out.mean(0), torch.full((2,), mean, dtype=torch.float64), atol=tol_mean)
    assert torch.allclose(out.var(0), torch.full((2,), var, dtype=torch.float64), rtol=0.02)


def test_reproducible_with_generator():
    sig = karras_sigmas(5, 0.01, 10.0)
    x = torch.zeros(100, 1, dtype=torch.float64)
    a = S.sample_euler_maruyama(
        gauss_denoiser, x, sig, rho=1.0, generator=torch.Generator().manual_seed(3)
    )
    b = S.sample_euler_maruyama(
        gauss_denoiser, x, sig, rho=1.0, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(a, b)


def test_bad_inputs():
    x = torch.zeros(4, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="strictly decreasing"):
        S.sample_euler(gauss_denoiser, x, torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2 entries"):
        S.sample_euler(gauss_denoiser, x, torch.tensor([1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match=">= 0"):
        S.sample_euler(gauss_denoiser, x, torch.tensor([1.0, -1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="eta"):
        S.sample_ddim(gauss_denoiser, x, karras_sigmas(3, 0.1, 1.0), eta=-1.0)
    with pytest.raises(ValueError, match="finite"):
        S.sample_euler(gauss_denoiser, x, torch.tensor([float("nan"), 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown sampler"):
        S.get_step("euler_heun")


# -- exact output law for Gaussian data (gaussian_output_law, gaussian_kl) -----------------
def test_gaussian_kl_closed_form_and_tiny_divergences():
    assert S.gaussian_kl(0.3, 0.5, -0.2, 0.9) == pytest.approx(
        0.5 * (0.5 / 0.9 + 0.25 / 0.9 - 1 + math.log(0.9 / 0.5)), rel=1e-14
    )
    # tiny variance mismatch: the naive formula cancels, the series keeps the digits
    r = 1e-7
    assert S.gaussian_kl(0.0, 1.0 + r, 0.0, 1.0) == pytest.approx(
        0.5 * (r**2 / 2 - r**3 / 3), rel=1e-9
    )
    assert S.gaussian_kl(1.0, 2.0, 1.0, 2.0) == 0.0


def test_gaussian_output_law_against_an_independent_recursion():
    from companion.design_space import gaussian_output_kl

    # VE exponential integrator: closed form derived separately in companion.design_space
    sig = karras_sigmas(30, 0.02, 25.0, zero=False)
    m, P = S.gaussian_output_law(S.ve_exponential_step, M, V, sig, start=(0.0, 25.0**2))
    assert S.gaussian_kl(M, V + 0.02**2, m, P) == pytest.approx(
        gaussian_output_kl(M, V, sig), rel=1e-10
    )


@pytest.mark.parametrize("name", ["euler", "heun", "ddpm", "frozen_eps"])
def test_gaussian_output_law_against_grid_propagation(name):
    from companion import grid as G
    from companion.gmm import GaussianMixture

    g = GaussianMixture([1.0], [[M]], [[V]])
    sig = karras_sigmas(9, 0.05, 10.0, zero=False)
    opts = {"rho": 1.0} if name == "frozen_eps" else {}
    start = (0.0, 10.0**2)  # not the noised data law, so the mean moves as well
    mean, var = S.gaussian_output_law(S.STEPS[name], M, V, sig, start=start, **opts)
    prior = G.GridDensity.gaussian(0.0, 10.0, 6000)
    d = G.propagate(S.STEPS[name], g.denoise, sig, prior, n_points=6000, disable=True, **opts)
    assert d.mean() == pytest.approx(mean, abs=1e-6)
    assert d.var() == pytest.approx(var, rel=1e-4)  # grid error of the convolution
    # and it is not the target law: the check can tell the sampler's bias from none
    assert abs(var - (V + 0.05**2)) > 1e-4


@pytest.mark.parametrize("name,order", [("euler", 1.0), ("heun", 2.0), ("ddpm", 1.0)])
def test_gaussian_output_law_weak_orders(name, order):
    from companion import stats

    ns = [256, 512, 1024]
    kls = []
    for n in ns:
        sig = karras_sigmas(n + 1, 0.01, 40.0, zero=False)
        mean, var = S.gaussian_output_law(S.STEPS[name], M, 0.04, sig)
        kls.append(S.gaussian_kl(M, 0.04 + 1e-4, mean, var))
    slope = stats.asymptotic_slope(ns, kls)
    assert abs(-slope.value / 2 - order) < 0.02 and slope.half_width < 0.02


def test_gaussian_output_law_rejects_bad_input():
    sig = karras_sigmas(4, 0.1, 1.0)
    with pytest.raises(ValueError):
        S.gaussian_output_law(S.euler_step, 0.0, 0.0, sig)
    with pytest.raises(ValueError):
        S.gaussian_output_law(S.euler_step, 0.0, 1.0, sig.flip(0))
    with pytest.raises(ValueError):
        S.gaussian_kl(0.0, 1.0, 0.0, 0.0)


# -- the variance-corrected (Analytic-DPM) frozen-denoiser kernel ---------------------------
def _gauss_mean_posterior_var(sigma: float) -> float:
    return V * sigma**2 / (V + sigma**2)  # Var[x0 | x] of N(M, V), the same at every state


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0, 2.0])
def test_variance_corrected_kernel_is_exact_for_gaussian_data(rho):
    corrected = S.variance_corrected_step(_gauss_mean_posterior_var)
    for n in [1, 3, 12]:  # one long jump and chains of shorter ones, from the exact marginal
        sig = karras_sigmas(n + 1, 0.05, 20.0, zero=False)
        target = V + 0.05**2
        m, P = S.gaussian_output_law(corrected, M, V, sig, rho=rho)
        assert S.gaussian_kl(M, target, m, P) < 1e-25
        assert m == pytest.approx(M, abs=1e-12) and P == pytest.approx(target, rel=1e-12)
        m0, P0 = S.gaussian_output_law(S.frozen_denoiser_step, M, V, sig, rho=rho)
        assert S.gaussian_kl(M, target, m0, P0) > 1e-4  # the uncorrected kernel is not exact


def test_variance_corrected_kernel_shares_the_mean_and_adds_the_posterior_variance(gen):
    x = torch.randn(7, 1, dtype=torch.float64, generator=gen)
    s, s1, rho = 1.3, 0.4, 0.7
    corrected = S.variance_corrected_step(_gauss_mean_posterior_var)
    mean, std, x0 = corrected(gauss_denoiser, x, s, s1, rho=rho)
    mean0, std0, _ = S.frozen_denoiser_step(gauss_denoiser, x, s, s1, rho=rho)
    assert torch.allclose(mean, mean0, rtol=1e-14)
    down = math.sqrt(s1**2 - std0**2)
    assert std**2 == pytest.approx(std0**2 + (1 - down / s) ** 2 * _gauss_mean_posterior_var(s))
    # a zero posterior variance (a point mass) gives back the uncorrected kernel
    point = S.variance_corrected_step(lambda sigma: 0.0)
    assert point(gauss_denoiser, x, s, s1, rho=rho)[1] == pytest.approx(std0, rel=1e-14)
    # into sigma = 0: the denoised estimate, as every step
    m_end, std_end, x0_end = corrected(gauss_denoiser, x, s, 0.0)
    assert torch.equal(m_end, x0_end) and std_end == 0.0
    with pytest.raises(TypeError):
        S.variance_corrected_step(0.3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        S.variance_corrected_step(lambda sigma: -1.0)(gauss_denoiser, x, s, s1)


# -- the frozen-denoiser kernel with the posterior variance at each state -------------------
def test_state_variance_kernel_equals_the_mean_variance_kernel_when_the_variance_is_constant(gen):
    """For Gaussian data Var[x0 | x] does not depend on the state, so the per-state kernel is
    variance_corrected_step's, value for value; into sigma = 0 it keeps the posterior spread."""
    x = torch.randn(9, 1, dtype=torch.float64, generator=gen)
    s, s1, rho = 1.3, 0.4, 0.7
    per_state = S.state_variance_step(
        lambda z, sigma: torch.full((z.shape[0],), _gauss_mean_posterior_var(sigma))
    )
    mean, std, x0 = per_state(gauss_denoiser, x, s, s1, rho=rho)
    mean_c, std_c, _ = S.variance_corrected_step(_gauss_mean_posterior_var)(
        gauss_denoiser, x, s, s1, rho=rho
    )
    assert std.shape == (9, 1) and torch.allclose(std, torch.full_like(std, std_c), rtol=1e-14)
    assert torch.allclose(mean, mean_c, rtol=1e-14)
    m_end, std_end, x0_end = per_state(gauss_denoiser, x, s, 0.0)
    assert torch.equal(m_end, x0_end)
    assert torch.allclose(std_end**2, torch.full_like(std_end, _gauss_mean_posterior_var(s)))
    # a state-dependent variance enters state by state
    grow = S.state_variance_step(lambda z, sigma: z[:, 0] ** 2)
    _, std_g, _ = grow(gauss_denoiser, x, s, s1, rho=rho)
    mean0, up, _ = S.frozen_denoiser_step(gauss_denoiser, x, s, s1, rho=rho)
    gain = 1 - math.sqrt(s1**2 - up**2) / s
    assert torch.allclose(std_g**2, up**2 + gain**2 * x**2, rtol=1e-13)
    with pytest.raises(TypeError):
        S.state_variance_step(0.3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        S.state_variance_step(lambda z, sigma: -torch.ones(z.shape[0]))(gauss_denoiser, x, s, s1)
    with pytest.raises(ValueError, match="shape"):
        grow(gauss_denoiser, torch.zeros(3, 2, dtype=torch.float64), s, s1)
