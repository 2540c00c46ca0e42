"""FullCovarianceMixture: closed forms against autograd, Tweedie, Monte Carlo and the diagonal class."""

import math

import pytest
import torch

import companion.gmm as gmm
from companion.gmm import FullCovarianceMixture, GaussianMixture


def random_mixture(
    K: int, d: int, gen: torch.Generator, cond: float = 100.0, spread: float = 2.0
) -> FullCovarianceMixture:
    """Random weights, means and rotated covariances with eigenvalues in [1/cond, 1]."""
    w = torch.softmax(torch.randn(K, dtype=torch.float64, generator=gen), 0)
    m = spread * torch.randn(K, d, dtype=torch.float64, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(K, d, d, dtype=torch.float64, generator=gen))
    lam = cond ** -torch.rand(K, d, dtype=torch.float64, generator=gen)
    cov = (q * lam.unsqueeze(-2)) @ q.transpose(-2, -1)
    return FullCovarianceMixture(w, m, cov)


@pytest.fixture
def f5(gen) -> FullCovarianceMixture:
    return random_mixture(4, 5, gen)


def direct_log_prob(f: FullCovarianceMixture, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Independent evaluation: Cholesky of every Sigma_k + sigma^2 I via torch.distributions."""
    cov = f.covariances + sigma**2 * torch.eye(f.dim, dtype=torch.float64)
    comp = torch.distributions.MultivariateNormal(f.means, covariance_matrix=cov)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(f.weights), comp)
    return mix.log_prob(x)


@pytest.mark.parametrize("sigma", [1e-3, 0.3, 2.0, 50.0])
def test_log_prob_score_denoiser(f5, sigma, gen):
    x = f5.sample(32, gen) + sigma * torch.randn(32, 5, dtype=torch.float64, generator=gen)
    x.requires_grad_()
    logp = f5.log_prob(x, sigma)
    (grad,) = torch.autograd.grad(logp.sum(), x)
    x = x.detach()
    assert torch.allclose(logp.detach(), direct_log_prob(f5, x, sigma), rtol=1e-10, atol=1e-10)
    score = f5.score(x, sigma)
    assert torch.allclose(score, grad, rtol=1e-9, atol=1e-9 / sigma**2)
    # Tweedie: E[x | x~] = x~ + sigma^2 score
    assert torch.allclose(f5.denoise(x, sigma), x + sigma**2 * score, rtol=1e-8, atol=1e-8)
    assert torch.allclose(f5(x, sigma), f5.denoise(x, sigma))
    r = f5.responsibilities(x, sigma)
    assert r.shape == (32, 4) and torch.allclose(r.sum(-1), torch.ones(32, dtype=torch.float64))


@pytest.mark.parametrize("sigma", [0.1, 0.7, 3.0])
def test_posterior_cov_second_order_tweedie(f5, sigma, gen):
    # Cov[x | x~] = sigma^2 (I + sigma^2 Hessian log p_sigma)
    x = f5.sample(3, gen) + sigma * torch.randn(3, 5, dtype=torch.float64, generator=gen)
    cov = f5.posterior_cov(x, sigma)
    eye = torch.eye(5, dtype=torch.float64)
    for i in range(3):
        hess = torch.autograd.functional.hessian(
            lambda z: f5.log_prob(z.unsqueeze(0), sigma)[0], x[i]
        )
        expected = sigma**2 * (eye + sigma**2 * hess)
        assert torch.allclose(cov[i], expected, rtol=1e-7, atol=1e-10 * max(1.0, sigma**4))
        assert torch.allclose(cov[i], cov[i].T, atol=1e-14)
        assert float(torch.linalg.eigvalsh(cov[i]).min()) > 0


def test_per_sample_sigma_matches_scalar(f5, gen):
    x = torch.randn(6, 5, dtype=torch.float64, generator=gen)
    s = torch.tensor([1e-4, 0.1, 0.5, 1.0, 3.0, 1e3], dtype=torch.float64)
    for method in ["log_prob", "score", "denoise", "posterior_cov", "responsibilities"]:
        batched = getattr(f5, method)(x, s)
        single = torch.cat([getattr(f5, method)(x[i : i + 1], float(s[i])) for i in range(6)])
        assert torch.allclose(batched, single, rtol=1e-12, atol=1e-14), method
        # one level for all, as samplers pass it: the scalar path
        same = getattr(f5, method)(x, torch.full((6,), 0.5, dtype=torch.float64))
        assert torch.equal(same, getattr(f5, method)(x, 0.5)), method


def test_chunked_equals_unchunked(f5, monkeypatch):
    def run() -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(7)
        x = torch.randn(50, 5, dtype=torch.float64, generator=g)
        s = torch.rand(50, dtype=torch.float64, generator=g) + 0.1
        return [f5.log_prob(x, s), f5.denoise(x, 0.4), f5.posterior_cov(x, s), f5.sample(40, g)]

    whole = run()
    monkeypatch.setattr(gmm, "_MAX_ENTRIES", 7 * 4 * 5)  # chunks of 7 samples, 1 for covariances
    for a, b in zip(whole, run(), strict=True):
        assert torch.allclose(a, b, rtol=1e-13, atol=1e-15)


def test_noised_density_matches_monte_carlo(gen):
    # p_sigma(z) = E_{x ~ p} N(z; x, sigma^2 I): samples of the mixture against the closed form.
    f = random_mixture(3, 3, gen, cond=10.0, spread=1.5)
    sigma, n = 0.6, 400_000
    xs = f.sample(n, gen)
    z = f.sample(5, gen) + 0.5
    sq = torch.cdist(z, xs) ** 2
    kern = torch.exp(-sq / (2 * sigma**2)) / (2 * math.pi * sigma**2) ** 1.5
    mc, se = kern.mean(1), kern.std(1) / math.sqrt(n)
    exact = f.prob(z, sigma)
    assert (((mc - exact) / se).abs() < 4.5).all(), ((mc - exact) / se).tolist()
    assert ((mc - exact).abs() / exact < 0.03).all()
    # sample moments
    assert torch.allclose(
        xs.mean(0), f.mean(), atol=5 * float(f.covariance().diag().max()) ** 0.5 / n**0.5
    )
    assert torch.allclose(torch.cov(xs.T), f.covariance(), atol=0.03)


def test_noised_law(f5, gen):
    # law of alpha x + sigma eps; its SNR form is sigma / alpha
    a, s = 0.6, 0.8
    z = torch.randn(7, 5, dtype=torch.float64, generator=gen)
    lhs = f5.noised(a, s).log_prob(z)
    rhs = f5.log_prob(z / a, s / a) - 5 * math.log(a)
    assert torch.allclose(lhs, rhs, rtol=1e-12)


def test_agrees_with_diagonal_mixture(gen):
    K, d = 3, 6
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    m = torch.randn(K, d, dtype=torch.float64, generator=gen)
    v = torch.rand(K, d, dtype=torch.float64, generator=gen) + 0.05
    v[0, :3] = 0.4  # a repeated eigenvalue: eigh picks an arbitrary basis of its eigenspace
    diag, full = GaussianMixture(w, m, v), FullCovarianceMixture(w, m, torch.diag_embed(v))
    x = 2 * torch.randn(20, d, dtype=torch.float64, generator=gen)
    for sigma in [1e-3, 0.5, torch.rand(20, dtype=torch.float64, generator=gen) * 3, 1e3]:
        for method in ["log_prob", "score", "denoise", "posterior_cov", "responsibilities"]:
            a, b = getattr(diag, method)(x, sigma), getattr(full, method)(x, sigma)
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), method
    assert torch.allclose(diag.covariance(), full.covariance(), atol=1e-14)
    assert torch.allclose(diag.mean(), full.mean(), atol=1e-15)


def test_stable_from_1e_minus_4_to_1e4_in_64d(gen):
    f = random_mixture(8, 64, gen, cond=1e4, spread=1.0)
    x0 = f.sample(64, gen)
    far = 30 * torch.randn(8, 64, dtype=torch.float64, generator=gen)
    for sigma in torch.logspace(-4, 4, 9, dtype=torch.float64).tolist():
        z = torch.cat([x0 + sigma * torch.randn(x0.shape, dtype=torch.float64, generator=gen), far])
        logp, score, den = f.log_prob(z, sigma), f.score(z, sigma), f.denoise(z, sigma)
        for name, t in [("log_prob", logp), ("score", score), ("denoise", den)]:
            assert torch.isfinite(t).all(), (name, sigma)
        assert torch.isfinite(f.posterior_cov(z[:4], sigma)).all()
    # limits: the denoiser is the identity at tiny noise and the mixture mean at huge noise
    assert torch.allclose(f.denoise(x0, 1e-4), x0, atol=1e-3)
    z = 1e4 * torch.randn(16, 64, dtype=torch.float64, generator=gen)
    assert torch.allclose(f.denoise(z, 1e4), f.mean().expand(16, 64), atol=1e-2)


def test_from_eigh_and_to(f5, gen):
    g = FullCovarianceMixture.from_eigh(f5.weights, f5.means, f5.eigenvalues, f5.eigenvectors)
    x = torch.randn(4, 5, dtype=torch.float64, generator=gen)
    assert torch.equal(g.score(x, 0.3), f5.score(x, 0.3))
    assert torch.equal(f5.to("cpu").log_prob(x), f5.log_prob(x))
    rebuilt = FullCovarianceMixture(f5.weights, f5.means, f5.covariances)
    assert torch.allclose(rebuilt.log_prob(x, 0.2), f5.log_prob(x, 0.2), rtol=1e-12)
    assert repr(f5) == "FullCovarianceMixture(K=4, d=5)"


def test_sample_reproducible(f5):
    a = f5.sample(10, torch.Generator().manual_seed(3))
    b = f5.sample(10, torch.Generator().manual_seed(3))
    assert a.dtype == torch.float64 and a.shape == (10, 5) and torch.equal(a, b)


def test_errors():
    eye = torch.eye(2, dtype=torch.float64).expand(2, 2, 2).clone()
    w, m = [0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match="weights must sum to 1"):
        FullCovarianceMixture([0.5, 0.6], m, eye)
    with pytest.raises(ValueError, match="weights must be non-negative"):
        FullCovarianceMixture([1.5, -0.5], m, eye)
    with pytest.raises(ValueError, match="means"):
        FullCovarianceMixture(w, [[0.0, 0.0]], eye)
    with pytest.raises(ValueError, match=r"covariances must have shape \(K, d, d\)"):
        FullCovarianceMixture(w, m, torch.eye(2, dtype=torch.float64))
    asym = eye.clone()
    asym[1, 0, 1] = 0.5
    with pytest.raises(ValueError, match=r"covariances must be symmetric; covariances\[1\]"):
        FullCovarianceMixture(w, m, asym)
    indef = eye.clone()
    indef[0] = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"positive definite; covariances\[0\].*-1"):
        FullCovarianceMixture(w, m, indef)
    singular = eye.clone()
    singular[1] = torch.ones(2, 2)
    with pytest.raises(ValueError, match=r"positive definite; covariances\[1\]"):
        FullCovarianceMixture(w, m, singular)
    nan = eye.clone()
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="covariances must be finite"):
        FullCovarianceMixture(w, m, nan)
    f = FullCovarianceMixture(w, m, eye)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        f.log_prob(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"sigma must be a scalar or have shape \(3,\)"):
        f.score(torch.zeros(3, 2), torch.ones(2))
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        f.denoise(torch.zeros(3, 2), -1.0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        f.sample(0)
    with pytest.raises(ValueError, match="eigenvalues must be > 0"):
        FullCovarianceMixture.from_eigh(f.weights, f.means, -f.eigenvalues, f.eigenvectors)
