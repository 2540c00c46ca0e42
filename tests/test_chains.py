"""Tests of companion.chains: the discrete VP chain and its exact per-step, path and output KLs."""

from __future__ import annotations

import math

import pytest
import torch

from companion import chains as C
from companion.gmm import GaussianMixture
from companion.grid import GridDensity

F64 = torch.float64
Z = torch.linspace(-9, 9, 361, dtype=F64)


def _gauss_kl(m1: float, v1: float, m2: float, v2: float) -> float:
    return 0.5 * (v1 / v2 + (m1 - m2) ** 2 / v2 - 1 + math.log(v2 / v1))


# -- the chain -----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [C.VPChain.uniform, C.VPChain.linear])
def test_chain_total_noise_and_marginals(make):
    ch = make(7, 3.5)
    assert ch.total_noise == pytest.approx(3.5, rel=1e-12)
    assert ch.alpha(ch.T) ** 2 == pytest.approx(math.exp(-3.5), rel=1e-12)
    for t in range(ch.T + 1):
        assert ch.alpha(t) ** 2 + ch.sigma(t) ** 2 == pytest.approx(1.0, abs=1e-14)
        assert float(ch.alpha_bar[t]) == pytest.approx(ch.alpha(t) ** 2, rel=1e-14)
    for t in range(1, ch.T + 1):
        assert ch.alpha(t) == pytest.approx(ch.a(t) * ch.alpha(t - 1), rel=1e-13)
        assert ch.a(t) ** 2 + ch.b2(t) == pytest.approx(1.0, abs=1e-15)
    assert ch.alpha(0) == 1.0 and ch.sigma(0) == 0.0
    assert ch.sigma_tilde(3) == pytest.approx(ch.sigma(3) / ch.alpha(3), rel=1e-13)


def test_ddpm_constructors():
    c, c2 = C.VPChain.fixed_total(20), C.VPChain.fixed_total(40)
    assert float(c.alpha_bar[-1]) == pytest.approx(float(c2.alpha_bar[-1]), rel=1e-13)
    assert float(c.alpha_bar[-1]) == pytest.approx(math.exp(-(0.1 + 0.5 * 19.9)), rel=1e-13)
    assert torch.allclose(torch.cumprod(1 - c.betas, 0), c.alpha_bar[1:], rtol=1e-13)
    lin = C.VPChain.ddpm_linear(1000)
    assert float(lin.betas[0]) == pytest.approx(1e-4) and float(lin.betas[-1]) == pytest.approx(
        0.02
    )
    ab = torch.tensor([1.0, 0.9, 0.5, 0.1], dtype=F64)
    assert torch.allclose(C.VPChain.from_alpha_bar(ab).alpha_bar, ab, rtol=1e-14)


def test_chain_rejects_bad_input():
    with pytest.raises(ValueError, match="T"):
        C.VPChain.uniform(0, 1.0)
    with pytest.raises(ValueError, match="T"):
        C.VPChain.fixed_total(0)
    with pytest.raises(ValueError, match="total_noise"):
        C.VPChain.uniform(3, -1.0)
    with pytest.raises(ValueError, match="betas"):
        C.VPChain(torch.tensor([0.5, 1.2]))
    with pytest.raises(ValueError, match="alpha_bar"):
        C.VPChain.from_alpha_bar(torch.tensor([1.0, 0.5, 0.7]))
    with pytest.raises(ValueError, match="t must be"):
        C.VPChain.uniform(3, 1.0).a(0)
    with pytest.raises(ValueError, match="t must be"):
        C.VPChain.fixed_total(20).marginal(GaussianMixture([1.0], [0.0], 1.0), 21)


def test_marginal_and_reverse_kernel_come_from_the_mixture():
    p0 = GaussianMixture([0.4, 0.6], [-1.0, 1.5], [0.2, 0.1])
    ch = C.VPChain.uniform(4, 2.0)
    m = ch.marginal(p0, 2)
    assert torch.allclose(m.means, ch.alpha(2) * p0.means, rtol=1e-14)
    assert torch.allclose(m.variances, ch.alpha(2) ** 2 * p0.variances + ch.sigma(2) ** 2)
    # Bayes' rule: q(y | z) q_t(z) = q_{t-1}(y) N(z; a y, b^2)
    y, z = torch.linspace(-3, 3, 13, dtype=F64), torch.linspace(-2, 2, 13, dtype=F64)
    kern = ch.reverse_kernel(p0, 3)
    lhs = kern.log_prob(y[:, None], z[:, None]) + ch.marginal(p0, 3).log_prob(z[:, None])
    rhs = ch.marginal(p0, 2).log_prob(y[:, None]) + (
        -0.5 * ((z - ch.a(3) * y) ** 2 / ch.b2(3) + math.log(2 * math.pi * ch.b2(3)))
    )
    assert torch.allclose(lhs, rhs, atol=1e-11)


# -- KLs -----------------------------------------------------------------------------------------
def _gaussian_data(m: float, v: float):
    return GaussianMixture([1.0], [m], v), C.mixture_log_marginal(GaussianMixture([1.0], [m], v))


def _shifted_gaussian_kernel(ch: C.VPChain, m: float, v: float, t: int, delta: float, r: float):
    """Gaussian data N(m, v): the exact reverse kernel is N(mu(z), s^2); this one is
    N(mu(z) + delta, r s^2), and its per-step KL is the same closed form at every z."""
    al, sl = ch.alpha(t - 1), ch.sigma(t - 1)
    c = al**2 * v + sl**2
    pv = ch.a(t) ** 2 * c + ch.b2(t)
    gain, s2 = ch.a(t) * c / pv, c * ch.b2(t) / pv

    def log_kernel(y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        mu = al * m + gain * (z - ch.a(t) * al * m) + delta
        return -0.5 * ((y - mu[:, None]) ** 2 / (r * s2) + math.log(2 * math.pi * r * s2))

    return log_kernel, 0.5 * (1 / r + delta**2 / (r * s2) - 1 + math.log(r))


def test_step_kl_closed_form_on_shared_and_per_node_grids():
    m, v = 0.4, 0.3
    p0, law = _gaussian_data(m, v)
    ch = C.VPChain.uniform(5, 2.5)
    for t in (1, 3, 5):
        kern, closed = _shifted_gaussian_kernel(ch, m, v, t, 0.05, 1.3)
        shared = C.step_kl(ch, t, law, kern, Z, torch.linspace(-9, 9, 1201, dtype=F64))
        assert shared == pytest.approx(closed, rel=1e-6)
        auto = C.mixture_step_kl(ch, p0, t, kern, 200, 200)
        assert auto.value == pytest.approx(closed, rel=1e-6) and auto.error < 1e-6
    # the exact kernel has zero per-step KL
    exact = C.mixture_log_kernel(ch.reverse_kernel(p0, 2))
    assert abs(C.step_kl(ch, 2, law, exact, Z, Z)) < 1e-12
    with pytest.raises(ValueError, match="y must have shape"):
        C.step_kl(ch, 2, law, exact, Z, torch.zeros(3, 4, dtype=F64))
    with pytest.raises(ValueError, match="n_z"):
        C.mixture_step_kl(ch, p0, 2, exact, 2, 100)


def test_terminal_and_path_kl_closed_form():
    m, v, B = 1.3, 0.4, 2.5
    p0, law = _gaussian_data(m, v)
    ch = C.VPChain.uniform(3, B)
    al2 = math.exp(-B)
    terminal = _gauss_kl(math.sqrt(al2) * m, al2 * v + 1 - al2, 0.0, 1.0)
    assert C.terminal_kl(ch, law, Z).value == pytest.approx(terminal, rel=1e-10)
    assert C.mixture_terminal_kl(ch, p0).value == pytest.approx(terminal, rel=1e-10)
    kernels = {t: _shifted_gaussian_kernel(ch, m, v, t, 0.1, 0.8) for t in (1, 2, 3)}
    term, steps = C.chain_rule_kl(ch, law, lambda t: kernels[t][0], Z)
    assert term == pytest.approx(terminal, rel=1e-10)
    assert steps == pytest.approx([kernels[t][1] for t in (1, 2, 3)], rel=1e-6)
    term_q, steps_q = C.mixture_path_kl(ch, p0, lambda t: kernels[t][0], 150, 150)
    assert term_q.value == pytest.approx(terminal, rel=1e-10)
    assert [q.value for q in steps_q] == pytest.approx(steps, rel=1e-6)


def test_output_kl_of_a_grid_density():
    _, law = _gaussian_data(0.2, 0.5)
    d = GridDensity.gaussian(-0.1, 0.9, 3001)
    out = C.output_kl(law, d)
    assert out.value == pytest.approx(_gauss_kl(0.2, 0.5, -0.1, 0.81), rel=1e-7)
    assert out.error < 1e-6


# -- closed form for Gaussian data ----------------------------------------------------------------
def test_gaussian_ddpm_kl_against_quadrature_and_grid():
    from companion import ratio as R

    m, v = 0.4, 0.3
    p0 = GaussianMixture([1.0], [[m]], [[v]])
    ch = C.VPChain.fixed_total(4)
    exact = C.gaussian_ddpm_kl(ch, m, v)
    term, parts = C.mixture_path_kl(
        ch, p0, lambda t: R.gaussian_log_kernel(p0.denoise, ch, t), 200, 200
    )
    assert term.value == pytest.approx(exact.terminal, rel=1e-8)
    assert [q.value for q in parts] == pytest.approx(exact.steps.tolist(), rel=1e-6)
    dens = R.ddpm_output_density(p0.denoise, ch, 4000)
    out = C.output_kl(C.mixture_log_marginal(p0), dens)
    assert out.value == pytest.approx(exact.output, rel=1e-4)
    assert exact.output < exact.path  # data processing
    # the true reverse variance differs from beta_t: that is the whole step KL
    assert exact.steps == pytest.approx(
        [
            _gauss_kl(0.0, r, 0.0, b)
            for r, b in zip(exact.reverse_var, exact.model_var, strict=True)
        ],
        rel=1e-12,
    )
    assert exact.model_var.tolist() == pytest.approx(ch.betas.tolist(), rel=1e-15)


def test_gaussian_ddpm_kl_beta_tilde_is_the_snr_form_ddpm_sampler():
    from companion import samplers as S

    m, v = -0.3, 0.2
    ch = C.VPChain.fixed_total(12)
    vp = C.gaussian_ddpm_kl(ch, m, v, variance="beta_tilde")
    assert math.isinf(vp.steps[0]) and math.isinf(vp.path)  # step 1 is deterministic
    sig = torch.tensor([ch.sigma_tilde(t) for t in range(ch.T, -1, -1)], dtype=F64)
    ab_T = float(ch.alpha_bar[-1])
    mean, var = S.gaussian_output_law(S.ddpm_step, m, v, sig, start=(0.0, 1.0 / ab_T))
    assert S.gaussian_kl(m, v, mean, var) == pytest.approx(vp.output, rel=1e-9)
    # and the beta-variance DDPM is a different sampler
    assert C.gaussian_ddpm_kl(ch, m, v).output != pytest.approx(vp.output, rel=1e-3)


def test_gaussian_ddpm_kl_rates():
    from companion import stats

    ns = [1024, 2048, 4096]
    res = [C.gaussian_ddpm_kl(C.VPChain.fixed_total(n), 0.0, 0.5) for n in ns]
    path = stats.asymptotic_slope(ns, [float(r.steps.sum()) for r in res])
    out = stats.asymptotic_slope(ns, [r.output for r in res])
    assert abs(path.value + 1) < 0.01 and abs(out.value + 2) < 0.01
    with pytest.raises(ValueError):
        C.gaussian_ddpm_kl(C.VPChain.fixed_total(3), 0.0, 0.5, variance="sigma")


def test_mixture_step_kl_resolves_a_far_minor_mode_of_the_reverse_kernel():
    """At step 1 the exact reverse kernel of a 97/3 mixture has, near z_1 = -0.9, a minor mode
    at the far data component: a window of the kernel's mean +- 12 total sds misses it (0.45%
    low), the per-component windows do not (a wide shared grid is the reference)."""
    p0 = GaussianMixture([0.97, 0.03], [[-1.5], [1.5]], [0.02, 0.02])
    other = GaussianMixture([0.9, 0.1], [[-1.4], [1.5]], [0.03, 0.02])
    ch = C.VPChain.uniform(4, 4.0)
    for t in (1, 2):
        kern = C.mixture_log_kernel(ch.reverse_kernel(other, t))
        q = ch.marginal(p0, t)
        sd = q.variances[:, 0].sqrt()
        z = torch.linspace(
            float((q.means[:, 0] - 10 * sd).min()),
            float((q.means[:, 0] + 10 * sd).max()),
            600,
            dtype=F64,
        )
        ref = C.step_kl(
            ch, t, C.mixture_log_marginal(p0), kern, z, torch.linspace(-6, 6, 20001, dtype=F64)
        )
        auto = C.mixture_step_kl(ch, p0, t, kern, 300, 300)
        assert auto.value == pytest.approx(ref, rel=1e-8) and auto.error < 1e-8
    with pytest.raises(ValueError, match="increasing"):
        C.step_kl(ch, 2, C.mixture_log_marginal(p0), kern, Z, Z.flip(0).expand(Z.numel(), -1))


def test_covering_grid_spreads_nodes_over_the_union_of_the_windows():
    lo = torch.tensor([[0.0, 5.0], [0.0, 1.0], [3.0, 0.0]], dtype=F64)
    hi = torch.tensor([[1.0, 6.0], [2.0, 3.0], [4.0, 1.0]], dtype=F64)
    y = C.covering_grid(lo, hi, 5)
    expected = [[0.0, 0.5, 5.0, 5.5, 6.0], [0.0, 0.75, 1.5, 2.25, 3.0], [0.0, 0.5, 3.0, 3.5, 4.0]]
    assert torch.allclose(y, torch.tensor(expected, dtype=F64), atol=1e-15)
    with pytest.raises(ValueError, match="hi > lo"):
        C.covering_grid(hi, lo, 5)
    with pytest.raises(ValueError, match="n must"):
        C.covering_grid(lo, hi, 2)
