import math

import pytest
import torch

from companion import schedules as S

ALL = [S.VPLinear(), S.VPCosine(), S.VEGeometric(0.01, 50.0), S.EDM(0.002, 80.0)]


def _times(s: S.Schedule) -> torch.Tensor:
    lo, hi = s.t_min, s.t_max
    return torch.linspace(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo), 57, dtype=torch.float64)


@pytest.mark.parametrize("sched", ALL, ids=lambda s: s.name)
def test_derivatives_match_autograd(sched):
    t = _times(sched).requires_grad_()
    for f, df in [(sched.log_alpha, sched.dlog_alpha), (sched.log_sigma, sched.dlog_sigma)]:
        (g,) = torch.autograd.grad(f(t).sum(), t)
        assert torch.allclose(g, df(t.detach()), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sched", ALL, ids=lambda s: s.name)
def test_forward_sde_variance_identity(sched):
    # d sigma^2/dt = 2 f sigma^2 + g^2 (moment ODE of dz = f z dt + g dw), and g^2 = -sigma^2 dlog(lambda)/dt
    t = _times(sched).requires_grad_()
    (dvar,) = torch.autograd.grad((sched.sigma(t) ** 2).sum(), t)
    (dlam,) = torch.autograd.grad(sched.log_snr(t).sum(), t)
    t = t.detach()
    assert torch.allclose(dvar, 2 * sched.f(t) * sched.sigma(t) ** 2 + sched.g2(t), rtol=1e-9)
    assert torch.allclose(sched.g2(t), -(sched.sigma(t) ** 2) * dlam, rtol=1e-9)
    assert (sched.g2(t) > 0).all()


@pytest.mark.parametrize("sched", ALL, ids=lambda s: s.name)
def test_snr_form_and_inverse(sched):
    t = _times(sched)
    st = sched.to_snr(t)
    assert torch.allclose(st, sched.snr(t) ** -0.5, rtol=1e-12)
    assert (st[1:] > st[:-1]).all()
    assert torch.allclose(sched.t_of_sigma_tilde(st), t, rtol=1e-9, atol=1e-12)


def test_vp_is_variance_preserving():
    for s in ALL[:2]:
        t = _times(s)
        assert torch.allclose(s.alpha(t) ** 2 + s.sigma(t) ** 2, torch.ones_like(t), atol=1e-14)


def test_ddpm_alpha_bar_matches_continuous_vp():
    T = 1000
    ab = S.ddpm_alpha_bar(T)
    vp = S.VPLinear(beta_min=0.1, beta_max=20.0)
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    # log(1 - beta) = -beta + O(beta^2): agreement to 1% away from t = 0
    keep = t >= 0.1
    assert torch.allclose(torch.log(ab)[keep], 2 * vp.log_alpha(t)[keep], rtol=1e-2)


def test_grids():
    k1 = S.karras_sigmas(11, 0.1, 10.0, rho=1.0, zero=False)
    assert torch.allclose(k1, torch.linspace(10.0, 0.1, 11, dtype=torch.float64))
    ex = S.exponential_sigmas(11, 0.1, 10.0, zero=False)
    ratios = ex[1:] / ex[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios))
    # rho -> infinity approaches the exponential grid
    kbig = S.karras_sigmas(11, 0.1, 10.0, rho=1e4, zero=False)
    assert torch.allclose(kbig, ex, rtol=1e-3)
    k7 = S.karras_sigmas(5, 0.002, 80.0)
    assert k7[-1] == 0 and math.isclose(float(k7[0]), 80.0) and k7.shape == (6,)
    u = S.uniform_t_sigmas(S.VPCosine(), 10)
    assert (u[1:] < u[:-1]).all() and u[-1] == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown schedule name"):
        S.get_schedule("vp-quadratic")
    with pytest.raises(ValueError, match="sigma_max must exceed"):
        S.exponential_sigmas(10, 5.0, 1.0)
    with pytest.raises(ValueError, match="rho"):
        S.karras_sigmas(10, 0.1, 1.0, rho=-1)
    with pytest.raises(ValueError, match="n must be"):
        S.karras_sigmas(1, 0.1, 1.0)
    with pytest.raises(ValueError, match="beta_min"):
        S.VPLinear(beta_min=-1.0)
    assert isinstance(S.get_schedule("edm", sigma_min=0.01, sigma_max=10.0), S.EDM)
