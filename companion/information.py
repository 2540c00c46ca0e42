r"""Information quantities of one-dimensional laws, by quadrature in float64.

Two families live here.

**The Gaussian channel in SNR form.** For data :math:`X` and
:math:`Y_\lambda = \sqrt\lambda X + N` with :math:`N\sim\mathcal N(0, 1)` (equivalently
:math:`\tilde x = X + \lambda^{-1/2}N`, the SNR form of :mod:`companion.schedules`), with a 1-D
:class:`~companion.gmm.GaussianMixture` as the law of :math:`X`:

* :func:`entropy`: the differential entropy :math:`h(X + \sigma N)`;
* :func:`mutual_information`: :math:`I(X; Y_\lambda)`;
* :func:`mmse`: :math:`E|X - E[X\mid Y_\lambda]|^2`;
* :func:`kl_noised`: :math:`\mathrm{KL}(p_\lambda\,\|\,q_\lambda)` of two laws through the same
  channel;
* :func:`mismatch`: the excess squared error of denoising :math:`p`-data with :math:`q`'s
  posterior mean, and :func:`kl_from_mismatch`, its integral over :math:`\lambda`.

They satisfy the I-MMSE relations :math:`dI/d\lambda = \mathrm{mmse}/2` and
:math:`d\,\mathrm{KL}(p_\lambda\|q_\lambda)/d\lambda = \mathrm{mismatch}/2` (Guo, Shamai and
Verdu 2005; Verdu 2010), which the tests check to quadrature accuracy. Pointwise, given the
input: :func:`conditional_information` (the mean information density given :math:`X=x`) has the
derivative :func:`conditional_error` / 2 (Venkat and Weissman 2012), and :func:`mmse_derivative`
is :math:`d\,\mathrm{mmse}/d\lambda = -E[\mathrm{Var}[X\mid Y_\lambda]^2]` (Guo, Wu, Shamai and
Verdu 2011).

**The diffusion loss of a variational diffusion model** (Kingma et al. 2021):
:func:`diffusion_loss_discrete` (the :math:`T`-step sum) and :func:`diffusion_loss_continuous`
(its :math:`T\to\infty` limit, an integral over :math:`\lambda`), for the exact denoiser or a
mismatched one (:func:`denoising_error`, :func:`denoising_errors`).

**Data and context.** :func:`context_mutual_information`: :math:`I(X_0; C)` for a conditional
target :math:`q(x_0\mid c)` (:mod:`companion.conditional_targets`) with :math:`C` uniform over a
finite set of contexts, the smallest context-averaged KL that a model ignoring :math:`c` can
reach.

Every integral is a trapezoid rule on a uniform grid (``n_points`` nodes for the channel
quantities, wide enough to hold 16 standard deviations of every component).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ._checks import as_float64, check_nonnegative, check_positive
from .conditional_targets import ConditionalTarget
from .gmm import GaussianMixture
from .grid import kl_from_logs

__all__ = [
    "entropy",
    "mutual_information",
    "mmse",
    "kl_noised",
    "mismatch",
    "kl_from_mismatch",
    "context_mutual_information",
    "conditional_information",
    "conditional_error",
    "mmse_derivative",
    "denoising_error",
    "denoising_errors",
    "diffusion_loss_discrete",
    "diffusion_loss_continuous",
]


def _grid(gmms: Sequence[GaussianMixture], sigma: float, n_points: int) -> Tensor:
    """A uniform grid, shape ``(n_points, 1)``, covering every mixture noised to ``sigma``."""
    for g in gmms:
        if g.dim != 1:
            raise ValueError(f"mixtures must be one-dimensional, got dim={g.dim}")
    if not isinstance(n_points, int) or n_points < 101:
        raise ValueError(f"n_points must be an integer >= 101, got {n_points!r}")
    lo = min(
        float((g.means[:, 0] - 16 * torch.sqrt(g.variances[:, 0] + sigma**2)).min()) for g in gmms
    )
    hi = max(
        float((g.means[:, 0] + 16 * torch.sqrt(g.variances[:, 0] + sigma**2)).max()) for g in gmms
    )
    return torch.linspace(lo, hi, n_points, dtype=torch.float64).unsqueeze(-1)


def _sigma(lam: float) -> float:
    """The SNR-form noise level :math:`\\lambda^{-1/2}`."""
    return check_positive("lam", lam) ** -0.5


def entropy(gmm: GaussianMixture, sigma: float, n_points: int = 20_001) -> float:
    r"""Differential entropy :math:`h(X + \sigma N)` of a 1-D mixture, in nats.

    Parameters
    ----------
    gmm
        The law of :math:`X`, one-dimensional.
    sigma
        Noise level :math:`\sigma \ge 0`.
    n_points
        Nodes of the trapezoid rule (at least 101).
    """
    check_nonnegative("sigma", sigma)
    x = _grid([gmm], sigma, n_points)
    logp = gmm.log_prob(x, sigma)
    return float(-torch.trapezoid(torch.exp(logp) * logp, x[:, 0]))


def mutual_information(gmm: GaussianMixture, lam: float, n_points: int = 20_001) -> float:
    r""":math:`I(X; \sqrt\lambda X + N)` in nats, :math:`X\sim` ``gmm`` (1-D), SNR ``lam`` > 0.

    Uses :math:`I = h(X + \lambda^{-1/2}N) + \tfrac12\log\lambda - \tfrac12\log(2\pi e)` with the
    entropy of :func:`entropy` (``n_points`` nodes).
    """
    return (
        entropy(gmm, _sigma(lam), n_points)
        + 0.5 * math.log(lam)
        - 0.5 * math.log(2 * math.pi * math.e)
    )


def mmse(gmm: GaussianMixture, lam: float, n_points: int = 20_001) -> float:
    r""":math:`E|X - E[X\mid Y_\lambda]|^2`, :math:`X\sim` ``gmm`` (1-D), SNR ``lam`` > 0.

    The posterior variance integrated against the noised density (``n_points`` trapezoid nodes,
    at least 101).
    """
    s = _sigma(lam)
    x = _grid([gmm], s, n_points)
    return float(torch.trapezoid(gmm.prob(x, s) * gmm.posterior_cov(x, s)[:, 0, 0], x[:, 0]))


def kl_noised(
    p: GaussianMixture, q: GaussianMixture, lam: float | None, n_points: int = 20_001
) -> float:
    r""":math:`\mathrm{KL}(p_\lambda\,\|\,q_\lambda)` of two 1-D mixtures through the same channel.

    ``lam`` is the SNR (> 0), or ``None`` for no noise, :math:`\mathrm{KL}(p\|q)`; ``n_points``
    trapezoid nodes (at least 101).
    """
    s = 0.0 if lam is None else _sigma(lam)
    x = _grid([p, q], s, n_points)
    lp, lq = p.log_prob(x, s), q.log_prob(x, s)
    return float(torch.trapezoid(torch.exp(lp) * (lp - lq), x[:, 0]))


def mismatch(p: GaussianMixture, q: GaussianMixture, lam: float, n_points: int = 20_001) -> float:
    r""":math:`E_p|\hat x_p(Y_\lambda) - \hat x_q(Y_\lambda)|^2`: the excess squared error of
    denoising :math:`p`-data with :math:`q`'s posterior mean (mismatched estimation).

    ``p`` is the data law and ``q`` the law the denoiser assumes (both 1-D mixtures), ``lam`` the
    SNR (> 0), ``n_points`` the trapezoid nodes (at least 101).
    """
    s = _sigma(lam)
    x = _grid([p, q], s, n_points)
    diff = p.denoise(x, s)[:, 0] - q.denoise(x, s)[:, 0]
    return float(torch.trapezoid(p.prob(x, s) * diff**2, x[:, 0]))


def kl_from_mismatch(
    p: GaussianMixture, q: GaussianMixture, log_lambda: Tensor, n_points: int = 20_001
) -> tuple[float, np.ndarray]:
    r""":math:`\tfrac12\int \mathrm{mismatch}(\lambda)\,d\lambda` over a grid of
    :math:`\log\lambda` (trapezoid rule in :math:`\log\lambda`).

    Integrated over :math:`\lambda\in(0,\infty)` this is :math:`\mathrm{KL}(p\|q)`; the grid's
    ends cut off :math:`O(\lambda_{\min})` and :math:`O(1/\lambda_{\max})` tails.

    Parameters
    ----------
    p, q
        One-dimensional mixtures.
    log_lambda
        Strictly increasing grid of :math:`\log\lambda`, shape ``(m,)`` with ``m >= 3``.
    n_points
        Nodes of the trapezoid rule of each :func:`mismatch`.

    Returns
    -------
    tuple of float and numpy.ndarray
        The integral over the whole grid and the running integral, shape ``(m,)``.
    """
    ll = as_float64(log_lambda)
    if ll.ndim != 1 or ll.numel() < 3 or not bool((ll[1:] > ll[:-1]).all()):
        raise ValueError("log_lambda must be a strictly increasing 1-D grid with >= 3 entries")
    lam = torch.exp(ll)
    vals = torch.tensor([mismatch(p, q, float(v), n_points) for v in lam], dtype=torch.float64)
    integrand = 0.5 * vals * lam
    steps = 0.5 * (integrand[1:] + integrand[:-1]) * (ll[1:] - ll[:-1])
    running = torch.cat([steps.new_zeros(1), torch.cumsum(steps, 0)])
    return float(running[-1]), running.numpy()


def context_mutual_information(
    target: ConditionalTarget, contexts: Sequence[float], x: Tensor
) -> float:
    r""":math:`I(X_0; C) = \frac1n\sum_i\mathrm{KL}(q(x_0\mid c_i)\,\|\,\bar q)` for :math:`C`
    uniform over ``contexts``, with :math:`\bar q` the context average.

    It is the smallest context-averaged KL reachable by any model of :math:`x_0` that ignores
    :math:`c`.

    Parameters
    ----------
    target
        A conditional 1-D law exposing ``log_marginal``.
    contexts
        The contexts :math:`c_1, \dots, c_n` (at least one).
    x
        Uniform quadrature grid in :math:`x_0`, shape ``(m,)``, wide enough to hold every
        :math:`q(\cdot\mid c_i)`.
    """
    if len(contexts) < 1:
        raise ValueError("contexts must hold at least one context")
    logs = torch.stack([target.log_marginal(x, float(c), 1.0, 0.0) for c in contexts])
    log_bar = torch.logsumexp(logs, 0) - math.log(len(contexts))
    return float(np.mean([kl_from_logs(lq, log_bar, x) for lq in logs]))


# -- pointwise information identities and the derivative of the mmse --------------------------
def _conditional_grid(x: float, sigma: float, n_points: int) -> Tensor:
    """Uniform grid of ``n_points`` nodes holding 16 standard deviations of N(x, sigma^2)."""
    if not isinstance(n_points, int) or n_points < 101:
        raise ValueError(f"n_points must be an integer >= 101, got {n_points!r}")
    return torch.linspace(x - 16 * sigma, x + 16 * sigma, n_points, dtype=torch.float64).unsqueeze(
        -1
    )


def _normal_pdf(u: Tensor, mean: float, sigma: float) -> Tensor:
    return torch.exp(-0.5 * ((u - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def conditional_information(
    gmm: GaussianMixture, x: float, lam: float, n_points: int = 20_001
) -> float:
    r"""The mean information density given the input, :math:`E[\imath(X;Y_\lambda)\mid X=x] =
    \mathrm{KL}(P_{Y_\lambda\mid X=x}\,\|\,P_{Y_\lambda})`, in nats, :math:`X\sim` ``gmm`` (1-D).

    Its average over :math:`x\sim` ``gmm`` is :math:`I(X;Y_\lambda)`. Computed in the SNR form
    (the KL is invariant under :math:`Y\mapsto Y/\sqrt\lambda`): the KL of
    :math:`\mathcal N(x, \lambda^{-1})` from the noised mixture, by a trapezoid rule on
    ``n_points`` nodes over 16 standard deviations.
    """
    s = _sigma(lam)
    u = _conditional_grid(float(x), s, n_points)
    phi = _normal_pdf(u[:, 0], float(x), s)
    cross = float(torch.trapezoid(phi * gmm.log_prob(u, s), u[:, 0]))
    return -0.5 * math.log(2 * math.pi * math.e * s * s) - cross


def conditional_error(gmm: GaussianMixture, x: float, lam: float, n_points: int = 20_001) -> float:
    r""":math:`E[(x - E[X\mid Y_\lambda])^2\mid X=x]`: the squared error of the exact denoiser at
    one input ``x`` (trapezoid rule on ``n_points`` nodes, 16 noise standard deviations).

    Pointwise I-MMSE (Venkat and Weissman 2012): the information density is
    :math:`\imath(X;Y_\lambda) = \tfrac12\int_0^\lambda (X-\hat X_\gamma)^2\,d\gamma + M_\lambda`
    with a martingale :math:`M` of zero mean given :math:`X`, so that
    :math:`\frac{d}{d\lambda}` :func:`conditional_information` :math:`= \tfrac12` this error.
    """
    s = _sigma(lam)
    u = _conditional_grid(float(x), s, n_points)
    phi = _normal_pdf(u[:, 0], float(x), s)
    err = (float(x) - gmm.denoise(u, s)[:, 0]) ** 2
    return float(torch.trapezoid(phi * err, u[:, 0]))


def mmse_derivative(gmm: GaussianMixture, lam: float, n_points: int = 20_001) -> float:
    r""":math:`-E\big[\mathrm{Var}[X\mid Y_\lambda]^2\big]`, which equals
    :math:`\frac{d}{d\lambda}\mathrm{mmse}(\lambda)` for scalar :math:`X` (Guo, Wu, Shamai and
    Verdu 2011), by the trapezoid rule of :func:`mmse` (``n_points`` nodes)."""
    s = _sigma(lam)
    x = _grid([gmm], s, n_points)
    var = gmm.posterior_cov(x, s)[:, 0, 0]
    return -float(torch.trapezoid(gmm.prob(x, s) * var**2, x[:, 0]))


# -- the diffusion loss of a variational diffusion model: T steps and the continuous limit ------
def denoising_error(
    p: GaussianMixture, lam: float, q: GaussianMixture | None = None, n_points: int = 20_001
) -> float:
    r""":math:`E_p|X - \hat x_q(Y_\lambda)|^2`: the squared error of the denoiser of ``q`` (default
    ``p``'s own, the exact one) on ``p``-data, :math:`\mathrm{mmse}_p + \mathrm{mismatch}`."""
    err = mmse(p, lam, n_points)
    return err if q is None else err + mismatch(p, q, lam, n_points)


def denoising_errors(
    p: GaussianMixture, lams: Tensor, q: GaussianMixture | None = None, n_points: int = 20_001
) -> Tensor:
    r""":func:`denoising_error` at many SNRs ``lams`` (shape ``(m,)``, all > 0) in one vectorised
    pass: the same grids and trapezoid rules, so the values agree with it to round-off."""
    lam = as_float64(lams).reshape(-1)
    if lam.numel() < 1 or not bool((lam > 0).all()):
        raise ValueError("lams must hold at least one SNR, all > 0")
    gmms = [p] if q is None else [p, q]
    _grid(gmms, 1.0, n_points)  # validates the mixtures and n_points
    s = lam**-0.5
    lo = (
        torch.stack(
            [
                (g.means[:, 0] - 16 * torch.sqrt(g.variances[:, 0] + s[:, None] ** 2))
                .min(-1)
                .values
                for g in gmms
            ]
        )
        .min(0)
        .values
    )
    hi = (
        torch.stack(
            [
                (g.means[:, 0] + 16 * torch.sqrt(g.variances[:, 0] + s[:, None] ** 2))
                .max(-1)
                .values
                for g in gmms
            ]
        )
        .max(0)
        .values
    )
    u = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64)
    out = torch.empty_like(lam)
    chunk = max(1, 2_000_000 // n_points)
    for a in range(0, lam.numel(), chunk):
        b = min(a + chunk, lam.numel())
        x = lo[a:b, None] + (hi[a:b] - lo[a:b])[:, None] * u  # (m, n), as torch.linspace
        x = torch.where(u == 1.0, hi[a:b, None], x)
        xs, ss = x.reshape(-1, 1), s[a:b].repeat_interleave(n_points)
        f = p.posterior_cov(xs, ss)[:, 0, 0]
        if q is not None:
            f = f + (p.denoise(xs, ss)[:, 0] - q.denoise(xs, ss)[:, 0]) ** 2
        f = (p.prob(xs, ss) * f).reshape(b - a, n_points)
        out[a:b] = torch.trapezoid(f, x, dim=-1)
    return out


def diffusion_loss_discrete(
    p: GaussianMixture,
    log_snr: Tensor,
    q: GaussianMixture | None = None,
    n_points: int = 20_001,
) -> float:
    r"""The T-step diffusion loss of a variational diffusion model (Kingma et al. 2021, their
    discrete-time :math:`\mathcal L_T`) for the denoiser of ``q`` (default: the exact one of ``p``):

    .. math:: \mathcal L_T = \tfrac12\sum_{i=1}^T (\lambda_{i-1}-\lambda_i)\,
              E_p|X - \hat x_q(Y_{\lambda_i})|^2 ,

    where ``log_snr`` holds :math:`\log\lambda_i` at the times :math:`t_0 < t_1 < \dots < t_T`
    (strictly decreasing, ``T + 1 >= 2`` values): each term evaluates the error at the noisier
    end of its interval, as the ELBO's :math:`T`-step diffusion term does.
    """
    ll = as_float64(log_snr)
    if ll.ndim != 1 or ll.numel() < 2 or not bool((ll[1:] < ll[:-1]).all()):
        raise ValueError("log_snr must be a strictly decreasing 1-D tensor with >= 2 entries")
    lam = torch.exp(ll)
    errs = denoising_errors(p, lam[1:], q, n_points)
    return float(0.5 * ((lam[:-1] - lam[1:]) * errs).sum())


def diffusion_loss_continuous(
    p: GaussianMixture,
    log_snr_min: float,
    log_snr_max: float,
    q: GaussianMixture | None = None,
    n_nodes: int = 128,
    n_points: int = 20_001,
) -> float:
    r"""The continuous-time diffusion loss :math:`\mathcal L_\infty = \tfrac12\int
    E_p|X-\hat x_q(Y_\lambda)|^2\,d\lambda` over :math:`\lambda\in[e^{\text{min}}, e^{\text{max}}]`
    (Kingma et al. 2021), by Gauss-Legendre quadrature with ``n_nodes`` nodes in
    :math:`\log\lambda`; refine ``n_nodes`` to measure its error."""
    if not log_snr_min < log_snr_max:
        raise ValueError(f"need log_snr_min < log_snr_max, got {log_snr_min}, {log_snr_max}")
    if not isinstance(n_nodes, int) or n_nodes < 2:
        raise ValueError(f"n_nodes must be an integer >= 2, got {n_nodes!r}")
    u, w = np.polynomial.legendre.leggauss(n_nodes)
    half = 0.5 * (log_snr_max - log_snr_min)
    ll = half * u + 0.5 * (log_snr_max + log_snr_min)
    lam = torch.exp(torch.as_tensor(ll, dtype=torch.float64))
    vals = (denoising_errors(p, lam, q, n_points) * lam).numpy()
    return float(0.5 * half * np.dot(w, vals))
