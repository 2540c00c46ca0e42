"""Tests of companion.mixture_kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion import chains as C
from companion import mixture_kernels as mk
from companion.conditional_targets import MixtureTarget
from companion.gmm import ConditionalGaussianMixture

F64 = torch.float64


def _three(c: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.stack([2 * c - 1, torch.zeros_like(c), 1 - 2 * c], -1), -1)


@pytest.fixture(scope="module")
def target() -> MixtureTarget:
    return MixtureTarget(
        ConditionalGaussianMixture(
            _three,
            lambda c: torch.stack([-2 + 0.5 * c, 0.2 * c, 1.5 + 0.5 * c], -1).unsqueeze(-1),
            lambda c: (
                (torch.tensor([0.25, 0.3, 0.2], dtype=F64) ** 2).expand(c.shape[0], 3).unsqueeze(-1)
            ),
        )
    )


def _gaussian_target(mean: float, var: float) -> MixtureTarget:
    return MixtureTarget(
        ConditionalGaussianMixture(
            lambda c: torch.ones(c.shape[0], 1, dtype=F64),
            lambda c: torch.full((c.shape[0], 1, 1), mean, dtype=F64),
            lambda c: torch.full((c.shape[0], 1, 1), var, dtype=F64),
        )
    )


class _Opaque:
    """A target seen only through its marginals (forces the quadrature code paths)."""

    def __init__(self, inner: MixtureTarget) -> None:
        self.inner = inner

    def log_marginal(self, z, c, alpha, sigma):
        return self.inner.log_marginal(z, c, alpha, sigma)

    def sample(self, c, generator=None):
        return self.inner.sample(c, generator)


Z = torch.linspace(-8, 8, 241, dtype=F64)


# -- exact kernel -------------------------------------------------------------------------------
def test_exact_kernel_matches_core_reverse_kernel(target):
    ch = C.VPChain.uniform(4, 3.0)
    c, t = 0.3, 3
    gm = target.mixture.at(c)
    rk = gm.reverse_kernel(ch.alpha(t - 1), ch.sigma(t - 1), ch.alpha(t), ch.sigma(t))
    kp = mk.exact_kernel(target, ch)(Z, c, t)
    assert torch.allclose(rk.logits(Z[:, None]), kp.log_w, atol=1e-10)
    assert torch.allclose(rk.means(Z[:, None])[..., 0], kp.means, atol=1e-12)
    assert torch.allclose(rk.variances[:, 0].sqrt().expand_as(kp.stds), kp.stds, atol=1e-14)


def test_exact_kernel_satisfies_bayes_rule(target):
    ch = C.VPChain.uniform(3, 2.0)
    c, t = 0.7, 2
    y, z = torch.linspace(-4, 4, 33, dtype=F64), torch.linspace(-3, 3, 29, dtype=F64)
    lhs = mk.exact_kernel(target, ch)(z, c, t).log_prob(y) + target.log_marginal(
        z, c, ch.alpha(t), ch.sigma(t)
    )
    rhs = target.log_marginal(y, c, ch.alpha(t - 1), ch.sigma(t - 1))[:, None] + (
        -0.5 * ((z[None] - ch.a(t) * y[:, None]) ** 2 / ch.b2(t) + math.log(2 * math.pi * ch.b2(t)))
    )
    assert torch.allclose(lhs, rhs, atol=1e-10)
    law, kernels = mk.context_marginal(target, c), mk.context_kernel(mk.exact_kernel(target, ch), c)
    assert abs(C.step_kl(ch, t, law, kernels(t), Z, Z)) < 1e-12


def test_exact_logits_are_centred_and_quadratic(target):
    ch = C.VPChain.uniform(2, 2.0)
    z = torch.linspace(-3, 3, 7, dtype=F64)
    ell = mk.exact_logits(target, ch, z, torch.full_like(z, 0.4), 1)
    assert torch.allclose(ell.sum(-1), torch.zeros(7, dtype=F64), atol=1e-12)
    third_diff = ell[3:] - 3 * ell[2:-1] + 3 * ell[1:-2] - ell[:-3]
    assert third_diff.abs().max() < 1e-10


# -- moment-matched kernel ---------------------------------------------------------------------
def test_moment_matched_closed_form_equals_quadrature(target):
    ch = C.VPChain.uniform(2, 3.0)
    z = torch.linspace(-3, 3, 13, dtype=F64)
    y = torch.linspace(-9, 9, 4001, dtype=F64)
    closed = mk.moment_matched_kernel(target, ch)(z, 0.5, 1)
    quad = mk.moment_matched_kernel(_Opaque(target), ch, y)(z, 0.5, 1)
    assert torch.allclose(closed.means, quad.means, atol=1e-9)
    assert torch.allclose(closed.stds, quad.stds, atol=1e-9)
    with pytest.raises(ValueError, match="y"):
        mk.moment_matched_kernel(_Opaque(target), ch)


# -- accounting --------------------------------------------------------------------------------
def test_terminal_kl_closed_form():
    m, v, B = 1.3, 0.4, 2.5
    tg = _gaussian_target(m, v)
    ch = C.VPChain.uniform(3, B)
    al = math.exp(-B / 2)
    mu, s2 = al * m, al**2 * v + 1 - al**2
    closed = 0.5 * (s2 + mu**2 - 1 - math.log(s2))
    assert C.terminal_kl(ch, mk.context_marginal(tg, 0.0), Z).value == pytest.approx(
        closed, rel=1e-10
    )


def test_chain_rule_equals_joint_kl_on_3d_grid(target):
    ch = C.VPChain.uniform(2, 3.0)
    kern = mk.perturbed_logit_kernel(mk.exact_kernel(target, ch), 0.4)
    z = torch.linspace(-8, 8, 161, dtype=F64)
    x = torch.linspace(-4, 4, 161, dtype=F64)
    term, steps = C.chain_rule_kl(
        ch, mk.context_marginal(target, 0.4), mk.context_kernel(kern, 0.4), z
    )
    joint = mk.joint_kl_two_steps(target, ch, kern, 0.4, x, z)
    assert term + sum(steps) == pytest.approx(joint, abs=1e-7)
    assert min(steps) > 1e-4  # a non-trivial check
    with pytest.raises(ValueError, match="T = 2"):
        mk.joint_kl_two_steps(target, C.VPChain.uniform(3, 1.0), kern, 0.4, x, z)


def test_output_kl_below_path_kl_and_exact_chain_is_exact_for_standard_normal_data(target):
    ch = C.VPChain.uniform(3, 2.0)
    zp = torch.linspace(-6.5, 6.5, 401, dtype=F64)
    rep = mk.evaluate_chain(target, ch, mk.moment_matched_kernel(target, ch), [0.2, 0.8], zp, Z)
    assert np.all(rep.output <= rep.path + 1e-9)
    assert np.all(rep.output > 1e-3)
    # N(0, 1) data: the terminal law is N(0, 1), exact kernels reproduce the data law
    tg = _gaussian_target(0.0, 1.0)
    d = mk.propagate_chain(ch, mk.exact_kernel(tg, ch), 0.0, zp)
    assert abs(C.output_kl(mk.context_marginal(tg, 0.0), d).value) < 1e-8


def test_exact_chain_output_is_independent_of_T(target):
    zp = torch.linspace(-6.5, 6.5, 401, dtype=F64)
    outs = []
    for T in (2, 5):
        ch = C.VPChain.uniform(T, 3.0)
        outs.append(
            C.output_kl(
                mk.context_marginal(target, 0.5),
                mk.propagate_chain(ch, mk.exact_kernel(target, ch), 0.5, zp),
            ).value
        )
    assert outs[0] == pytest.approx(outs[1], rel=1e-4)


# -- ReLU logits -------------------------------------------------------------------------------
def test_relu_logits_improve_with_width_and_obey_the_logit_bound(target):
    ch = C.VPChain.uniform(2, 3.0)
    law = mk.context_marginal(target, 0.5)
    gen = torch.Generator().manual_seed(0)
    errs = []
    for w in (4, 64):
        nets = mk.fit_relu_logits(target, ch, w, [0.0, 0.5, 1.0], generator=gen)
        kern = mk.relu_logit_kernel(target, ch, nets)
        for t in (1, 2):
            eps = C.step_kl(ch, t, law, mk.context_kernel(kern, 0.5)(t), Z, Z)
            mean_osc, two_sup = mk.logit_bound(target, ch, nets, 0.5, t, Z)
            assert 0 <= eps <= mean_osc + 1e-12
        errs.append(
            sum(C.step_kl(ch, t, law, mk.context_kernel(kern, 0.5)(t), Z, Z) for t in (1, 2))
        )
    assert errs[1] < 0.1 * errs[0]
    with pytest.raises(ValueError, match="width"):
        mk.fit_relu_logits(target, ch, 0, [0.5])
    with pytest.raises(ValueError, match="one network per step"):
        mk.relu_logit_kernel(target, ch, nets[:1])


def test_exact_kernel_requires_mixture_target(target):
    with pytest.raises(TypeError, match="MixtureTarget"):
        mk.exact_kernel(_Opaque(target), C.VPChain.uniform(2, 1.0))


# -- learned kernels -----------------------------------------------------------------------------
def test_mixture_kernel_net_is_a_normalised_kernel_and_validates():
    ch = C.VPChain.uniform(3, 2.0)
    y = torch.linspace(-12, 12, 6001)
    for variant in ("full", "logits"):
        for features in ("full", "drop_c", "bottleneck"):
            net = mk.MixtureKernelNet(3, ch, width=8, variant=variant, features=features)
            n = 5
            z, c = torch.linspace(-1, 1, n), torch.linspace(0, 1, n)
            t = torch.tensor([1, 2, 3, 1, 2])
            log_w, means, stds = net(z, c, t)
            assert log_w.shape == means.shape == stds.shape == (n, 3)
            assert torch.allclose(log_w.exp().sum(-1), torch.ones(n), atol=1e-6)
            assert bool((stds >= net.min_std).all())
            lp = net.log_prob(
                y[:, None].expand(-1, n).reshape(-1),
                z.repeat(y.numel()),
                c.repeat(y.numel()),
                t.repeat(y.numel()),
            ).reshape(-1, n)
            mass = torch.trapezoid(lp.exp(), y, dim=0)
            assert torch.allclose(mass, torch.ones(n), atol=1e-4)
    with pytest.raises(ValueError, match="variant"):
        mk.MixtureKernelNet(2, ch, variant="nope")
    with pytest.raises(ValueError, match="width"):
        mk.MixtureKernelNet(2, ch, width=0)


def test_training_reduces_the_per_step_kl(target):
    ch = C.VPChain.uniform(2, 2.0)
    torch.manual_seed(0)
    net = mk.MixtureKernelNet(3, ch, width=32)
    kern = mk.net_kernel(net)
    law = mk.context_marginal(target, 0.5)
    before = sum(C.chain_rule_kl(ch, law, mk.context_kernel(kern, 0.5), Z)[1])
    gen = torch.Generator().manual_seed(0)
    losses = mk.train_mixture_kernel(
        net, target, ch, steps=300, batch_size=256, generator=gen, disable=True
    )
    after = sum(C.chain_rule_kl(ch, law, mk.context_kernel(mk.net_kernel(net), 0.5), Z)[1])
    assert np.mean(losses[-30:]) < np.mean(losses[:30])
    assert after < 0.5 * before
    with pytest.raises(ValueError, match="T="):
        mk.train_mixture_kernel(net, target, C.VPChain.uniform(3, 2.0), steps=1)


# -- exact terminal matching and the independent output quadrature -----------------------------


def test_exact_start_makes_exact_kernels_exact_and_relu_kernels_positive(target):
    ch = C.VPChain.uniform(3, 4.0)
    zp = torch.linspace(-6.5, 6.5, 401, dtype=F64)
    exact = mk.evaluate_chain(
        target, ch, mk.exact_kernel(target, ch), [0.3], zp, Z, exact_start=True
    )
    assert exact.terminal[0] == 0.0
    assert abs(exact.output[0]) < 1e-6  # no terminal mismatch, no kernel error: only quadrature
    assert exact.steps.sum() < 1e-10
    n01 = mk.evaluate_chain(target, ch, mk.exact_kernel(target, ch), [0.3], zp, Z)
    assert n01.output[0] > 1e3 * abs(exact.output[0])  # the N(0, 1) start costs something
    gen = torch.Generator().manual_seed(0)
    nets = mk.fit_relu_logits(target, ch, 8, [0.1, 0.5, 0.9], generator=gen)
    relu = mk.evaluate_chain(
        target, ch, mk.relu_logit_kernel(target, ch, nets), [0.3], zp, Z, exact_start=True
    )
    assert relu.output[0] > 1e-5 and relu.output[0] <= relu.path[0] + 1e-9
    with pytest.raises(ValueError):
        mk.propagate_chain(ch, mk.exact_kernel(target, ch), 0.3, zp, start=-torch.ones_like(zp))


def test_exact_chain_output_kl_matches_grid_propagation(target):
    B = 3.0
    x = torch.linspace(-4, 4, 801, dtype=F64)
    zq = torch.linspace(-7, 7, 801, dtype=F64)
    direct = mk.exact_chain_output_kl(target, math.exp(-B / 2), 0.4, x, zq)
    for T in (1, 4):
        ch = C.VPChain.uniform(T, B)
        d = mk.propagate_chain(
            ch, mk.exact_kernel(target, ch), 0.4, torch.linspace(-6.5, 6.5, 601, dtype=F64)
        )
        prop = C.output_kl(mk.context_marginal(target, 0.4), d).value
        assert direct > 1e-4 and abs(prop - direct) < 1e-3 * direct
    # standard-normal data: the N(0, 1) start is exact, so the output KL is 0
    assert abs(mk.exact_chain_output_kl(_gaussian_target(0.0, 1.0), 0.5, 0.0, x, zq)) < 1e-9
    with pytest.raises(ValueError):
        mk.exact_chain_output_kl(target, 1.0, 0.4, x, zq)


def test_label_kl_bound_bounds_the_per_step_kl_and_is_second_order(target):
    ch = C.VPChain.uniform(4, 4.0)
    base = mk.exact_kernel(target, ch)
    zq = torch.linspace(-8, 8, 241, dtype=F64)
    law = mk.context_marginal(target, 0.3)
    prev = None
    for amp in (0.4, 0.2, 0.1):
        kern = mk.perturbed_logit_kernel(base, amp)
        _, steps = C.chain_rule_kl(ch, law, mk.context_kernel(kern, 0.3), zq)
        for t in range(1, 5):
            bound, half_var = mk.label_kl_bound(target, ch, kern, 0.3, t, zq)
            assert steps[t - 1] <= bound + 1e-12 and bound > 0
            assert abs(bound - half_var) < 0.3 * bound  # leading term
        if prev is not None:  # halving the logit error quarters the bound
            assert 3.0 < prev / bound < 5.0
        prev = bound
    assert mk.label_kl_bound(target, ch, base, 0.3, 2, zq)[0] < 1e-14
    with pytest.raises(ValueError):
        mk.label_kl_bound(target, ch, mk.moment_matched_kernel(target, ch), 0.3, 2, zq)


def test_cached_marginals_are_the_target_s_and_reused():
    from companion.conditional_targets import GumbelBetaTarget

    base = GumbelBetaTarget()
    cached = mk.CachedMarginals(base, max_entries=2)
    z = torch.linspace(-3.0, 3.0, 41, dtype=torch.float64)
    a = cached.log_marginal(z, 0.3, 0.8, 0.6)
    assert torch.equal(a, base.log_marginal(z, 0.3, 0.8, 0.6)) and cached.hits == 0
    a[0] = 99.0  # the caller's copy: the cache is not changed
    b = cached.log_marginal(z.clone(), 0.3, 0.8, 0.6)
    assert cached.hits == 1 and torch.equal(b, base.log_marginal(z, 0.3, 0.8, 0.6))
    # another context, another alpha or other nodes are new entries, not hits
    assert not torch.equal(cached.log_marginal(z, 0.7, 0.8, 0.6), b)
    assert not torch.equal(cached.log_marginal(z, 0.3, 0.9, 0.6), b)
    cached.log_marginal(z + 0.1, 0.3, 0.8, 0.6)
    assert cached.hits == 1 and len(cached._cache) == 2  # oldest entries dropped
    # the rest of the target is delegated
    g = torch.Generator().manual_seed(0)
    assert cached.sample(torch.tensor([0.5]), g).shape == (1,)
    with pytest.raises(ValueError):
        mk.CachedMarginals(base, max_entries=0)
