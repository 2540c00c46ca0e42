r"""Gaussian-mixture reverse kernels of discrete VP chains for conditional 1-D targets.

Everything here lives in :math:`z`-space (the natural coordinates of a discrete variance-preserving
chain), not in the SNR form of :mod:`companion.samplers`:

The forward chain is :class:`companion.chains.VPChain` (:math:`z_t = a_t z_{t-1} + b_t\xi_t`,
:math:`z_t = \alpha_t x_0 + \sigma_t\varepsilon`).

* Conditional targets :math:`q(x_0\mid c)` exposing the log density of :math:`z_t\mid c` come
  from :mod:`companion.conditional_targets` (:class:`~companion.conditional_targets.MixtureTarget`
  wraps a :class:`companion.gmm.ConditionalGaussianMixture`).
* Reverse-kernel families, all of the form :math:`p(z_{t-1}\mid z_t, c) =
  \sum_k\pi_k\,\mathcal N(\mu_k, s_k^2)` and returned as :class:`KernelParams` at the nodes of a
  grid: the exact K-component kernel of mixture data (:func:`exact_kernel`), the moment-matched
  Gaussian (:func:`moment_matched_kernel`), exact kernels with perturbed logits
  (:func:`perturbed_logit_kernel`), exact means/variances with ReLU-network logits fitted to the
  exact ones (:func:`fit_relu_logits`), and networks trained by maximum likelihood on forward
  pairs (:class:`MixtureKernelNet`, :func:`train_mixture_kernel`).
* Accounting: the terminal, per-step, chain-rule path and output KLs are those of
  :mod:`companion.chains`, applied at one context with :func:`context_marginal` and
  :func:`context_kernel`; here are the joint KL of a two-step chain on a 3-D grid
  (:func:`joint_kl_two_steps`, an independent check of the chain rule), the output density of a
  model chain by exact grid propagation (:func:`propagate_chain`, which uses
  :func:`companion.grid.mixture_transition`) and the report over contexts
  (:func:`evaluate_chain`).

The path-space chain rule these functions check is, for every context :math:`c`,

.. math::

    \mathrm{KL}(q(z_{0:T}\mid c)\,\|\,p(z_{0:T}\mid c)) = \mathrm{KL}(q(z_T\mid c)\,\|\,p_T)
    + \sum_{t=1}^T E_{q(z_t\mid c)}\,\mathrm{KL}(q(z_{t-1}\mid z_t, c)\,\|\,p(z_{t-1}\mid z_t, c)),

and the output KL :math:`\mathrm{KL}(q(z_0\mid c)\,\|\,p(z_0\mid c))` is at most the left side.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive
from .chains import LogKernel, LogMarginal, VPChain, chain_rule_kl, output_kl, terminal_kl
from .conditional_targets import ConditionalTarget, MixtureTarget
from .grid import GridDensity, kl_integrand, mixture_transition, trapezoid_weights
from .training import optimise

__all__ = [
    "KernelParams",
    "KernelFn",
    "context_marginal",
    "CachedMarginals",
    "context_kernel",
    "exact_kernel",
    "exact_logits",
    "moment_matched_kernel",
    "perturbed_logit_kernel",
    "ReLULogitNet",
    "fit_relu_logits",
    "relu_logit_kernel",
    "logit_error",
    "logit_bound",
    "label_kl_bound",
    "joint_kl_two_steps",
    "propagate_chain",
    "exact_chain_output_kl",
    "ChainReport",
    "evaluate_chain",
    "MixtureKernelNet",
    "train_mixture_kernel",
    "net_kernel",
]

LOG_2PI = math.log(2.0 * math.pi)


def _log_normal(x: Tensor, mean: Tensor | float, var: Tensor | float) -> Tensor:
    var_t = torch.as_tensor(var, dtype=x.dtype, device=x.device)
    return -0.5 * ((x - mean) ** 2 / var_t + torch.log(var_t) + LOG_2PI)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


class KernelParams(NamedTuple):
    r"""A Gaussian-mixture kernel evaluated at ``m`` conditioning points :math:`z_j`.

    ``log_w`` (normalised log weights), ``means`` and ``stds`` all have shape ``(m, K)``.
    """

    log_w: Tensor
    means: Tensor
    stds: Tensor

    def log_prob(self, y: Tensor) -> Tensor:
        r""":math:`\log p(y_i\mid z_j)` for ``y`` of shape ``(n,)``: shape ``(n, m)``."""
        return self.log_prob_rows(y.expand(self.log_w.shape[0], -1)).T

    def log_prob_rows(self, y: Tensor) -> Tensor:
        r""":math:`\log p(y_{jk}\mid z_j)` for ``y`` of shape ``(m, k)`` (a row per node): ``(m, k)``."""
        lc = self.log_w[:, None] + _log_normal(
            y[..., None], self.means[:, None], self.stds[:, None] ** 2
        )
        return torch.logsumexp(lc, -1)

    def moments(self) -> tuple[Tensor, Tensor]:
        """Mean and variance of the kernel at each conditioning point, each ``(m,)``."""
        w = torch.exp(self.log_w)
        mean = (w * self.means).sum(-1)
        var = (w * (self.stds**2 + self.means**2)).sum(-1) - mean**2
        return mean, var


#: Type of a reverse-kernel family, called as ``kernel(z, c, t)`` with nodes ``z`` of shape
#: ``(m,)``, a context ``c`` and a step ``t`` (1-based), returning :class:`KernelParams`.
KernelFn = Callable[[Tensor, float, int], KernelParams]


def context_marginal(target: ConditionalTarget, c: float) -> LogMarginal:
    """The noised marginals of ``target`` at context ``c`` (a :data:`companion.chains.LogMarginal`)."""
    return lambda z, alpha, sigma: target.log_marginal(z, float(c), alpha, sigma)


class CachedMarginals:
    """A conditional target whose noised log-marginals are memoised.

    ``log_marginal(z, c, alpha, sigma)`` is a pure function of its arguments; a target whose
    marginals are computed by quadrature (e.g. the Gumbel + Beta target) repeats the same work
    when many kernels are scored on the same chain, grids and contexts. This wrapper returns a
    copy of the stored result when the nodes (by content), the context and ``(alpha, sigma)``
    are the same, keeping at most ``max_entries`` results (oldest dropped first). Every other
    attribute (``sample``, ...) is the wrapped target's.
    """

    def __init__(self, target: ConditionalTarget, max_entries: int = 512) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.target, self.max_entries = target, int(max_entries)
        self._cache: OrderedDict[tuple[object, ...], Tensor] = OrderedDict()
        self.hits = 0

    def __getattr__(self, name: str) -> object:
        if name == "target":  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.target, name)

    def log_marginal(self, z: Tensor, c: float | Tensor, alpha: float, sigma: float) -> Tensor:
        """``target.log_marginal(z, c, alpha, sigma)``, from the cache when seen before."""
        ctx = tuple(c.detach().cpu().reshape(-1).tolist()) if isinstance(c, Tensor) else float(c)
        digest = hashlib.sha1(z.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        key = (ctx, float(alpha), float(sigma), str(z.dtype), tuple(z.shape), digest)
        hit = self._cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit.clone()
        out = self.target.log_marginal(z, c, alpha, sigma)  # type: ignore[arg-type]
        self._cache[key] = out.detach().clone()
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return out


def context_kernel(kernel: KernelFn, c: float) -> Callable[[int], LogKernel]:
    """The model kernel of each step at context ``c``: ``t -> LogKernel`` (see
    :data:`companion.chains.LogKernel`)."""
    return lambda t: lambda y, z: kernel(z, float(c), t).log_prob_rows(y)


def _exact_kernel_at(
    target: MixtureTarget, chain: VPChain, z: Tensor, c: float, t: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The exact kernel (:meth:`companion.gmm.GaussianMixture.reverse_kernel`) at nodes ``z``."""
    kern = chain.reverse_kernel(target.mixture.at(float(c)), t)
    zc = z.unsqueeze(-1)
    means = kern.means(zc)[..., 0]
    return kern.logits(zc), means, kern.variances[:, 0].sqrt().expand_as(means)


def exact_kernel(target: MixtureTarget, chain: VPChain) -> KernelFn:
    r"""The exact reverse kernel :math:`q(z_{t-1}\mid z_t, c)` of mixture data.

    A K-component mixture with softmax-quadratic logits, affine means and constant variances:
    :meth:`companion.gmm.GaussianMixture.reverse_kernel` of the mixture at ``c``, evaluated at
    the nodes.
    """
    if not isinstance(target, MixtureTarget):
        raise TypeError("target must be a MixtureTarget (the exact kernel needs mixture data)")

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        return KernelParams(*_exact_kernel_at(target, chain, z, c, t))

    return kernel


def exact_logits(target: MixtureTarget, chain: VPChain, z: Tensor, c: Tensor, t: int) -> Tensor:
    r"""Exact logits centred over components, :math:`\ell_k - \bar\ell`, at pairs ``(z_i, c_i)``.

    Args:
        z, c: shape ``(n,)`` each.

    Returns:
        shape ``(n, K)``; quadratic in ``z`` for each fixed ``c``.
    """
    t = chain.check_step(t)
    kern = target.mixture.reverse_kernel(
        c, chain.alpha(t - 1), chain.sigma(t - 1), chain.alpha(t), chain.sigma(t)
    )
    ell = kern.logits(z.reshape(-1, 1))
    return ell - ell.mean(-1, keepdim=True)


def moment_matched_kernel(
    target: ConditionalTarget, chain: VPChain, y: Tensor | None = None
) -> KernelFn:
    r"""The best single Gaussian kernel in forward KL: mean and variance of :math:`q(z_{t-1}\mid z_t, c)`.

    For a :class:`~companion.conditional_targets.MixtureTarget` the moments are closed-form;
    otherwise they are computed by quadrature on the grid ``y`` (shape ``(n,)``, required then)
    from the marginals.
    """
    exact = exact_kernel(target, chain) if isinstance(target, MixtureTarget) else None
    if exact is None and y is None:
        raise ValueError("y (a quadrature grid for z_{t-1}) is required for non-mixture targets")

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        if exact is not None:
            mean, var = exact(z, c, t).moments()
        else:
            assert y is not None
            lj = target.log_marginal(y, c, chain.alpha(t - 1), chain.sigma(t - 1))[
                :, None
            ] + _log_normal(z[None, :], chain.a(t) * y[:, None], chain.b2(t))
            wq = torch.exp(lj - torch.logsumexp(lj, 0, keepdim=True))  # (n, m), uniform grid
            mean = (wq * y[:, None]).sum(0)
            var = (wq * (y[:, None] - mean) ** 2).sum(0)
        zeros = torch.zeros_like(mean).unsqueeze(-1)
        return KernelParams(zeros, mean.unsqueeze(-1), torch.sqrt(var).unsqueeze(-1))

    return kernel


def perturbed_logit_kernel(base: KernelFn, amplitude: float, frequency: float = 1.3) -> KernelFn:
    r"""``base`` with logits :math:`\ell_k(z) + \epsilon\sin(\omega z + k)`; means and stds unchanged."""
    check_positive("amplitude", amplitude)

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        p = base(z, c, t)
        k = torch.arange(p.log_w.shape[-1], dtype=z.dtype)
        ell = p.log_w + amplitude * torch.sin(frequency * z.unsqueeze(-1) + k + c)
        return KernelParams(torch.log_softmax(ell, -1), p.means, p.stds)

    return kernel


class ReLULogitNet:
    r"""One-hidden-layer ReLU network :math:`(z, c)\mapsto\ell\in\mathbb R^K` of a given width.

    The hidden layer has random unit directions with kinks placed uniformly in the input box;
    the output layer is fitted by (ridge) least squares to target logits. A legitimate ReLU
    network whose approximation error shrinks with width; fitting is deterministic given the
    generator and costs one linear solve.

    Args:
        hidden_w: ``(width, 2)``; hidden_b: ``(width,)``; out: ``(width + 1, K)``;
        scale: ``(2,)`` input scaling.
    """

    def __init__(self, hidden_w: Tensor, hidden_b: Tensor, out: Tensor, scale: Tensor) -> None:
        self.hidden_w, self.hidden_b, self.out, self.scale = hidden_w, hidden_b, out, scale

    def features(self, z: Tensor, c: Tensor) -> Tensor:
        """Hidden activations with a constant column, shape ``(n, width + 1)``."""
        u = torch.stack([z, c], -1) / self.scale
        h = torch.relu(u @ self.hidden_w.T + self.hidden_b)
        return torch.cat([h, torch.ones_like(h[:, :1])], -1)

    def __call__(self, z: Tensor, c: Tensor) -> Tensor:
        """Logits at pairs ``(z_i, c_i)``, shape ``(n, K)``."""
        return self.features(z, c) @ self.out


def fit_relu_logits(
    target: MixtureTarget,
    chain: VPChain,
    width: int,
    contexts: Sequence[float] | Tensor,
    n_z: int = 400,
    half_range: float = 5.0,
    ridge: float = 1e-8,
    generator: torch.Generator | None = None,
) -> list[ReLULogitNet]:
    r"""Fit one :class:`ReLULogitNet` per step to the exact centred logits.

    Training inputs: ``n_z`` equispaced :math:`z_t` on ``[-half_range, half_range]`` times every
    context in ``contexts``; the loss is the mean squared logit error (ridge ``ridge``).

    Returns:
        the networks for steps ``t = 1..T`` (index ``t - 1``).
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    check_positive("half_range", half_range)
    cs = torch.as_tensor(contexts, dtype=torch.float64).reshape(-1)
    if cs.numel() < 1:
        raise ValueError("contexts must be non-empty")
    zs = torch.linspace(-half_range, half_range, n_z, dtype=torch.float64)
    Z, C = torch.meshgrid(zs, cs, indexing="ij")
    Z, C = Z.reshape(-1), C.reshape(-1)
    c_lo, c_hi = float(cs.min()), float(cs.max())
    scale = torch.tensor([half_range, max(c_hi - c_lo, 1.0)], dtype=torch.float64)
    nets = []
    for t in range(1, chain.T + 1):
        ang = 2 * math.pi * torch.rand(width, dtype=torch.float64, generator=generator)
        W = torch.stack([torch.cos(ang), torch.sin(ang)], -1)
        p = torch.stack(
            [
                -1 + 2 * torch.rand(width, dtype=torch.float64, generator=generator),
                (c_lo + (c_hi - c_lo) * torch.rand(width, dtype=torch.float64, generator=generator))
                / scale[1],
            ],
            -1,
        )
        b = -(W * p).sum(-1)
        net = ReLULogitNet(W, b, torch.zeros(width + 1, 1, dtype=torch.float64), scale)
        F = net.features(Z, C)
        Y = exact_logits(target, chain, Z, C, t)
        A = F.T @ F + ridge * F.shape[0] * torch.eye(width + 1, dtype=torch.float64)
        net.out = torch.linalg.solve(A, F.T @ Y)
        nets.append(net)
    return nets


def relu_logit_kernel(
    target: MixtureTarget, chain: VPChain, nets: Sequence[ReLULogitNet]
) -> KernelFn:
    """Exact means and variances with logits from the fitted ReLU networks ``nets``."""
    if len(nets) != chain.T:
        raise ValueError(f"need one network per step ({chain.T}), got {len(nets)}")

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        _, means, stds = _exact_kernel_at(target, chain, z, c, t)
        ell = nets[t - 1](z, torch.full_like(z, float(c)))
        return KernelParams(torch.log_softmax(ell, -1), means, stds)

    return kernel


def logit_error(
    target: MixtureTarget, chain: VPChain, nets: Sequence[ReLULogitNet], z: Tensor, c: float, t: int
) -> tuple[Tensor, Tensor]:
    r"""Logit error of ``nets`` at step ``t`` on nodes ``z``: (:math:`\max_k|\Delta\ell_k|` after
    optimal centring, oscillation :math:`\max_k\Delta\ell_k - \min_k\Delta\ell_k`), each ``(m,)``.

    Shared components and logits differing by :math:`\Delta\ell` give
    :math:`|\log p - \log p'| \le \mathrm{osc}(\Delta\ell) \le 2\sup_k|\Delta\ell_k|` pointwise, so
    the per-step KL is at most :math:`E_{q(z_t)}\mathrm{osc}(\Delta\ell)`.
    """
    ct = torch.full_like(z, float(c))
    d = nets[t - 1](z, ct) - exact_logits(target, chain, z, ct, t)
    osc = d.max(-1).values - d.min(-1).values
    return 0.5 * osc, osc


def logit_bound(
    target: MixtureTarget,
    chain: VPChain,
    nets: Sequence[ReLULogitNet],
    c: float,
    t: int,
    z: Tensor,
    mass_floor: float = 1e-8,
) -> tuple[float, float]:
    r"""Two upper bounds on the per-step KL of ReLU-logit kernels at step ``t``.

    Returns:
        ``(E_q osc, 2 sup)``: :math:`E_{q(z_t\mid c)}\mathrm{osc}(\Delta\ell)` (a rigorous bound,
        trapezoid rule on ``z``) and :math:`2\sup_k|\Delta\ell_k|` over the nodes where
        :math:`q(z_t\mid c)` exceeds ``mass_floor`` times its maximum.
    """
    half, osc = logit_error(target, chain, nets, z, c, t)
    q = torch.exp(target.log_marginal(z, c, chain.alpha(t), chain.sigma(t)))
    mean_osc = float((q * osc * trapezoid_weights(z)).sum())
    core = q > mass_floor * q.max()
    return mean_osc, float(2 * half[core].max())


def label_kl_bound(
    target: MixtureTarget, chain: VPChain, kernel: KernelFn, c: float, t: int, z: Tensor
) -> tuple[float, float]:
    r"""Second-order bound on the per-step KL of a kernel that shares the exact components.

    If ``kernel`` has the exact means and standard deviations at step ``t`` and only its weights
    :math:`\pi'` differ from the exact :math:`\pi`, data processing over the component label
    gives :math:`\mathrm{KL}(\sum_k\pi_k\mathcal N_k\,\|\,\sum_k\pi'_k\mathcal N_k) \le
    \mathrm{KL}(\pi\,\|\,\pi')` at every :math:`z_t`, whose leading term is
    :math:`\tfrac12\mathrm{Var}_\pi(\Delta\ell)`, :math:`\Delta\ell = \log\pi' - \log\pi`.

    Returns:
        ``(E_q KL(pi || pi'), E_q Var_pi(Δℓ) / 2)`` under :math:`q(z_t\mid c)`, trapezoid rule
        on ``z``; the first is a rigorous upper bound on :math:`\varepsilon_t`.
    """
    ex_logits, ex_means, ex_stds = _exact_kernel_at(target, chain, z, c, t)
    p = kernel(z, c, t)
    if p.means.shape != ex_means.shape or not (
        torch.allclose(p.means, ex_means) and torch.allclose(p.stds, ex_stds)
    ):
        raise ValueError("kernel must share the exact components (means and stds)")
    log_pi, log_pi2 = torch.log_softmax(ex_logits, -1), torch.log_softmax(p.log_w, -1)
    pi = torch.exp(log_pi)
    kl = (pi * (log_pi - log_pi2)).sum(-1)
    d = log_pi2 - log_pi
    var = (pi * d**2).sum(-1) - (pi * d).sum(-1) ** 2
    q = torch.exp(target.log_marginal(z, c, chain.alpha(t), chain.sigma(t)))
    wq = q * trapezoid_weights(z)
    return float((wq * kl).sum()), float(0.5 * (wq * var).sum())


# --------------------------------------------------------------------------------------------
# Accounting by quadrature
# --------------------------------------------------------------------------------------------


def joint_kl_two_steps(
    target: ConditionalTarget, chain: VPChain, kernel: KernelFn, c: float, x: Tensor, z: Tensor
) -> float:
    r"""Path KL of a two-step chain, computed directly on the 3-D grid ``x`` × ``z`` × ``z``.

    :math:`\int q(z_0, z_1, z_2)\log[q(z_0, z_1, z_2)/p(z_0, z_1, z_2)]` with
    :math:`p = \mathcal N(z_2; 0, 1)\,p(z_1\mid z_2)\,p(z_0\mid z_1)`: an independent check of
    :func:`companion.chains.chain_rule_kl` (it never uses the true reverse kernels).
    """
    if chain.T != 2:
        raise ValueError(f"chain must have T = 2 steps, got {chain.T}")
    lq0 = target.log_marginal(x, c, 1.0, 0.0)  # (n0,)
    l10 = _log_normal(z[None, :], chain.a(1) * x[:, None], chain.b2(1))  # (n0, n1)
    l21 = _log_normal(z[None, :], chain.a(2) * z[:, None], chain.b2(2))  # (n1, n2)
    lp01 = kernel(z, c, 1).log_prob(x)  # log p(z0 | z1): (n0, n1)
    lp12 = kernel(z, c, 2).log_prob(z)  # log p(z1 | z2): (n1, n2)
    lpT = _log_normal(z, 0.0, 1.0)  # (n2,)
    wx, wz = trapezoid_weights(x), trapezoid_weights(z)
    total = 0.0
    for i in range(0, x.numel(), 32):  # chunk over z0 to bound memory
        sl = slice(i, i + 32)
        log_q = lq0[sl, None, None] + l10[sl, :, None] + l21[None]
        log_p = lpT[None, None, :] + lp12[None] + lp01[sl, :, None]
        f = kl_integrand(log_q, log_p)
        total += float((wx[sl, None, None] * wz[None, :, None] * wz[None, None, :] * f).sum())
    return total


def propagate_chain(
    chain: VPChain,
    kernel: KernelFn,
    c: float,
    z: Tensor,
    keep: bool = False,
    start: Tensor | None = None,
) -> GridDensity | list[GridDensity]:
    r"""Exact output density of the model chain on the fixed grid ``z``, from :math:`p_T = \mathcal N(0,1)`.

    Each step is :func:`companion.grid.mixture_transition` with the kernel evaluated at the
    grid nodes. ``start``: the density of :math:`z_T` at the nodes ``z`` instead of
    :math:`\mathcal N(0, 1)` (e.g. the exact :math:`q(z_T\mid c)`, "exact terminal matching").
    Returns :math:`p(z_0\mid c)`, or every :math:`p(z_t\mid c)`, ``t = T..0``, if ``keep``.
    """
    if start is None:
        d = GridDensity(z, torch.exp(_log_normal(z, 0.0, 1.0)))
    else:
        if start.shape != z.shape or not bool(torch.all(start >= 0)):
            raise ValueError("start must be a non-negative density on the nodes z")
        d = GridDensity(z, start.to(z.dtype))
    out = [d]
    for t in range(chain.T, 0, -1):
        p = kernel(d.x, c, t)
        d = mixture_transition(d, torch.exp(p.log_w), p.means, p.stds, z)
        out.append(d)
    return out if keep else d


def exact_chain_output_kl(
    target: ConditionalTarget, alpha_T: float, c: float, x: Tensor, z: Tensor
) -> float:
    r"""Output KL of the chain with *exact* reverse kernels started from :math:`\mathcal N(0,1)`,
    by one quadrature over :math:`z_T` that never propagates a density.

    With exact kernels the output is :math:`p(x_0\mid c) = \int q(x_0\mid z_T, c)\,
    \mathcal N(z_T; 0, 1)\,dz_T = q(x_0\mid c)\,r(x_0)`, :math:`r(x_0) = \int
    \mathcal N(z_T; \alpha_T x_0, \sigma_T^2)\,\mathcal N(z_T; 0, 1) / q(z_T\mid c)\,dz_T`, so
    :math:`\mathrm{KL}(q\,\|\,p) = -E_q\log r`. It depends on the horizon only (not on ``T``);
    ``x`` is the grid of :math:`x_0`, ``z`` of :math:`z_T` (trapezoid rules).
    """
    check_positive("alpha_T", alpha_T)
    if not alpha_T < 1:
        raise ValueError(f"alpha_T must be < 1, got {alpha_T!r}")
    sig2 = 1.0 - alpha_T**2
    log_qx = target.log_marginal(x, c, 1.0, 0.0)
    log_qT = target.log_marginal(z, c, alpha_T, math.sqrt(sig2))
    log_k = _log_normal(z[None, :], alpha_T * x[:, None], sig2)  # (nx, nz)
    log_f = log_k + _log_normal(z, 0.0, 1.0)[None, :] - log_qT[None, :]
    log_r = torch.logsumexp(log_f + torch.log(trapezoid_weights(z))[None, :], -1)
    qx = torch.exp(log_qx)
    return float(-(trapezoid_weights(x) * qx * log_r).sum() / (trapezoid_weights(x) * qx).sum())


@dataclass
class ChainReport:
    r"""Error accounting of one model chain over a set of contexts.

    Fields: ``contexts`` (shape ``(n_c,)``); ``output``, the output KL per context
    (``(n_c,)``); ``terminal``, the terminal mismatch per context (``(n_c,)``); ``steps``, the
    per-step KLs (``(n_c, T)``, column ``t - 1`` is step ``t``) or ``None``; ``densities``, the
    output densities :math:`p(z_0\mid c)` per context.
    """

    contexts: np.ndarray
    output: np.ndarray
    terminal: np.ndarray
    steps: np.ndarray | None
    densities: list[GridDensity]

    @property
    def path(self) -> np.ndarray:
        """Chain-rule path KL per context (terminal + sum of steps), ``(n_c,)``."""
        if self.steps is None:
            raise ValueError("per-step KLs were not computed (per_step=False)")
        return self.terminal + self.steps.sum(-1)


def evaluate_chain(
    target: ConditionalTarget,
    chain: VPChain,
    kernel: KernelFn,
    contexts: Sequence[float],
    z_prop: Tensor,
    z_quad: Tensor | None = None,
    per_step: bool = True,
    exact_start: bool = False,
) -> ChainReport:
    r"""Output KL by grid propagation (on ``z_prop``) and, if ``per_step``, the per-step KLs by
    quadrature (on ``z_quad``, default ``z_prop``), for every context in ``contexts``.

    ``exact_start``: start the chain from the exact :math:`q(z_T\mid c)` instead of
    :math:`\mathcal N(0, 1)`; the reported ``terminal`` is then 0 (no terminal mismatch)."""
    zq = z_prop if z_quad is None else z_quad
    out, term, steps, dens = [], [], [], []
    for c in contexts:
        start = None
        if exact_start:
            start = torch.exp(
                target.log_marginal(z_prop, float(c), chain.alpha(chain.T), chain.sigma(chain.T))
            )
        d = propagate_chain(chain, kernel, float(c), z_prop, start=start)
        assert isinstance(d, GridDensity)
        dens.append(d)
        law = context_marginal(target, float(c))
        out.append(output_kl(law, d).value)
        if per_step:
            t_kl, s_kl = chain_rule_kl(chain, law, context_kernel(kernel, float(c)), zq)
            term.append(0.0 if exact_start else t_kl)
            steps.append(s_kl)
        else:
            term.append(0.0 if exact_start else terminal_kl(chain, law, zq).value)
    return ChainReport(
        np.asarray([float(c) for c in contexts]),
        np.asarray(out),
        np.asarray(term),
        np.asarray(steps) if per_step else None,
        dens,
    )


# --------------------------------------------------------------------------------------------
# Learned kernels
# --------------------------------------------------------------------------------------------

FEATURES = ("full", "drop_c", "bottleneck")
VARIANTS = ("full", "logits")


class MixtureKernelNet(nn.Module):
    r"""Per-step conditional mixture kernels :math:`p_\theta(z_{t-1}\mid z_t, c)` for a ``T``-step chain.

    Inputs pass through a feature map :math:`h = \phi(z_t, c)` and are joined with a one-hot
    embedding of ``t``; a ReLU MLP maps them to the kernel parameters.

    Args:
        n_components: K.
        chain: the forward chain (sets ``T`` and the initial scales).
        width, depth: of the ReLU MLP.
        variant: ``"full"``: the network outputs logits, means (as offsets from :math:`z_t`) and
            log-stds; ``"logits"``: the network outputs only the logits, while means
            :math:`g_{t,k}z_t + o_{t,k}` and stds :math:`s_{t,k}` are free per-step parameters
            (the structure of the exact kernel for mixture data; ReLU logits as in the paper).
        features: ``"full"`` (:math:`h = (z_t, c)`), ``"drop_c"`` (:math:`h = z_t`, an
            insufficient map) or ``"bottleneck"`` (a learned linear map to
            :math:`\mathbb R^m`, ``m = bottleneck``).
        bottleneck: m for ``features="bottleneck"``.
        min_std: floor on the component standard deviations.
    """

    log_b: Tensor
    spread: Tensor

    def __init__(
        self,
        n_components: int,
        chain: VPChain,
        width: int = 64,
        depth: int = 2,
        variant: str = "full",
        features: str = "full",
        bottleneck: int = 1,
        min_std: float = 0.05,
    ) -> None:
        super().__init__()
        for name, v in [
            ("n_components", n_components),
            ("width", width),
            ("depth", depth),
            ("bottleneck", bottleneck),
        ]:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.variant = check_in("variant", variant, VARIANTS)
        self.features = check_in("features", features, FEATURES)
        self.K, self.T = n_components, chain.T
        self.min_std = check_positive("min_std", min_std)
        d_in = {"full": 2, "drop_c": 1, "bottleneck": bottleneck}[features]
        self.proj = nn.Linear(2, bottleneck) if features == "bottleneck" else None
        n_out = 3 * self.K if variant == "full" else self.K
        layers: list[nn.Module] = []
        d = d_in + self.T
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        layers.append(nn.Linear(d, n_out))
        self.net = nn.Sequential(*layers)
        log_b = 0.5 * torch.log(chain.betas.float())
        self.register_buffer("log_b", log_b)
        spread = torch.linspace(-1.0, 1.0, self.K) if self.K > 1 else torch.zeros(1)
        if variant == "logits":
            self.gain = nn.Parameter(torch.ones(self.T, self.K))
            self.offset = nn.Parameter(spread.repeat(self.T, 1).clone())
            self.log_std = nn.Parameter(log_b[:, None].repeat(1, self.K).clone())
        else:
            self.register_buffer("spread", spread)

    def forward(self, z: Tensor, c: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Kernel parameters at ``(z_i, c_i, t_i)`` (shapes ``(n,)``, ``t`` integer in 1..T):
        normalised log weights, means and stds, each ``(n, K)``."""
        u = torch.stack([z, c], -1)
        if self.features == "drop_c":
            h = z.unsqueeze(-1)
        elif self.proj is not None:
            h = self.proj(u)
        else:
            h = u
        onehot = torch.nn.functional.one_hot(t - 1, self.T).to(z.dtype)
        out = self.net(torch.cat([h, onehot], -1))
        if self.variant == "full":
            ell, dm, ls = out.split(self.K, -1)
            means = z.unsqueeze(-1) + dm + self.spread
            log_std = ls + self.log_b[t - 1].unsqueeze(-1)
        else:
            ell = out
            means = self.gain[t - 1] * z.unsqueeze(-1) + self.offset[t - 1]
            log_std = self.log_std[t - 1]
        stds = self.min_std + torch.exp(log_std).expand_as(means)
        return torch.log_softmax(ell, -1), means, stds

    def log_prob(self, y: Tensor, z: Tensor, c: Tensor, t: Tensor) -> Tensor:
        r""":math:`\log p_\theta(y_i\mid z_i, c_i, t_i)`, shape ``(n,)``."""
        log_w, means, stds = self(z, c, t)
        return torch.logsumexp(log_w + _log_normal(y.unsqueeze(-1), means, stds**2), -1)

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def train_mixture_kernel(
    model: MixtureKernelNet,
    target: ConditionalTarget,
    chain: VPChain,
    steps: int = 2000,
    batch_size: int = 512,
    lr: float = 3e-3,
    generator: torch.Generator | None = None,
    disable: bool | None = None,
) -> list[float]:
    r"""Maximum likelihood on forward pairs: minimise :math:`-E\log p_\theta(z_{t-1}\mid z_t, c)`.

    Each batch draws :math:`c\sim U[0,1]`, :math:`x_0\sim q(\cdot\mid c)`, :math:`t` uniform in
    1..T, then :math:`z_{t-1}` and :math:`z_t` from the forward chain (fresh samples: population
    maximum likelihood). Adam with cosine learning-rate decay
    (:func:`companion.training.optimise`); float32 model.

    Returns:
        the per-step training losses.
    """
    if model.T != chain.T:
        raise ValueError(f"model has T={model.T} steps but chain has T={chain.T}")
    alpha = torch.tensor([chain.alpha(t) for t in range(chain.T + 1)], dtype=torch.float64)
    sigma = torch.tensor([chain.sigma(t) for t in range(chain.T + 1)], dtype=torch.float64)
    a = torch.sqrt(1 - chain.betas)
    b = torch.sqrt(chain.betas)
    device = next(model.parameters()).device

    def loss() -> Tensor:
        c = torch.rand(batch_size, dtype=torch.float64, generator=generator)
        x0 = target.sample(c, generator)
        t = torch.randint(1, chain.T + 1, (batch_size,), generator=generator)
        e1, e2 = torch.randn(2, batch_size, dtype=torch.float64, generator=generator)
        zp = alpha[t - 1] * x0 + sigma[t - 1] * e1
        zt = a[t - 1] * zp + b[t - 1] * e2
        return -model.log_prob(
            zp.float().to(device), zt.float().to(device), c.float().to(device), t.to(device)
        ).mean()

    return optimise(
        model.parameters(), loss, steps, lr, cosine=True, desc="train kernels", disable=disable
    )


def net_kernel(model: MixtureKernelNet) -> KernelFn:
    """The trained network as a float64 :data:`KernelFn` (evaluated without gradients)."""

    def kernel(z: Tensor, c: float, t: int) -> KernelParams:
        dev = next(model.parameters()).device
        with torch.no_grad():
            zz = z.float().to(dev)
            out = model(
                zz,
                torch.full_like(zz, float(c)),
                torch.full(z.shape, t, dtype=torch.long, device=dev),
            )
        return KernelParams(*(o.double().cpu() for o in out))

    return kernel
