"""Tests of companion.conditional_targets: the mixture target and the Gumbel-Beta target."""

from __future__ import annotations

import math

import pytest
import torch

from companion.conditional_targets import GumbelBetaTarget, MixtureTarget
from companion.gmm import ConditionalGaussianMixture

F64 = torch.float64


def _cgm() -> ConditionalGaussianMixture:
    return ConditionalGaussianMixture(
        lambda c: torch.stack([0.3 + 0.4 * c, 0.7 - 0.4 * c], -1),
        lambda c: torch.stack([-1.0 + c, 1.5 + 0 * c], -1).unsqueeze(-1),
        lambda c: torch.stack([0.2 + 0.1 * c, 0.4 + 0 * c], -1).unsqueeze(-1),
    )


# -- the mixture target ------------------------------------------------------------------------
def test_mixture_target_marginal_is_the_noised_mixture():
    target, cgm = MixtureTarget(_cgm()), _cgm()
    z = torch.linspace(-8, 8, 3201, dtype=F64)
    for c, alpha, sigma in [(0.0, 1.0, 0.0), (0.4, 0.8, 0.6), (1.0, 0.3, 0.95)]:
        expected = cgm.at(c).noised(alpha, sigma).log_prob(z.unsqueeze(-1))
        got = target.log_marginal(z, c, alpha, sigma)
        assert got.shape == (z.numel(),)
        assert torch.allclose(got, expected, rtol=0, atol=1e-12)
        assert float(torch.trapezoid(got.exp(), z)) == pytest.approx(1.0, abs=1e-8)


def test_mixture_target_components_and_samples():
    target = MixtureTarget(_cgm())
    assert target.n_components == 2
    w, m, v = target.components(torch.tensor([0.0, 1.0], dtype=F64))
    assert w.shape == m.shape == v.shape == (2, 2)
    assert torch.allclose(w[1], torch.tensor([0.7, 0.3], dtype=F64))
    c = torch.full((200_000,), 0.5, dtype=F64)
    s = target.sample(c, torch.Generator().manual_seed(0))
    mean = 0.5 * (-0.5) + 0.5 * 1.5  # weights 0.5/0.5 at c = 0.5
    assert s.shape == (200_000,) and s.dtype == F64
    assert abs(float(s.mean()) - mean) < 5 * float(s.std()) / math.sqrt(s.numel())
    with pytest.raises(TypeError, match="ConditionalGaussianMixture"):
        MixtureTarget("not a mixture")  # type: ignore[arg-type]


# -- the non-mixture target ----------------------------------------------------------------------
def test_gumbel_beta_density_and_samples():
    g = GumbelBetaTarget()
    x = torch.linspace(-4, 12, 40001, dtype=F64)
    gen = torch.Generator().manual_seed(1)
    for c in (0.0, 0.6):
        p = torch.exp(g.log_prob(x, c))
        assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-6)
        mean = float(torch.trapezoid(x * p, x))
        s = g.sample(torch.full((100_000,), c), gen)
        assert abs(float(s.mean()) - mean) < 5 * float(s.std()) / math.sqrt(s.numel())
    # noised marginal: normalised, and its mean is alpha times the data mean
    z = torch.linspace(-7, 9, 3201, dtype=F64)
    q = torch.exp(g.log_marginal(z, 0.6, 0.8, 0.6))
    assert float(torch.trapezoid(q, z)) == pytest.approx(1.0, abs=1e-8)
    assert float(torch.trapezoid(z * q, z)) == pytest.approx(0.8 * mean, abs=1e-6)
    with pytest.raises(ValueError, match="c must"):
        g.log_prob(x, 1.5)
    with pytest.raises(ValueError, match="n_quad"):
        GumbelBetaTarget(n_quad=10)
