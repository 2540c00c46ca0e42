import math

import pytest
import torch

from companion.gmm import ConditionalGaussianMixture, GaussianMixture, ring_mixture


@pytest.fixture
def g2d() -> GaussianMixture:
    return GaussianMixture(
        [0.2, 0.5, 0.3],
        [[-2.0, 0.5], [1.0, 1.0], [0.5, -1.5]],
        [[0.3, 0.1], [0.05, 0.2], [0.4, 0.4]],
    )


@pytest.mark.parametrize("sigma", [1e-4, 0.3, 2.0, 1e4])
def test_score_matches_autograd_and_tweedie(g2d, sigma, gen):
    x = (3 * torch.randn(64, 2, dtype=torch.float64, generator=gen)).requires_grad_()
    (grad,) = torch.autograd.grad(g2d.log_prob(x, sigma).sum(), x)
    x = x.detach()
    score = g2d.score(x, sigma)
    assert torch.isfinite(score).all()
    assert torch.allclose(score, grad, rtol=1e-9, atol=1e-12 / sigma**2)
    assert torch.allclose(g2d.denoise(x, sigma), x + sigma**2 * score, rtol=1e-9, atol=1e-9)


def test_per_sample_sigma(g2d, gen):
    x = torch.randn(5, 2, dtype=torch.float64, generator=gen)
    s = torch.tensor([0.1, 0.5, 1.0, 3.0, 10.0], dtype=torch.float64)
    batched = g2d.denoise(x, s)
    single = torch.stack([g2d.denoise(x[i : i + 1], float(s[i]))[0] for i in range(5)])
    assert torch.allclose(batched, single, rtol=1e-13)


def test_posterior_cov_second_order_tweedie(g2d, gen):
    # Cov[x | x~] = sigma^2 (I + sigma^2 Hessian log p)
    sigma = 0.7
    for _ in range(3):
        x = torch.randn(1, 2, dtype=torch.float64, generator=gen)
        hess = torch.autograd.functional.hessian(
            lambda z: g2d.log_prob(z.unsqueeze(0), sigma)[0], x[0]
        )
        expected = sigma**2 * (torch.eye(2, dtype=torch.float64) + sigma**2 * hess)
        assert torch.allclose(g2d.posterior_cov(x, sigma)[0], expected, rtol=1e-8, atol=1e-12)


def test_log_prob_normalised_and_noised():
    g = GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [0.1, 0.3])
    x = torch.linspace(-60, 60, 400_001, dtype=torch.float64).unsqueeze(-1)
    for sigma in [1e-2, 1.0, 5.0]:
        assert math.isclose(float(torch.trapezoid(g.prob(x, sigma), x[:, 0])), 1.0, rel_tol=1e-9)
    # law of alpha x + sigma eps = noised mixture; its SNR form is sigma/alpha
    a, s = 0.6, 0.8
    z = torch.linspace(-3, 3, 11, dtype=torch.float64).unsqueeze(-1)
    lhs = g.noised(a, s).log_prob(z)
    rhs = g.log_prob(z / a, s / a) - math.log(a)
    assert torch.allclose(lhs, rhs, rtol=1e-12)


def test_moments_against_monte_carlo(g2d, gen):
    x = g2d.sample(400_000, gen)
    assert torch.allclose(x.mean(0), g2d.mean(), atol=0.01)
    assert torch.allclose(torch.cov(x.T), g2d.covariance(), atol=0.02)


def test_mmse_quadrature_vs_monte_carlo(gen):
    g = GaussianMixture([0.4, 0.6], [[-1.5], [1.0]], [0.2, 0.1])
    quad, qerr = g.mmse(0.8)
    x0 = g.sample(400_000, gen)
    xt = x0 + 0.8 * torch.randn(x0.shape, dtype=torch.float64, generator=gen)
    err = ((x0 - g.denoise(xt, 0.8)) ** 2).sum(-1)
    assert abs(quad - float(err.mean())) < 4 * float(err.std()) / math.sqrt(err.numel())
    assert qerr < 1e-8
    # Gaussian special case: mmse = v s^2 / (v + s^2)
    single = GaussianMixture([1.0], [[0.3]], [0.5])
    assert math.isclose(single.mmse(0.8)[0], 0.5 * 0.64 / 1.14, rel_tol=1e-10)


def test_reverse_kernel_is_bayes(gen):
    # q(z_s | z_t) p_t(z_t) = p_s(z_s) N(z_t; a z_s, b^2) pointwise
    g = GaussianMixture([0.2, 0.5, 0.3], [[-2.0], [0.3], [1.8]], [0.05, 0.2, 0.1])
    a_s, s_s, a_t, s_t = 0.9, math.sqrt(1 - 0.81), 0.7, math.sqrt(1 - 0.49)
    ker = g.reverse_kernel(a_s, s_s, a_t, s_t)
    a = a_t / a_s
    b2 = s_t**2 - a**2 * s_s**2
    zs = torch.randn(50, 1, dtype=torch.float64, generator=gen) * 1.5
    zt = torch.randn(50, 1, dtype=torch.float64, generator=gen) * 1.5
    lhs = ker.log_prob(zs, zt) + g.noised(a_t, s_t).log_prob(zt)
    rhs = (
        g.noised(a_s, s_s).log_prob(zs)
        - 0.5 * ((zt - a * zs) ** 2 / b2 + math.log(2 * math.pi * b2))[:, 0]
    )
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    assert torch.allclose(
        torch.logsumexp(ker.logits(zt), -1), torch.zeros(50, dtype=torch.float64), atol=1e-12
    )
    draws = ker.sample(zt[:1].expand(200_000, 1).contiguous(), gen)
    mean = (torch.exp(ker.logits(zt[:1]))[0] * ker.means(zt[:1])[0, :, 0]).sum()
    assert abs(float(draws.mean()) - float(mean)) < 0.01
    with pytest.raises(ValueError, match="must add noise"):
        g.reverse_kernel(0.7, 0.71, 0.9, 0.2)


def test_conditional_reverse_kernel_is_the_batched_kernel_of_each_context(gen):
    cm = ConditionalGaussianMixture(
        lambda c: torch.softmax(torch.stack([c, -c], -1), -1),
        lambda c: torch.stack([c - 1.0, 2.0 * c], -1).unsqueeze(-1),
        lambda c: torch.stack([0.1 + 0.0 * c, 0.2 + 0.1 * c], -1).unsqueeze(-1),
    )
    c = torch.tensor([0.0, 0.3, 0.9, 0.9], dtype=torch.float64)
    z = torch.randn(4, 1, dtype=torch.float64, generator=gen)
    y = torch.randn(4, 1, dtype=torch.float64, generator=gen)
    levels = (0.9, math.sqrt(1 - 0.81), 0.6, math.sqrt(1 - 0.36))
    batch = cm.reverse_kernel(c, *levels)
    for i, ci in enumerate(c.tolist()):
        one = cm.at(ci).reverse_kernel(*levels)
        zi, yi = z[i : i + 1], y[i : i + 1]
        assert torch.allclose(batch.logits(z)[i], one.logits(zi)[0], atol=1e-13)
        assert torch.allclose(batch.means(z)[i], one.means(zi)[0], atol=1e-13)
        assert torch.allclose(batch.log_prob(y, z)[i], one.log_prob(yi, zi)[0], atol=1e-13)
    draws = batch.sample(z, gen)
    assert draws.shape == (4, 1) and batch.n_components == 2


def test_conditional_mixture(gen):
    cm = ConditionalGaussianMixture(
        lambda c: torch.stack([c, 1 - c], -1),
        lambda c: torch.stack([-1 - c, 1 + c], -1).unsqueeze(-1),
        lambda c: torch.full((c.shape[0], 2, 1), 0.1, dtype=torch.float64),
    )
    c = torch.tensor([0.2, 0.7], dtype=torch.float64)
    x = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)
    direct = torch.stack([cm.at(0.2).log_prob(x[:1], 0.3)[0], cm.at(0.7).log_prob(x[1:], 0.3)[0]])
    assert torch.allclose(cm.log_prob(x, c, 0.3), direct, rtol=1e-13)
    assert cm.sample(torch.full((10,), 0.5, dtype=torch.float64), gen).shape == (10, 1)


def test_ring():
    r = ring_mixture(8, radius=2.0, std=0.1)
    assert r.n_components == 8 and r.dim == 2
    assert torch.allclose(r.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        GaussianMixture([-0.1, 1.1], [[0.0], [1.0]], 1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture([0.5, 0.6], [[0.0], [1.0]], 1.0)
    with pytest.raises(ValueError, match="means"):
        GaussianMixture([0.5, 0.5], [[0.0], [1.0], [2.0]], 1.0)
    with pytest.raises(ValueError, match="finite"):
        GaussianMixture([0.5, 0.5], [[0.0], [float("nan")]], 1.0)
    g = GaussianMixture([0.5, 0.5], [[0.0], [1.0]], 1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\)"):
        g.denoise(torch.zeros(3, 2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="sigma must be a scalar or have shape"):
        g.denoise(torch.zeros(3, 1, dtype=torch.float64), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("sigma", [1e-8, 1e-6, 1e-4, 1e-2])
def test_posterior_cov_keeps_its_digits_at_small_sigma(sigma):
    # at a component mean far from the others Cov[x | x~] = sigma^2 v / (v + sigma^2): recovering
    # sigma^2 as (v + sigma^2) - v would lose every digit at sigma = 1e-8 (relative error ~0.1)
    g = GaussianMixture([0.5, 0.5], [[-50.0, 0.0], [50.0, 1.0]], [[0.3, 0.05], [0.2, 0.4]])
    x = g.means[1:]
    cov = g.posterior_cov(x, sigma)[0]
    expected = sigma**2 * g.variances[1] / (g.variances[1] + sigma**2)
    assert torch.allclose(cov.diagonal(), expected, rtol=1e-12, atol=0.0)
    assert float(cov[0, 1]) == 0.0
    per_sample = g.posterior_cov(x, torch.tensor([sigma], dtype=torch.float64))[0]
    assert torch.allclose(per_sample, cov, rtol=1e-14, atol=0.0)
