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
Verdu 2005; Verdu 2010), which the tests check to quadrature accuracy.

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
