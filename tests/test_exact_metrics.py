"""Cross-entropy against an exact target and distances with their noise floors (companion.metrics)."""

import math

import pytest
import torch

from companion.gmm import FullCovarianceMixture
from companion.metrics import (
    cross_entropy_vs_entropy,
    distance_vs_floor,
    frechet_distance,
    sliced_w2,
)

D = 6


@pytest.fixture
def gaussian(gen) -> FullCovarianceMixture:
    """A single full-covariance Gaussian: entropy and cross-entropies in closed form."""
    a = torch.randn(D, D, dtype=torch.float64, generator=gen)
    cov = a @ a.T / D + 0.2 * torch.eye(D, dtype=torch.float64)
    mean = torch.randn(1, D, dtype=torch.float64, generator=gen)
    return FullCovarianceMixture([1.0], mean, cov.unsqueeze(0))


def scaled_samples(p: FullCovarianceMixture, n: int, c: float, gen) -> torch.Tensor:
    """Samples of N(mu, c^2 Sigma)."""
    return p.means[0] + c * (p.sample(n, gen) - p.means[0])


def test_cross_entropy_matches_closed_form(gaussian, gen):
    # H(p) = 0.5 log det(2 pi e Sigma); for q = N(mu, c^2 Sigma): CE = 0.5 log det(2 pi Sigma)
    # + 0.5 c^2 d, so the excess is 0.5 d (c^2 - 1).
    logdet = float(torch.log(gaussian.eigenvalues).sum())
    entropy = 0.5 * (D * math.log(2 * math.pi * math.e) + logdet)
    for c in [1.0, 1.3, 0.8]:
        out = cross_entropy_vs_entropy(
            gaussian.log_prob,
            scaled_samples(gaussian, 20_000, c, gen),
            gaussian.sample(20_000, gen),
        )
        ce = 0.5 * (D * math.log(2 * math.pi) + logdet) + 0.5 * c**2 * D
        for interval, exact in [
            (out.entropy, entropy),
            (out.cross_entropy, ce),
            (out.excess, ce - entropy),
        ]:
            assert interval.kind in {"t", "paired-t"} and interval.n == 20
            # within two half-widths (about 4 standard errors) of the closed form
            assert abs(interval.value - exact) < 2 * interval.half_width, (c, interval, exact)
            assert interval.half_width < 0.1
    # c < 1 scores below the floor: the excess is not a divergence
    assert out.excess.high < 0


def test_cross_entropy_equal_laws_cover_zero_and_errors(gaussian, gen):
    out = cross_entropy_vs_entropy(
        gaussian.log_prob, gaussian.sample(4000, gen), gaussian.sample(2000, gen), n_batches=10
    )
    assert out.excess.low < 0 < out.excess.high
    assert "10 batches of 400 (generated) and 200 (target)" in out.excess.note
    with pytest.raises(ValueError, match="generated must hold a multiple of n_batches=10"):
        cross_entropy_vs_entropy(
            gaussian.log_prob, gaussian.sample(995, gen), gaussian.sample(1000, gen), n_batches=10
        )
    with pytest.raises(ValueError, match="n_batches must be an integer >= 2"):
        cross_entropy_vs_entropy(
            gaussian.log_prob, gaussian.sample(10, gen), gaussian.sample(10, gen), n_batches=1
        )
    with pytest.raises(ValueError, match="same d"):
        cross_entropy_vs_entropy(
            gaussian.log_prob, gaussian.sample(10, gen), torch.zeros(10, 3), n_batches=2
        )


def test_distance_floor_and_excess(gaussian, gen):
    n = 10_000
    reference, fresh = gaussian.sample(2 * n, gen), gaussian.sample(n, gen)
    # equal laws: the excess covers zero, the floor is the finite-sample bias (> 0)
    same = distance_vs_floor(frechet_distance, gaussian.sample(n, gen), reference, fresh)
    assert same.floor.low > 0 and same.excess.low < 0 < same.excess.high
    assert same.distance.n == same.floor.n == same.excess.n == 10
    # a mean shift delta in every coordinate: the Frechet excess is d delta^2 (same covariance)
    delta = 0.1
    shifted = gaussian.sample(n, gen) + delta
    out = distance_vs_floor(frechet_distance, shifted, reference, fresh)
    assert abs(out.excess.value - D * delta**2) < 2 * out.excess.half_width + 0.01
    assert out.excess.low > 0
    # the sliced W2 with common directions sees the same shift
    sw2 = distance_vs_floor(
        lambda x, y: sliced_w2(x, y, generator=torch.Generator().manual_seed(0)),
        shifted,
        reference,
        fresh,
        n_batches=5,
    )
    assert sw2.excess.low > 0 and sw2.floor.value > 0


def test_distance_errors(gaussian, gen):
    x = gaussian.sample(100, gen)
    with pytest.raises(ValueError, match="fresh must have the shape of generated"):
        distance_vs_floor(frechet_distance, x, x, x[:50])
    with pytest.raises(ValueError, match="reference must hold a multiple of n_batches=10"):
        distance_vs_floor(frechet_distance, x, x[:55], x)
