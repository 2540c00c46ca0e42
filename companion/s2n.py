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
from .gmm import FullCovarianceMixture, GaussianMixture
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
    "heun_log_density",
    "heun_kl_run",
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


# -- more reconstructions of the parametric family (each neutral at gamma = 0, delta = 1) -----
def interpolated_step(
    denoiser: Denoiser,
    x: Tensor,
    sigma: float,
    sigma_next: float,
    rho: float = 0.0,
    gamma: float = 0.0,
    delta: float = 1.0,
) -> StepLaw:
    r"""A second reconstruction of the parametric family: an interpolation, with weight
    :math:`\gamma`, between the frozen-:math:`\varepsilon` step (:math:`\gamma=0`,
    :func:`companion.samplers.frozen_eps_step`) and the frozen-:math:`\hat x` step
    (:math:`\gamma=1`, :func:`companion.samplers.frozen_denoiser_step`):

    .. math:: x' = (1-\gamma)\,m_\varepsilon + \gamma\,m_{\hat x}
              + \delta\sqrt{(1-\gamma)s_\varepsilon^2 + \gamma s_{\hat x}^2}\;\xi

    (means :math:`m` and noise scales :math:`s` of the two steps; :math:`\gamma` outside
    :math:`[0, 1]` extrapolates the means, and the noise variance is floored at 0). At
    :math:`\rho=0` both steps are DDIM, so this variant does not depend on :math:`\gamma` in
    deterministic sampling: it is a knob of stochastic sampling only. ``gamma = 0, delta = 1``
    is the frozen-:math:`\varepsilon` baseline.
    """
    x0 = denoiser(x, x.new_full((x.shape[0],), sigma))
    if sigma_next == 0:
        return x0, 0.0, x0
    eps = to_d(x, sigma, x0)
    m_eps = x + (1.0 + rho**2) * (sigma_next - sigma) * eps
    s_eps2 = rho**2 * (sigma**2 - sigma_next**2)
    s_x2 = sigma_next**2 * -math.expm1(2.0 * rho**2 * math.log(sigma_next / sigma))
    m_x = x0 + math.sqrt(max(sigma_next**2 - s_x2, 0.0)) * eps
    var = max((1.0 - gamma) * s_eps2 + gamma * s_x2, 0.0)
    return (1.0 - gamma) * m_eps + gamma * m_x, delta * math.sqrt(var), x0


def noise_level_step(
    denoiser: Denoiser,
    x: Tensor,
    sigma: float,
    sigma_next: float,
    rho: float = 0.0,
    gamma: float = 0.0,
    delta: float = 1.0,
) -> StepLaw:
    r"""A third reconstruction of the parametric family: the denoiser is queried at the scaled
    noise level :math:`(1+\gamma)\tilde\sigma` (a noise-scale knob in the spirit of the
    noise-level corrections of the exposure-bias literature), and the frozen-:math:`\varepsilon`
    step uses :math:`\hat\varepsilon = (\tilde x - \hat x)/\tilde\sigma`:

    .. math:: \hat x = D\big(\tilde x, (1+\gamma)\tilde\sigma\big),\quad
              x' = x + (1+\rho^2)(\tilde\sigma'-\tilde\sigma)\,\hat\varepsilon
              + \delta\rho\sqrt{\tilde\sigma^2-\tilde\sigma'^2}\;\xi .

    Needs :math:`\gamma > -1`. ``gamma = 0, delta = 1`` is the frozen-:math:`\varepsilon`
    baseline. A step to ``sigma_next = 0`` returns the (scaled-level) denoised estimate.
    """
    if not 1.0 + gamma > 0:
        raise ValueError(f"noise_level_step needs gamma > -1, got {gamma!r}")
    x0 = denoiser(x, x.new_full((x.shape[0],), (1.0 + gamma) * sigma))
    if sigma_next == 0:
        return x0, 0.0, x0
    mean = x + (1.0 + rho**2) * (sigma_next - sigma) * to_d(x, sigma, x0)
    return mean, delta * rho * math.sqrt(sigma**2 - sigma_next**2), x0


PARAMETRIC_VARIANTS["interpolated"] = interpolated_step
PARAMETRIC_VARIANTS["noise_level"] = noise_level_step
__all__ += ["interpolated_step", "noise_level_step"]


# -- the Gaussian-optimal gamma of the placeholder, in closed form ------------------------------
def _levels(sigmas: Tensor | Sequence[float]) -> list[float]:
    lv = [float(s) for s in (sigmas.tolist() if isinstance(sigmas, Tensor) else sigmas)]
    if len(lv) < 2 or any(b >= a for a, b in zip(lv[:-1], lv[1:], strict=True)) or lv[-1] < 0:
        raise ValueError("sigmas must be strictly decreasing, non-negative, with >= 2 entries")
    return lv


def gaussian_output_variance(
    gamma: float,
    variance: float | np.ndarray,
    sigmas: Tensor | Sequence[float],
    start_var: float | None = None,
) -> np.ndarray:
    r"""Output variance of the deterministic placeholder step (:func:`placeholder_step`,
    :math:`\rho=0`) for Gaussian data :math:`\mathcal N(m, v)` with the exact denoiser, in
    closed form (our derivation).

    With :math:`\hat x = m + \frac{v}{v+\sigma^2}(x-m)` the step is affine,
    :math:`x'-m = A_i(\gamma)(x-m)` with
    :math:`A_i = 1 + \sigma_i I_i(\gamma)/(v+\sigma_i^2)` and
    :math:`I_i(\gamma) = \sigma_i^{\gamma}(\sigma_{i+1}^{1-\gamma}-\sigma_i^{1-\gamma})/(1-\gamma)`;
    a last step to :math:`\sigma=0` returns :math:`\hat x`, the factor :math:`v/(v+\sigma^2)`.
    Started from :math:`\mathcal N(\cdot, P_0)` the output variance is
    :math:`P_0\prod_i A_i^2` (times the last factor squared).

    Args:
        gamma: the placeholder's exponent.
        variance: data variance(s) :math:`v > 0` (scalar or array: one per independent
            direction, e.g. the eigenvalues of a covariance).
        sigmas: the sampler's decreasing noise levels (may end at 0).
        start_var: variance of the initial state (default ``sigmas[0]**2``, what
            :func:`sample_metrics` and :func:`evaluate_sampler` draw).

    Returns:
        The output variance(s), same shape as ``variance``.
    """
    lv = _levels(sigmas)
    v = np.asarray(variance, dtype=np.float64)
    if (v <= 0).any():
        raise ValueError("variance must be > 0")
    log_p = math.log(lv[0] ** 2 if start_var is None else float(start_var)) + np.zeros_like(v)
    for s, s1 in zip(lv[:-1], lv[1:], strict=True):
        if s1 == 0:
            log_p = log_p + 2.0 * np.log(v / (v + s * s))
            continue
        if abs(1.0 - gamma) < 1e-12:
            integral = s * math.log(s1 / s)
        else:
            integral = s**gamma * (s1 ** (1 - gamma) - s ** (1 - gamma)) / (1 - gamma)
        a = 1.0 + s * integral / (v + s * s)
        log_p = log_p + 2.0 * np.log(np.abs(a))
    return np.exp(log_p)


def gaussian_optimal_gamma(
    variance: float,
    sigmas: Tensor | Sequence[float],
    start_var: float | None = None,
    bounds: tuple[float, float] = (-4.0, 0.99),
) -> float:
    r"""The :math:`\gamma` at which the deterministic placeholder step gives Gaussian data
    :math:`\mathcal N(m, v)` exactly its variance :math:`v` at the output (our derivation).

    Solves :math:`\log` :func:`gaussian_output_variance` :math:`(\gamma) = \log v` by Brent's
    method on the first sign change inside ``bounds`` (scanned on 400 points; every
    :math:`A_i(\gamma)` decreases with :math:`\gamma`, so the output variance decreases while
    all :math:`A_i > 0`). Raises ``ValueError`` if there is no root in ``bounds``.
    """
    from scipy.optimize import brentq

    check_positive("variance", variance)

    def f(g: float) -> float:
        return float(
            np.log(gaussian_output_variance(g, variance, sigmas, start_var)) - np.log(variance)
        )

    grid = np.linspace(bounds[0], bounds[1], 400)
    vals = [f(g) for g in grid]
    for a, b, fa, fb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:], strict=True):
        if fa == 0:
            return float(a)
        if fa * fb < 0:
            return float(brentq(f, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))
    raise ValueError(f"no gamma in {bounds} gives the exact output variance {variance!r}")


def gaussian_anchor_gamma(
    eigenvalues: np.ndarray | Sequence[float],
    sigmas: Tensor | Sequence[float],
    start_var: float | None = None,
    bounds: tuple[float, float] = (-3.0, 0.95),
) -> float:
    r"""Anchor for a :math:`\gamma` search on a target with covariance eigenvalues
    :math:`v_j`: the :math:`\gamma` minimising the summed Gaussian KL
    :math:`\sum_j \tfrac12\,(V_j/v_j - 1 - \log(V_j/v_j))` of the output variances
    :math:`V_j(\gamma)` (:func:`gaussian_output_variance`) against the :math:`v_j`, the
    Gaussian-optimal :math:`\gamma` of the target's Gaussian fit (means ignored: their output
    error is the tiny factor :math:`\prod_i A_i`). With one eigenvalue it is
    :func:`gaussian_optimal_gamma`.
    """
    from scipy.optimize import minimize_scalar

    v = np.asarray(eigenvalues, dtype=np.float64).ravel()

    def kl(g: float) -> float:
        r = gaussian_output_variance(g, v, sigmas, start_var) / v
        return float(0.5 * (r - 1.0 - np.log(r)).sum())

    res = minimize_scalar(kl, bounds=bounds, method="bounded", options={"xatol": 1e-10})
    return float(res.x)


__all__ += ["gaussian_output_variance", "gaussian_optimal_gamma", "gaussian_anchor_gamma"]


# -- exact log-density of a deterministic sampler's output (change of variables) -----------------
def _linear_coefficients(
    step: Callable[..., StepLaw], d: int, sigma: float, sigma_next: float
) -> tuple[float, float]:
    """``(p, q)`` with ``mean = p x + q D`` for a step that is linear in the state and the
    denoised estimate (probed with ``D = 0``, ``D = x`` and ``D = 2x``)."""
    one = torch.ones((1, d), dtype=torch.float64)
    m0, s0, _ = step(lambda xx, ss: torch.zeros_like(xx), one, sigma, sigma_next)
    m1, _, _ = step(lambda xx, ss: xx.clone(), one, sigma, sigma_next)
    m2, _, _ = step(lambda xx, ss: 2.0 * xx, one, sigma, sigma_next)
    p = float(m0[0, 0])
    q = float(m1[0, 0]) - p
    if s0 != 0:
        raise ValueError("the change of variables needs a deterministic step (noise scale 0)")
    if abs(float(m2[0, 0]) - (p + 2.0 * q)) > 1e-9 * (1.0 + abs(p) + abs(q)):
        raise ValueError("the step is not linear in (x, denoised): no closed-form Jacobian")
    return p, q


def deterministic_log_density(
    step: Callable[..., StepLaw],
    target: GaussianMixture | FullCovarianceMixture,
    x: Tensor,
    sigmas: Tensor | Sequence[float],
    start_var: float | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Run a deterministic step with the target's exact denoiser and track the exact
    log-density of every sample by the change of variables.

    A step :math:`x' = p\,x + q\,\hat x(x, s)` (every deterministic step of the parametric
    family; ``s`` the level at which the denoiser is queried) has Jacobian
    :math:`p I + q\,\mathrm{Cov}[x\mid\tilde x]/s^2` (Tweedie:
    :math:`\partial\hat x/\partial\tilde x = \mathrm{Cov}[x\mid\tilde x]/s^2`), in closed form
    for a Gaussian mixture (``target.posterior_cov``). Starting from
    :math:`x\sim\mathcal N(0, P_0 I)` (``P_0`` = ``start_var``, default ``sigmas[0]**2``),
    :math:`\log q(x') = \log q(x) - \log\det J`.

    Returns:
        ``(samples, log_q)``: the output states ``(n, d)`` and their exact log-density under
        the sampler's output law ``(n,)``. Raises ``ValueError`` if a Jacobian is not
        positive definite (the step folds or reflects the space).
    """
    lv = _levels(sigmas)
    x = as_float64(x)
    n, d = x.shape
    p0 = lv[0] ** 2 if start_var is None else float(start_var)
    log_q = -0.5 * (x**2).sum(-1) / p0 - 0.5 * d * math.log(2 * math.pi * p0)
    eye = torch.eye(d, dtype=torch.float64)
    for s, s1 in zip(lv[:-1], lv[1:], strict=True):
        called: list[float] = []

        def rec(xx: Tensor, ss: Tensor, _called: list[float] = called) -> Tensor:
            _called.append(float(torch.as_tensor(ss).reshape(-1)[0]))
            return target.denoise(xx, ss)

        mean, std, _ = step(rec, x, s, s1)
        if std != 0 or len(called) != 1:
            raise ValueError("the change of variables needs a deterministic one-call step")
        p, q = _linear_coefficients(step, d, s, s1)
        sc = called[0]
        jac = p * eye + (q / sc**2) * target.posterior_cov(x, sc)
        # J is symmetric; positive definite for every step inside the no-fold bound (p > 0,
        # q >= 0). A Cholesky factor gives log det J = 2 sum log diag(L) at a third of the cost
        # of an LU factorisation, and its failure flags a step that is not positive definite
        # (det J <= 0 somewhere, or a reflection): a fold, refused.
        chol, info = torch.linalg.cholesky_ex(jac)
        if bool((info != 0).any()):
            raise ValueError(f"a step from sigma={s:g} folds the space (J not positive definite)")
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        log_q = log_q - logdet
        x = mean
    return x, log_q


def no_fold_gamma(sigmas: Tensor | Sequence[float]) -> float:
    r"""The largest :math:`\gamma` for which every step of the deterministic placeholder keeps
    :math:`A_i = 1 + \sigma_i I_i(\gamma)/(v+\sigma_i^2) > 0` for **every** data variance
    :math:`v\ge 0` (the worst case :math:`v\to0`: :math:`1 + I_i(\gamma)/\sigma_i > 0`): beyond
    it some step reflects low-variance directions through the denoised estimate (a fold)."""
    from scipy.optimize import brentq

    lv = [s for s in _levels(sigmas) if s > 0]
    pairs = list(zip(lv[:-1], lv[1:], strict=True))
    if not pairs:
        raise ValueError("sigmas must contain a step between two positive levels")

    def worst(g: float) -> float:
        vals = []
        for s, s1 in pairs:
            if abs(1.0 - g) < 1e-12:
                i_ = s * math.log(s1 / s)
            else:
                i_ = s**g * (s1 ** (1 - g) - s ** (1 - g)) / (1 - g)
            vals.append(1.0 + i_ / s)
        return min(vals)

    hi = 0.0
    while worst(hi) > 0:
        hi += 0.25
        if hi > 50:
            return math.inf
    return float(brentq(worst, hi - 0.25, hi, xtol=1e-12))


def exact_kl_run(
    step: Callable[..., StepLaw],
    target: GaussianMixture | FullCovarianceMixture,
    sigmas: Tensor | Sequence[float],
    n: int,
    seed: int,
) -> tuple[np.ndarray, Tensor]:
    r"""One seeded run of :func:`deterministic_log_density` from :math:`\mathcal N(0,
    \sigma_0^2 I)`: the per-sample log-ratios :math:`\log q(x) - \log p(x)` (their mean is an
    unbiased Monte Carlo estimate of :math:`\mathrm{KL}(q\,\|\,p)`, exact densities on both
    sides) and the samples."""
    lv = _levels(sigmas)
    gen = torch.Generator().manual_seed(seed)
    x = lv[0] * torch.randn((n, target.dim), dtype=torch.float64, generator=gen)
    out, log_q = deterministic_log_density(step, target, x, lv)
    return (log_q - target.log_prob(out)).numpy(), out


def gamma_search(
    objective: Callable[[float], float],
    anchor: float,
    half_width: float = 0.5,
    xatol: float = 2e-3,
) -> tuple[float, float, int, bool]:
    r"""Continuous search of :math:`\gamma` (``scipy.optimize.minimize_scalar``, bounded Brent)
    on ``[anchor - half_width, anchor + half_width]``.

    Returns ``(gamma, objective(gamma), evaluations, at_bound)``; ``at_bound`` is true when the
    minimum lies within ``2 * xatol`` of an end of the bracket (widen it).
    """
    from scipy.optimize import minimize_scalar

    check_positive("half_width", half_width)
    lo, hi = anchor - half_width, anchor + half_width
    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    g = float(res.x)
    return g, float(res.fun), int(res.nfev), bool(min(g - lo, hi - g) < 2 * xatol)


def paired_seeds_needed(
    sd: float, effect: float, level: float = 0.05, power: float = 0.8, minimum: int = 5
) -> int:
    r"""Seeds for a paired design to detect a mean difference ``effect`` with the given
    ``power`` by a two-sided t-test at ``level``, from the pilot standard deviation ``sd`` of the
    paired differences: the smallest :math:`n\ge` ``minimum`` with
    :math:`n \ge \big((t_{1-\alpha/2,n-1} + t_{\text{power},n-1})\,sd/\text{effect}\big)^2`."""
    from scipy.stats import t as student_t

    check_positive("effect", effect)
    check_nonnegative("sd", sd)
    n = max(int(minimum), 2)
    while n < 100_000:
        need = (
            (student_t.ppf(1 - level / 2, n - 1) + student_t.ppf(power, n - 1)) * sd / effect
        ) ** 2
        if n >= need:
            return n
        n += 1
    return n


__all__ += [
    "no_fold_gamma",
    "deterministic_log_density",
    "exact_kl_run",
    "gamma_search",
    "paired_seeds_needed",
]


def heun_log_density(
    target: GaussianMixture | FullCovarianceMixture,
    x: Tensor,
    sigmas: Tensor | Sequence[float],
    start_var: float | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Heun's second-order probability-flow sampler (:func:`companion.samplers.heun_step`,
    Euler into :math:`\tilde\sigma=0`) with the target's exact denoiser, tracking the exact
    log-density of every sample by the change of variables (the second-order reference of the
    deterministic experiments).

    With :math:`d(x, s) = (x - \hat x(x, s))/s` and
    :math:`\partial d/\partial x = (I - \mathrm{Cov}[x\mid\tilde x]/s^2)/s` (Tweedie), a step
    :math:`x_e = x + h\,d(x, s)`, :math:`x' = x + \tfrac h2\,(d(x, s) + d(x_e, s'))` has the
    Jacobian :math:`I + \tfrac h2\,(D_1 + D_2 (I + h D_1))`, :math:`h = s' - s`; it is not
    symmetric, so :math:`\log|\det J|` comes from ``torch.linalg.slogdet``. A step with
    :math:`\det J\le 0` somewhere (a fold or a reflection) raises ``ValueError``. With ``N``
    levels the sampler calls the denoiser :math:`2N - 3` times (``N - 2`` Heun steps and the
    last Euler step).

    Returns ``(samples, log_q)`` as :func:`deterministic_log_density`.
    """
    lv = _levels(sigmas)
    x = as_float64(x)
    n, d = x.shape
    p0 = lv[0] ** 2 if start_var is None else float(start_var)
    log_q = -0.5 * (x**2).sum(-1) / p0 - 0.5 * d * math.log(2 * math.pi * p0)
    eye = torch.eye(d, dtype=torch.float64)

    def drift(xx: Tensor, s: float) -> tuple[Tensor, Tensor]:
        den = target.denoise(xx, xx.new_full((xx.shape[0],), s))
        jac = (eye - target.posterior_cov(xx, s) / s**2) / s
        return to_d(xx, s, den), jac

    for s, s1 in zip(lv[:-1], lv[1:], strict=True):
        h = s1 - s
        d1, j1 = drift(x, s)
        x_e = x + h * d1
        if s1 == 0:
            new, jac = x_e, eye + h * j1
        else:
            d2, j2 = drift(x_e, s1)
            new = x + 0.5 * h * (d1 + d2)
            jac = eye + 0.5 * h * (j1 + j2 @ (eye + h * j1))
        sign, logdet = torch.linalg.slogdet(jac)
        if bool((sign <= 0).any()):
            raise ValueError(f"a Heun step from sigma={s:g} folds the space (det J <= 0)")
        log_q = log_q - logdet
        x = new
    return x, log_q


def heun_kl_run(
    target: GaussianMixture | FullCovarianceMixture,
    sigmas: Tensor | Sequence[float],
    n: int,
    seed: int,
) -> np.ndarray:
    r"""One seeded run of :func:`heun_log_density` from :math:`\mathcal N(0, \sigma_0^2 I)`
    (same initial noise as :func:`exact_kl_run` for the same seed and dimension): the
    per-sample log-ratios :math:`\log q(x) - \log p(x)`, whose mean estimates
    :math:`\mathrm{KL}(q\,\|\,p)` without bias."""
    lv = _levels(sigmas)
    gen = torch.Generator().manual_seed(seed)
    x = lv[0] * torch.randn((n, target.dim), dtype=torch.float64, generator=gen)
    out, log_q = heun_log_density(target, x, lv)
    return (log_q - target.log_prob(out)).numpy()
