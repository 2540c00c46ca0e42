"""Tests of companion.information against closed forms and the I-MMSE relations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion import information as info
from companion.conditional_targets import MixtureTarget
from companion.gmm import ConditionalGaussianMixture, GaussianMixture
from companion.s2n import derivative

F64 = torch.float64


@pytest.fixture
def mix() -> GaussianMixture:
    return GaussianMixture([0.3, 0.7], [[-1.5], [1.0]], [0.05, 0.2])


def _gaussian_target(mean: float, var: float) -> MixtureTarget:
    return MixtureTarget(
        ConditionalGaussianMixture(
            lambda c: torch.ones(c.shape[0], 1, dtype=F64),
            lambda c: torch.full((c.shape[0], 1, 1), mean, dtype=F64),
            lambda c: torch.full((c.shape[0], 1, 1), var, dtype=F64),
        )
    )


def _shifted_target(scale: float, var: float) -> MixtureTarget:
    """q(x0 | c) = N(scale * c, var): one Gaussian whose mean moves with the context."""
    return MixtureTarget(
        ConditionalGaussianMixture(
            lambda c: torch.ones(c.shape[0], 1, dtype=F64),
            lambda c: (scale * c).reshape(-1, 1, 1),
            lambda c: torch.full((c.shape[0], 1, 1), var, dtype=F64),
        )
    )


# -- the Gaussian channel: closed forms for Gaussian data -------------------------------------------
@pytest.mark.parametrize("snr", [0.01, 0.3, 2.5, 40.0])
def test_mutual_information_of_a_gaussian_is_half_log_one_plus_snr(snr):
    # I(X; sqrt(snr) X + N) = 0.5 log(1 + snr var(X)) for Gaussian X, whatever its mean
    for mean, var in [(0.0, 1.0), (0.3, 0.7), (-2.0, 3.0)]:
        g = GaussianMixture([1.0], [[mean]], var)
        assert info.mutual_information(g, snr) == pytest.approx(
            0.5 * math.log1p(snr * var), rel=1e-9, abs=1e-12
        )


def test_gaussian_closed_forms():
    v, lam = 0.7, 2.5
    g = GaussianMixture([1.0], [[0.3]], v)
    assert abs(info.mutual_information(g, lam) - 0.5 * math.log(1 + lam * v)) < 1e-10
    assert abs(info.mmse(g, lam) - v / (1 + lam * v)) < 1e-10
    # entropy of N(m, v + s^2): 0.5 log(2 pi e (v + s^2))
    for s in (0.0, 0.4):
        want = 0.5 * math.log(2 * math.pi * math.e * (v + s**2))
        assert abs(info.entropy(g, s) - want) < 1e-10
    # two Gaussians through the channel: KL of N(m_p, v_p + s^2) and N(m_q, v_q + s^2)
    p, q = GaussianMixture([1.0], [[0.0]], 0.5), GaussianMixture([1.0], [[1.0]], 1.2)
    s2 = 1 / lam
    vp, vq = 0.5 + s2, 1.2 + s2
    kl = 0.5 * (vp / vq + 1.0 / vq - 1 + math.log(vq / vp))
    assert abs(info.kl_noised(p, q, lam) - kl) < 1e-10
    kl0 = 0.5 * (0.5 / 1.2 + 1.0 / 1.2 - 1 + math.log(1.2 / 0.5))
    assert abs(info.kl_noised(p, q, None) - kl0) < 1e-10
    # mismatch: denoisers are affine, x_hat = m + v/(v+s^2) (y - m), y ~ N(0, vp)
    ap, aq = 0.5 / vp, 1.2 / vq
    diff_var = (ap - aq) ** 2 * vp + 1.0 * (1 - aq) ** 2  # (ap-aq) y - (1 - aq) * 1
    assert abs(info.mismatch(p, q, lam) - diff_var) < 1e-10


# -- the Gaussian channel: I-MMSE identities on a mixture ------------------------------------------
def test_identities_hold_for_mixtures(mix):
    q = GaussianMixture([0.5, 0.5], [[-1.0], [1.3]], [0.15, 0.1])
    lam = 1.7
    dI = derivative(lambda u: info.mutual_information(mix, u, 4001), lam, 1e-3)
    assert abs(dI / (0.5 * info.mmse(mix, lam, 4001)) - 1) < 1e-7
    dK = derivative(lambda u: info.kl_noised(mix, q, u, 4001), lam, 1e-3)
    assert abs(dK / (0.5 * info.mismatch(mix, q, lam, 4001)) - 1) < 1e-7


def test_integrated_i_mmse_on_a_mixture(mix):
    # the integral form of I-MMSE: I(lam) = 0.5 int_0^lam mmse(u) du (Gauss-Legendre in u)
    u, w = np.polynomial.legendre.leggauss(40)
    lam1 = 3.0
    nodes = 0.5 * lam1 * (u + 1)
    mmses = np.array([info.mmse(mix, float(x)) for x in nodes])
    integral = 0.5 * 0.5 * lam1 * float(w @ mmses)
    assert info.mutual_information(mix, lam1) == pytest.approx(integral, rel=1e-8)
    # and mmse is below the Gaussian bound var(X) / (1 + lam var(X)) (Gaussian is worst case)
    var = float(mix.covariance()[0, 0])
    assert info.mmse(mix, 1.0) < var / (1 + var)


def test_kl_from_mismatch_recovers_kl():
    p, q = GaussianMixture([1.0], [[0.0]], 0.5), GaussianMixture([1.0], [[1.0]], 1.2)
    total, running = info.kl_from_mismatch(
        p, q, torch.arange(-16.0, 18.0, 0.1, dtype=torch.float64), 2001
    )
    assert abs(total / info.kl_noised(p, q, None) - 1) < 1e-5
    assert running.shape == (340,) and running[0] == 0.0
    assert np.all(np.diff(running) >= 0)
    with pytest.raises(ValueError, match="log_lambda"):
        info.kl_from_mismatch(p, q, torch.tensor([1.0, 0.0, 2.0]))


def test_channel_quantities_validate(mix):
    ring = GaussianMixture([1.0], [[0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        info.mutual_information(ring, 1.0)
    with pytest.raises(ValueError, match="lam"):
        info.mmse(mix, 0.0)
    with pytest.raises(ValueError, match="n_points"):
        info.mismatch(mix, mix, 1.0, n_points=10)
    with pytest.raises(ValueError, match="sigma"):
        info.entropy(mix, -1.0)


# -- data and context ------------------------------------------------------------------------------
def test_context_mutual_information():
    x = torch.linspace(-6, 6, 2001, dtype=F64)
    # a target that ignores the context carries no information about it
    assert abs(info.context_mutual_information(_gaussian_target(0.3, 0.5), [0.0, 1.0], x)) < 1e-14
    # well separated laws identify the context: I(X0; C) = H(C) = log n
    far = _shifted_target(20.0, 0.25)
    x = torch.linspace(-10, 70, 16001, dtype=F64)
    for contexts in ([0.0, 1.0], [0.0, 1.0, 2.0, 3.0]):
        got = info.context_mutual_information(far, contexts, x)
        assert got == pytest.approx(math.log(len(contexts)), abs=1e-9)
    # overlapping laws: strictly between 0 and log 2, increasing with the separation
    x = torch.linspace(-8, 10, 8001, dtype=F64)
    vals = [
        info.context_mutual_information(_shifted_target(d, 1.0), [0.0, 1.0], x) for d in (0.5, 1, 2)
    ]
    assert 0 < vals[0] < vals[1] < vals[2] < math.log(2)
    with pytest.raises(ValueError, match="contexts"):
        info.context_mutual_information(far, [], x)


# -- pointwise identities, the derivative of the mmse, the diffusion loss ---------------------------
def test_pointwise_quantities_of_a_gaussian_in_closed_form():
    # X ~ N(0, v): KL(N(sqrt(l) x, 1) || N(0, 1 + l v)) and the error (x^2 + l v^2) v / (1 + l v)^2
    v, lam = 0.6, 2.2
    g = GaussianMixture([1.0], [[0.0]], v)
    for x in (-1.3, 0.0, 0.8):
        a = 1 + lam * v
        kl = 0.5 * ((1 + lam * x * x) / a - 1 + math.log(a))
        assert info.conditional_information(g, x, lam, 4001) == pytest.approx(kl, rel=1e-10)
        err = x * x / a**2 + lam * v * v / a**2
        assert info.conditional_error(g, x, lam, 4001) == pytest.approx(err, rel=1e-10)
    # d mmse / d lam = -E[Var^2] = -(v / (1 + lam v))^2 for Gaussian data
    assert info.mmse_derivative(g, lam, 4001) == pytest.approx(-((v / (1 + lam * v)) ** 2))


@pytest.mark.parametrize("lam", [0.2, 3.0, 60.0])
def test_pointwise_i_mmse_and_mmse_derivative_on_a_mixture(mix, lam):
    h = 1e-3 * lam
    for x in (-1.5, 0.1, 1.0):
        dI = derivative(lambda u, x=x: info.conditional_information(mix, x, u, 4001), lam, h)
        assert dI == pytest.approx(0.5 * info.conditional_error(mix, x, lam, 4001), rel=1e-8)
    d_mmse = derivative(lambda u: info.mmse(mix, u, 4001), lam, h)
    assert d_mmse == pytest.approx(info.mmse_derivative(mix, lam, 4001), rel=1e-8)
    # the averaged pointwise information is I(X; Y): E_x over the mixture by Gauss-Hermite per
    # component would do; here a fine trapezoid over x
    xs = torch.linspace(-4.0, 4.0, 1601, dtype=F64)
    ci = torch.tensor(
        [info.conditional_information(mix, float(x), lam, 401) for x in xs], dtype=F64
    )
    avg = float(torch.trapezoid(mix.prob(xs[:, None]) * ci, xs))
    assert avg == pytest.approx(info.mutual_information(mix, lam, 4001), rel=1e-5)


def test_denoising_errors_and_the_diffusion_loss(mix):
    q = GaussianMixture([0.5, 0.5], [[-1.0], [1.3]], [0.15, 0.1])
    lams = torch.exp(torch.linspace(-5.0, 7.0, 9, dtype=F64))
    for other in (None, q):
        got = info.denoising_errors(mix, lams, other, 1001)
        want = [info.denoising_error(mix, float(u), other, 1001) for u in lams]
        assert torch.allclose(got, torch.tensor(want, dtype=F64), rtol=1e-13, atol=0)
    # Gaussian data: L_inf = 0.5 int v / (1 + l v) dl = 0.5 log((1 + l1 v) / (1 + l0 v))
    v, l0, l1 = 0.4, -3.0, 5.0
    g = GaussianMixture([1.0], [[0.2]], v)
    exact = 0.5 * math.log((1 + math.exp(l1) * v) / (1 + math.exp(l0) * v))
    assert info.diffusion_loss_continuous(g, l0, l1, None, 64, 1001) == pytest.approx(exact)
    # the T-step loss overestimates it (the error is taken at the noisier end) and converges at 1/T
    errs = []
    for T in (50, 100, 200):
        ll = torch.linspace(l1, l0, T + 1, dtype=F64)
        errs.append(info.diffusion_loss_discrete(g, ll, None, 1001) - exact)
    assert all(e > 0 for e in errs)
    assert math.log(errs[1] / errs[2]) / math.log(2) == pytest.approx(1.0, abs=0.05)
    # a mismatched denoiser costs more at every T
    ll = torch.linspace(l1, l0, 21, dtype=F64)
    assert info.diffusion_loss_discrete(mix, ll, q, 1001) > info.diffusion_loss_discrete(
        mix, ll, None, 1001
    )
    with pytest.raises(ValueError, match="log_snr"):
        info.diffusion_loss_discrete(g, ll.flip(0))
    with pytest.raises(ValueError, match="lams"):
        info.denoising_errors(g, torch.tensor([1.0, -1.0], dtype=F64))
