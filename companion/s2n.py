r"""Connective viewpoints of signal-to-noise diffusion (Doan et al. 2024): the chapter's tools.

Everything here is written in the SNR form of :mod:`companion.schedules`
(:math:`\tilde x = z/\alpha = x + \tilde\sigma\varepsilon`, :math:`\tilde\sigma = \lambda^{-1/2}`),
except where the point is to work in the paper's own variable :math:`z_t = \alpha_t x +
\sigma_t\varepsilon` (the forward SDE, the non-Markovian kernel, the z-space sampler).

Contents:

* the forward SDE :math:`dz = f z\,dt + g\,dw`: its moment ODEs (:func:`forward_moments`) and
  Euler-Maruyama particles (:func:`forward_em`), with the closed-form noised-mixture CDF
  (:func:`mixture_cdf`) for a Kolmogorov-Smirnov test with scipy's exact null
  (:func:`ks_against_mixture`);
* the non-Markovian kernel :math:`q(z_s\mid z_t, x)` (:func:`nonmarkov_kernel`), the
  :math:`\beta\leftrightarrow\rho` map of the frozen-denoiser step (:func:`beta_of_rho`), and
  a z-space sampler built on it (:func:`sample_z_space`) for the SNR-equivalence check;
* the continuous-time denoising loss of the exact denoiser in the schedule's own time
  (:func:`diffusion_loss`, built on :func:`companion.information.mmse`) and a five-point
  derivative (:func:`derivative`) for the I-MMSE checks of :mod:`companion.information`;
* **our reconstruction** of the paper's parametric inference formula with hyperparameters
  :math:`(\gamma, \delta)` behind one swappable function (:func:`parametric_step`,
  :data:`PARAMETRIC_VARIANTS`); the paper's exact Eq. (7) was not available to us;
* small helpers for the trained-model experiment: a float64 wrapper for networks
  (:func:`as_denoiser`) and sampler scoring (:func:`sample_metrics`, :func:`evaluate_sampler`),
  on denoisers trained by :func:`companion.training.train_denoiser` and, for the digits, with
  the data, classifier and Frechet distance of :mod:`companion.digits`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import as_float64, check_in, check_nonnegative, check_positive
from .digits import DigitsClassifier, digits_fd
from .gmm import GaussianMixture
from .grid import sampler_output_kl
from .information import mmse
from .metrics import mmd, sliced_w2
from .samplers import Denoiser, StepLaw, frozen_denoiser_step, run_sampler, to_d
from .schedules import Schedule
from .stats import KSResult, ks_test

__all__ = [
    "forward_moments",
    "forward_em",
    "mixture_cdf",
    "ks_against_mixture",
    "step_map_min_slope",
    "cells_text",
    "beta_of_rho",
    "nonmarkov_kernel",
    "z_space_step",
    "sample_z_space",
    "snr_grid_times",
    "derivative",
    "diffusion_loss",
    "placeholder_step",
    "PARAMETRIC_VARIANTS",
    "parametric_step",
    "as_denoiser",
    "one_jump_kl",
    "sample_metrics",
    "EVAL_KINDS",
    "evaluate_sampler",
]


# -- forward SDE ----------------------------------------------------------------------------
def forward_moments(
    schedule: Schedule, times: Tensor | Sequence[float], rtol: float = 1e-12, atol: float = 1e-14
) -> tuple[np.ndarray, np.ndarray]:
    r"""Integrate the moment ODEs of the forward SDE :math:`dz = f z\,dt + g\,dw` started at a point.

    For :math:`z_{t_0} \sim \mathcal N(\alpha_{t_0} x, \sigma_{t_0}^2)` the conditional mean per
    unit of data :math:`m = E[z_t]/x` and the variance :math:`v` obey
    :math:`m' = f m` and :math:`v' = 2 f v + g^2` (with :math:`f = (\log\alpha)'` and
    :math:`g^2 = -\sigma^2(\log\lambda)'` from the schedule). If the coefficients are right,
    :math:`m = \alpha_t` and :math:`v = \sigma_t^2`. Integrated by an 8th-order Runge-Kutta
    method (``scipy.integrate.solve_ivp``, DOP853) in ``(log m, log v)``.

    Args:
        schedule: the schedule whose ``f`` and ``g2`` are used.
        times: increasing times, shape ``(n,)``; the ODE starts at ``times[0]``.
        rtol, atol: tolerances of the integrator.

    Returns:
        ``(m, v)``, numpy arrays of shape ``(n,)``.
    """
    from scipy.integrate import solve_ivp

    t = as_float64(times).cpu().numpy()
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError("times must be a strictly increasing 1-D sequence with >= 2 entries")

    def rhs(tt: float, y: np.ndarray) -> np.ndarray:
        f = float(schedule.f(tt))
        g2 = float(schedule.g2(tt))
        # y = (log m, log v): (log m)' = f, (log v)' = 2 f + g^2 / v
        return np.array([f, 2.0 * f + g2 / math.exp(y[1])])

    y0 = [
        float(schedule.log_alpha(as_float64(t[0]))),
        2.0 * float(schedule.log_sigma(as_float64(t[0]))),
    ]
    sol = solve_ivp(rhs, (t[0], t[-1]), y0, method="DOP853", t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover - integrator failure is reported, not hidden
        raise RuntimeError(f"moment ODE integration failed: {sol.message}")
    return np.exp(sol.y[0]), np.exp(sol.y[1])


def forward_em(
    schedule: Schedule,
    x0: Tensor,
    times: Tensor,
    generator: torch.Generator | None = None,
    g2_scale: float = 1.0,
) -> Tensor:
    r"""Euler-Maruyama particles of the forward SDE from :math:`t_0` = ``times[0]`` to ``times[-1]``.

    Starts from the exact law :math:`z_{t_0} = \alpha_{t_0}x + \sigma_{t_0}\varepsilon` and applies
    :math:`z \leftarrow z + f(t) z\,\Delta t + \sqrt{g^2(t)\Delta t}\,\xi` on the grid ``times``
    (coefficients at the left end of each step).

    Args:
        schedule: the schedule.
        x0: data points, shape ``(n, d)``.
        times: strictly increasing times, shape ``(m,)``.
        generator: torch generator for the noise.
        g2_scale: multiplies :math:`g^2`; 1 is the derived SDE, any other value a deliberately
            wrong one (a control that a goodness-of-fit test must reject).

    Returns:
        Particles :math:`z_{t_{m-1}}`, shape ``(n, d)``, float64.
    """
    check_positive("g2_scale", g2_scale)
    t = as_float64(times)
    if t.ndim != 1 or t.numel() < 2 or not bool((t[1:] > t[:-1]).all()):
        raise ValueError("times must be a strictly increasing 1-D tensor with >= 2 entries")
    if not isinstance(x0, Tensor) or x0.ndim != 2:
        raise TypeError("x0 must be a tensor of shape (n, d)")
    x0 = x0.to(torch.float64)
    z = schedule.alpha(t[0]) * x0 + schedule.sigma(t[0]) * torch.randn(
        x0.shape, dtype=torch.float64, generator=generator
    )
    f, g2 = schedule.f(t[:-1]), g2_scale * schedule.g2(t[:-1])
    dt = t[1:] - t[:-1]
    for i in range(dt.numel()):
        xi = torch.randn(z.shape, dtype=torch.float64, generator=generator)
        z = z + f[i] * z * dt[i] + torch.sqrt(g2[i] * dt[i]) * xi
    return z


def mixture_cdf(gmm: GaussianMixture, z: Tensor, alpha: float = 1.0, sigma: float = 0.0) -> Tensor:
    r"""CDF of the 1-D law of :math:`\alpha x + \sigma\varepsilon`, :math:`x\sim` ``gmm``, at ``z`` (any shape)."""
    if gmm.dim != 1:
        raise ValueError(f"gmm must be one-dimensional, got dim={gmm.dim}")
    check_positive("alpha", alpha)
    check_nonnegative("sigma", sigma)
    z = as_float64(z)
    sd = torch.sqrt(alpha**2 * gmm.variances[:, 0] + sigma**2)
    u = (z.unsqueeze(-1) - alpha * gmm.means[:, 0]) / sd
    return (gmm.weights * torch.special.ndtr(u)).sum(-1)


def ks_against_mixture(
    samples: Tensor, gmm: GaussianMixture, alpha: float = 1.0, sigma: float = 0.0
) -> KSResult:
    r"""One-sample KS test (scipy's exact null, :func:`companion.stats.ks_test`) of 1-D
    ``samples`` against the law of :math:`\alpha x + \sigma\varepsilon`, :math:`x\sim` ``gmm``."""
    return ks_test(samples, lambda u: mixture_cdf(gmm, torch.from_numpy(u), alpha, sigma).numpy())


# -- non-Markovian kernel and the z-space sampler -------------------------------------------
def beta_of_rho(rho: float, log_snr_s: float, log_snr_t: float, sigma_s: float) -> float:
    r"""Noise scale of the frozen-denoiser step in the paper's variable:
    :math:`\beta = \sigma_s\sqrt{1 - (\lambda_t/\lambda_s)^{\rho^2}}` (our derivation).

    ``rho = 0`` gives :math:`\beta = 0` (DDIM); ``rho = 1`` gives the DDPM posterior
    :math:`\beta^2 = \sigma_s^2\sigma_{t|s}^2/\sigma_t^2`.
    """
    check_nonnegative("rho", rho)
    check_nonnegative("sigma_s", sigma_s)
    if log_snr_t > log_snr_s:
        raise ValueError(
            f"need lambda_t <= lambda_s (t later than s), got log_snr_s={log_snr_s}, "
            f"log_snr_t={log_snr_t}"
        )
    return sigma_s * math.sqrt(-math.expm1(rho**2 * (log_snr_t - log_snr_s)))


def nonmarkov_kernel(
    x: Tensor,
    z_t: Tensor,
    alpha_s: float,
    sigma_s: float,
    alpha_t: float,
    sigma_t: float,
    beta: float,
) -> tuple[Tensor, float]:
    r"""Mean and standard deviation of :math:`q(z_s\mid z_t, x)`:

    .. math:: \mathcal N\Big(\alpha_s x + \sqrt{\sigma_s^2-\beta^2}\,\frac{z_t-\alpha_t x}{\sigma_t},
              \ \beta^2 I\Big),\qquad 0\le\beta\le\sigma_s .

    For every admissible :math:`\beta` it keeps :math:`q(z_s\mid x) = \mathcal N(\alpha_s x,
    \sigma_s^2)` when :math:`z_t\sim\mathcal N(\alpha_t x, \sigma_t^2)`.

    Args:
        x: data (or its prediction), shape ``(n, d)``.
        z_t: current states, shape ``(n, d)``.
        alpha_s, sigma_s, alpha_t, sigma_t: schedule values at the two times.
        beta: noise scale of the kernel.

    Returns:
        ``(mean, beta)`` with ``mean`` of shape ``(n, d)``.
    """
    for name, v in [("alpha_s", alpha_s), ("alpha_t", alpha_t), ("sigma_t", sigma_t)]:
        check_positive(name, v)
    check_nonnegative("sigma_s", sigma_s)
    check_nonnegative("beta", beta)
    if beta > sigma_s * (1 + 1e-12):
        raise ValueError(f"beta must lie in [0, sigma_s] = [0, {sigma_s:.6g}], got {beta!r}")
    if x.shape != z_t.shape:
        raise ValueError(
            f"x and z_t must have the same shape, got {tuple(x.shape)} and {tuple(z_t.shape)}"
        )
    c = math.sqrt(max(sigma_s**2 - beta**2, 0.0))
    return alpha_s * x + c * (z_t - alpha_t * x) / sigma_t, float(beta)


def z_space_step(
    denoiser: Denoiser, z: Tensor, schedule: Schedule, t: float, s: float, rho: float = 0.0
) -> tuple[Tensor, float]:
    r"""One step :math:`t\to s` of :math:`p_\theta(z_s\mid z_t) = q(z_s\mid z_t, \hat x)` in the paper's variable.

    :math:`\hat x = D(z_t/\alpha_t, \tilde\sigma_t)` (the SNR-form denoiser), and
    :math:`\beta` = :func:`beta_of_rho`. Returns the Gaussian law ``(mean, std)`` of :math:`z_s`.
    """
    tt, ss = as_float64(t), as_float64(s)
    a_t, s_t = float(schedule.alpha(tt)), float(schedule.sigma(tt))
    a_s, s_s = float(schedule.alpha(ss)), float(schedule.sigma(ss))
    x0 = denoiser(z / a_t, z.new_full((z.shape[0],), s_t / a_t))
    beta = beta_of_rho(rho, float(schedule.log_snr(ss)), float(schedule.log_snr(tt)), s_s)
    return nonmarkov_kernel(x0, z, a_s, s_s, a_t, s_t, beta)


def snr_grid_times(schedule: Schedule, log_snr: Tensor) -> Tensor:
    r"""Times at which ``schedule`` has the given :math:`\log\lambda` values (any shape)."""
    return schedule.t_of_sigma_tilde(torch.exp(-0.5 * as_float64(log_snr)))


def sample_z_space(
    denoiser: Denoiser,
    z: Tensor,
    schedule: Schedule,
    times: Tensor,
    rho: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """Run :func:`z_space_step` over decreasing ``times``; return the trajectory ``[z_0, z_1, ...]``."""
    ts = as_float64(times).tolist()
    if len(ts) < 2 or any(b >= a for a, b in zip(ts[:-1], ts[1:], strict=True)):
        raise ValueError("times must be strictly decreasing with >= 2 entries")
    out = [z]
    for t, s in zip(ts[:-1], ts[1:], strict=True):
        mean, std = z_space_step(denoiser, z, schedule, t, s, rho)
        noise = torch.randn(z.shape, dtype=z.dtype, generator=generator)
        z = mean + std * noise if std > 0 else mean
        out.append(z)
    return out


def step_map_min_slope(
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    sigmas: Tensor,
    x: Tensor,
    **options: float,
) -> float:
    r"""Smallest slope :math:`\min d\,\text{mean}(x)/dx` of the mean map of ``step`` over all steps.

    Each step of a sampler maps the state to a Gaussian law whose mean is a function of the
    state. A negative slope means the step *folds* the line (two states land on the same
    mean, the ordering of paths is not kept); a positive minimum means every step is monotone.
    Slopes are finite differences on the increasing 1-D grid ``x`` (shape ``(m,)``), for every
    consecutive pair of noise levels in ``sigmas`` with a positive next level.
    """
    xs = as_float64(x).reshape(-1, 1)
    if xs.shape[0] < 3 or not bool((xs[1:] > xs[:-1]).all()):
        raise ValueError("x must be a strictly increasing 1-D grid with >= 3 points")
    sig = as_float64(sigmas).tolist()
    slopes = []
    for s, s_next in zip(sig[:-1], sig[1:], strict=True):
        if s_next <= 0:
            continue
        mean, _, _ = step(denoiser, xs, s, s_next, **options)
        slopes.append(float((torch.diff(mean[:, 0]) / torch.diff(xs[:, 0])).min()))
    if not slopes:
        raise ValueError("sigmas must contain at least one step to a positive noise level")
    return min(slopes)


def cells_text(cells: Sequence[tuple[float, int]], empty: str = "none") -> str:
    r"""Readable list of sweep cells ``(rho, N)``, grouped by :math:`\rho`, for glued prose.

    ``[(1.5, 5), (1.5, 10), (2.0, 5)]`` gives ``"rho = 1.5 (N = 5, 10); rho = 2 (N = 5)"``;
    an empty list gives ``empty``.
    """
    groups: dict[float, list[int]] = {}
    for rho, n in cells:
        groups.setdefault(float(rho), []).append(int(n))
    if not groups:
        return empty
    return "; ".join(
        f"rho = {r:g} (N = {', '.join(str(n) for n in sorted(ns))})"
        for r, ns in sorted(groups.items())
    )


# -- the continuous-time loss and the I-MMSE checks ----------------------------------------
def derivative(fn: Callable[[float], float], x: float, h: float) -> float:
    """Five-point central difference :math:`f'(x)` (truncation error :math:`O(h^4)`)."""
    check_positive("h", h)
    return (-fn(x + 2 * h) + 8 * fn(x + h) - 8 * fn(x - h) + fn(x - 2 * h)) / (12 * h)


def diffusion_loss(
    gmm: GaussianMixture,
    schedule: Schedule,
    t0: float,
    t1: float,
    n_nodes: int = 200,
    n_points: int = 20_001,
) -> float:
    r"""Continuous-time denoising loss :math:`\tfrac12\int_{t_0}^{t_1} \mathrm{mmse}(\lambda_t)\,
    |d\lambda_t/dt|\,dt` of the exact denoiser, integrated **in the schedule's own time**
    (Gauss-Legendre with ``n_nodes`` nodes in :math:`t`).

    By the change of variables it equals :math:`\tfrac12\int \mathrm{mmse}\,d\lambda` over the
    schedule's SNR range, so two schedules with the same SNR endpoints give the same value.
    """
    if not t0 < t1:
        raise ValueError(f"need t0 < t1, got t0={t0}, t1={t1}")
    if not isinstance(n_nodes, int) or n_nodes < 2:
        raise ValueError(f"n_nodes must be an integer >= 2, got {n_nodes!r}")
    u, w = np.polynomial.legendre.leggauss(n_nodes)
    t = torch.as_tensor(0.5 * (t1 - t0) * u + 0.5 * (t1 + t0), dtype=torch.float64)
    lam = schedule.snr(t)
    dlam = lam * 2.0 * (schedule.dlog_alpha(t) - schedule.dlog_sigma(t))
    vals = torch.tensor([mmse(gmm, float(v), n_points) for v in lam], dtype=torch.float64)
    return float(
        0.5 * 0.5 * (t1 - t0) * (torch.as_tensor(w, dtype=torch.float64) * vals * dlam.abs()).sum()
    )


# -- the parametric (gamma, delta) inference family: OUR RECONSTRUCTION ---------------------
def placeholder_step(
    denoiser: Denoiser,
    x: Tensor,
    sigma: float,
    sigma_next: float,
    rho: float = 0.0,
    gamma: float = 0.0,
    delta: float = 1.0,
) -> StepLaw:
    r"""Our placeholder for the paper's parametric formula (its Eq. (7) was not available to us).

    The paper's formula freezes the noise prediction over a step and has hyperparameters
    :math:`\gamma, \delta`. We let :math:`\gamma` extrapolate the frozen noise prediction as
    :math:`\hat\varepsilon(\tau) = (\tilde\sigma_\tau/\tilde\sigma)^{-\gamma}\hat\varepsilon` and
    :math:`\delta` scale the injected noise, and integrate the :math:`\rho`-family SDE
    :math:`dx = (1+\rho^2)\hat\varepsilon\,d\tilde\sigma + \rho\sqrt{2\tilde\sigma}\,d\bar W`:

    .. math:: x' = x + (1+\rho^2)\,\tilde\sigma^{\gamma}\,
              \frac{\tilde\sigma'^{\,1-\gamma} - \tilde\sigma^{1-\gamma}}{1-\gamma}\,\hat\varepsilon
              + \delta\rho\sqrt{\tilde\sigma^2-\tilde\sigma'^2}\;\xi

    (the limit :math:`\gamma\to1` is :math:`\tilde\sigma\log(\tilde\sigma'/\tilde\sigma)`).
    ``gamma = 0, delta = 1`` is :func:`companion.samplers.frozen_eps_step`, and at ``rho = 0``
    it is DDIM (Euler in the SNR form). A step to ``sigma_next = 0`` returns the denoised
    estimate, as every sampler in :mod:`companion.samplers` does.
    """
    x0 = denoiser(x, x.new_full((x.shape[0],), sigma))
    if sigma_next == 0:
        return x0, 0.0, x0
    if abs(1.0 - gamma) < 1e-12:
        integral = sigma * math.log(sigma_next / sigma)
    else:
        integral = sigma**gamma * (sigma_next ** (1 - gamma) - sigma ** (1 - gamma)) / (1 - gamma)
    mean = x + (1.0 + rho**2) * integral * to_d(x, sigma, x0)
    return mean, delta * rho * math.sqrt(sigma**2 - sigma_next**2), x0


#: The swappable implementations of the parametric inference formula, by name. Replace or add
#: an entry (same signature as :func:`placeholder_step`) once the paper's Eq. (7) is transcribed.
PARAMETRIC_VARIANTS: dict[str, Callable[..., StepLaw]] = {"placeholder": placeholder_step}


def parametric_step(
    rho: float = 0.0, gamma: float = 0.0, delta: float = 1.0, variant: str = "placeholder"
) -> Callable[..., StepLaw]:
    r"""A step function (signature of :mod:`companion.samplers` steps) of the parametric family
    with the hyperparameters bound, for :func:`~companion.samplers.run_sampler` and
    :func:`~companion.grid.propagate`.

    Args:
        rho: stochasticity :math:`\rho\ge0` of the backward SDE.
        gamma: extrapolation exponent of the frozen noise prediction (any real number).
        delta: multiplier of the injected noise, :math:`\ge0`.
        variant: key of :data:`PARAMETRIC_VARIANTS` (default ``"placeholder"``: ours).
    """
    check_nonnegative("rho", rho)
    check_nonnegative("delta", delta)
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise TypeError(f"gamma must be a real number, got {gamma!r}") from None
    if not math.isfinite(g):
        raise ValueError(f"gamma must be finite, got {gamma!r}")
    check_in("variant", variant, list(PARAMETRIC_VARIANTS))
    impl = PARAMETRIC_VARIANTS[variant]

    def step(denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float) -> StepLaw:
        return impl(denoiser, x, sigma, sigma_next, rho=rho, gamma=g, delta=delta)

    step.__name__ = f"{variant}(rho={rho:g}, gamma={g:g}, delta={delta:g})"
    return step


# -- trained models ---------------------------------------------------------------------------
def as_denoiser(model: nn.Module) -> Denoiser:
    """Wrap a network ``model(x, sigma)`` as a float64, gradient-free denoiser (inputs cast to the
    model's dtype and device, outputs returned in float64 on the input's device)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    p = next(model.parameters())

    def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
        with torch.no_grad():
            out = model(x.to(p.dtype).to(p.device), sigma.to(p.dtype).to(p.device))
        return out.to(device=x.device, dtype=torch.float64)

    return denoiser


# -- exact 1-D output KL of one jump (companion.grid.sampler_output_kl) ---------------------------
def one_jump_kl(
    gmm: GaussianMixture, sigma_t: float, sigma_s: float, rho: float, n_points: int = 2500
) -> float:
    r"""KL between the exact marginal at ``sigma_s`` and one frozen-denoiser jump
    :math:`p_\theta(\cdot\mid x_t) = q(\cdot\mid x_t, \hat x)` from the exact marginal at
    ``sigma_t`` (exact denoiser), in the SNR form."""
    check_positive("sigma_t", sigma_t)
    check_positive("sigma_s", sigma_s)
    if not sigma_s < sigma_t:
        raise ValueError(f"need sigma_s < sigma_t, got sigma_s={sigma_s}, sigma_t={sigma_t}")
    sig = torch.tensor([sigma_t, sigma_s], dtype=torch.float64)
    return sampler_output_kl(frozen_denoiser_step, gmm, sig, gmm, "exact", n_points, rho=rho).value


# -- sample metrics -------------------------------------------------------------------------------
def sample_metrics(
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    sigmas: Tensor,
    reference: Tensor,
    n: int,
    seed: int,
    metrics: dict[str, Callable[[Tensor, Tensor], float]] | None = None,
) -> tuple[dict[str, float], Tensor]:
    """Draw ``n`` samples with ``step`` from ``N(0, sigmas[0]^2)`` and score them against
    ``reference`` (shape ``(m, d)``).

    Args:
        metrics: name -> ``metric(samples, reference)``; default sliced W2 and MMD.
        seed: seeds the initial noise and the injected noise.

    Returns:
        ``(values, samples)``.
    """
    gen = torch.Generator().manual_seed(seed)
    d = int(reference.shape[1])
    x = float(sigmas[0]) * torch.randn((n, d), dtype=torch.float64, generator=gen)
    out = run_sampler(step, denoiser, x, sigmas, generator=gen, disable=True)
    if metrics is None:
        metrics = {
            "sw2": lambda a, b: sliced_w2(a, b, generator=torch.Generator().manual_seed(0)),
            "mmd": mmd,
        }
    return {k: float(f(out, reference)) for k, f in metrics.items()}, out


#: Metrics understood by :func:`evaluate_sampler` (all lower-is-better).
EVAL_KINDS = ("exact-kl", "sw2", "digits-fd")


def evaluate_sampler(
    kind: str,
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    nfe: int,
    seed: int = 0,
    *,
    target: GaussianMixture | None = None,
    reference: Tensor | None = None,
    n: int = 1000,
    classifier: DigitsClassifier | None = None,
    n_points: int = 2500,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
) -> tuple[float, Tensor | None]:
    r"""Score one sampler run on the EDM grid (``nfe`` levels, Karras :math:`\rho=7`, last step to 0).

    Args:
        kind: ``"exact-kl"`` (1-D: exact :math:`\mathrm{KL}(p\|\hat p)` by grid propagation from
            :math:`\mathcal N(0,\sigma_{\max}^2)`, needs ``target``), ``"sw2"`` (sliced
            :math:`W_2` of ``n`` samples to ``reference``) or ``"digits-fd"``
            (:func:`companion.digits.digits_fd`
            of ``n`` samples to ``reference`` with ``classifier``).
        step: step function, e.g. from :func:`parametric_step`.
        denoiser: ``denoiser(x, sigma)``.
        nfe: number of noise levels (= denoiser calls).
        seed: seeds the sampler's noise.

    Returns:
        ``(value, samples)``; ``samples`` is ``None`` for ``"exact-kl"``.
    """
    from .schedules import karras_sigmas

    check_in("kind", kind, list(EVAL_KINDS))
    if not isinstance(nfe, int) or nfe < 2:
        raise ValueError(f"nfe must be an integer >= 2, got {nfe!r}")
    sig = karras_sigmas(nfe, sigma_min, sigma_max)
    if kind == "exact-kl":
        if target is None:
            raise ValueError("target (a 1-D GaussianMixture) is required for kind='exact-kl'")
        return sampler_output_kl(step, denoiser, sig, target, n_points=n_points).value, None
    if reference is None:
        raise ValueError(f"reference samples are required for kind={kind!r}")
    if kind == "sw2":
        vals, out = sample_metrics(
            step,
            denoiser,
            sig,
            reference,
            n,
            seed,
            metrics={
                "sw2": lambda a, b: sliced_w2(a, b, generator=torch.Generator().manual_seed(0))
            },
        )
        return vals["sw2"], out
    if classifier is None:
        raise ValueError("classifier is required for kind='digits-fd'")
    clf = classifier
    vals, out = sample_metrics(
        step, denoiser, sig, reference, n, seed, metrics={"fd": lambda a, b: digits_fd(clf, a, b)}
    )
    return vals["fd"], out
