r"""Samplers in the k-diffusion calling convention, written from the mathematics.

Everything runs in the SNR form :math:`\tilde x = x + \tilde\sigma\varepsilon`
(see :mod:`companion.schedules`). A *denoiser* is any callable ``denoiser(x, sigma)`` returning
:math:`\hat x \approx E[x_0\mid \tilde x = x]`, where ``x`` has shape ``(n, ...)`` and ``sigma``
has shape ``(n,)``; ``sigmas`` is a strictly decreasing grid that may end at 0. A k-diffusion
denoiser plugs in unchanged.

Each sampler is one *step* function (one screen, the paper's update) iterated by
:func:`run_sampler`. A step returns the **Gaussian law of the next state given the current
one**: a mean (same shape as ``x``) and a scalar standard deviation. Samplers draw from it;
:mod:`companion.grid` propagates densities through it exactly. A step to ``sigma_next = 0``
returns the denoised estimate (no noise), as is customary.

Notation inside the steps: ``s = sigma`` (current level), ``s1 = sigma_next``,
``x0 = denoiser(x, s)``, ``eps = (x - x0)/s`` (the noise prediction, also the ODE derivative
:math:`dx/d\sigma`, see :func:`to_d`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

from ._checks import check_decreasing_sigmas, check_in, check_nonnegative
from .progress import progress

__all__ = [
    "Denoiser",
    "to_d",
    "ancestral_split",
    "euler_step",
    "heun_step",
    "ddim_step",
    "ddpm_step",
    "euler_maruyama_step",
    "frozen_denoiser_step",
    "frozen_eps_step",
    "ve_exponential_step",
    "run_sampler",
    "sample_euler",
    "sample_heun",
    "sample_ddim",
    "sample_ddpm",
    "sample_euler_maruyama",
    "sample_frozen_denoiser",
    "sample_frozen_eps",
    "sample_ve_exponential",
    "STEPS",
    "SAMPLERS",
    "get_step",
    "gaussian_kl",
    "gaussian_output_law",
    "variance_corrected_step",
]

Denoiser = Callable[[Tensor, Tensor], Tensor]
StepLaw = tuple[Tensor, float | Tensor, Tensor]  # (mean, std, denoised); std per state: (n, 1)


class Step(Protocol):
    def __call__(
        self, denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, **options: Any
    ) -> StepLaw: ...


def _denoise(denoiser: Denoiser, x: Tensor, sigma: float) -> Tensor:
    return denoiser(x, x.new_full((x.shape[0],), sigma))


def to_d(x: Tensor, sigma: float | Tensor, denoised: Tensor) -> Tensor:
    r"""Probability-flow ODE derivative :math:`dx/d\sigma = (x - \hat x)/\sigma` (the noise prediction)."""
    return (x - denoised) / sigma


def ancestral_split(sigma: float, sigma_next: float, eta: float = 1.0) -> tuple[float, float]:
    r"""Split a step into deterministic and fresh noise: ``(sigma_down, sigma_up)`` with
    :math:`\sigma_{up} = \min(\sigma', \eta\,\sigma'\sqrt{1-\sigma'^2/\sigma^2})` and
    :math:`\sigma_{down}^2 = \sigma'^2 - \sigma_{up}^2`. ``eta = 1`` is the DDPM posterior."""
    if sigma_next == 0:
        return 0.0, 0.0
    up = min(sigma_next, eta * sigma_next * math.sqrt(max(0.0, 1.0 - sigma_next**2 / sigma**2)))
    return math.sqrt(max(sigma_next**2 - up**2, 0.0)), up


# -- steps --------------------------------------------------------------------------------
def euler_step(denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float) -> StepLaw:
    """Euler step of the probability-flow ODE ``dx/dsigma = (x - x0)/sigma``."""
    x0 = _denoise(denoiser, x, sigma)
    return x + (sigma_next - sigma) * to_d(x, sigma, x0), 0.0, x0


def heun_step(denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float) -> StepLaw:
    """Heun (trapezoidal predictor-corrector) step of the probability-flow ODE; Euler into 0."""
    x0 = _denoise(denoiser, x, sigma)
    d = to_d(x, sigma, x0)
    x_euler = x + (sigma_next - sigma) * d
    if sigma_next == 0:
        return x_euler, 0.0, x0
    d_next = to_d(x_euler, sigma_next, _denoise(denoiser, x_euler, sigma_next))
    return x + (sigma_next - sigma) * 0.5 * (d + d_next), 0.0, x0


def ddim_step(
    denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, eta: float = 0.0
) -> StepLaw:
    r"""DDIM step with stochasticity ``eta``: :math:`x' = \hat x + \sigma_{down}\,\hat\varepsilon + \sigma_{up}\xi`.

    ``eta = 0`` is deterministic DDIM (identical to Euler in the SNR form), ``eta = 1`` is DDPM.
    """
    x0 = _denoise(denoiser, x, sigma)
    down, up = ancestral_split(sigma, sigma_next, eta)
    return x0 + down * to_d(x, sigma, x0), up, x0


def ddpm_step(denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float) -> StepLaw:
    r"""DDPM ancestral step: sample the forward posterior :math:`q(x_{\sigma'}\mid x_\sigma, \hat x)`."""
    return ddim_step(denoiser, x, sigma, sigma_next, eta=1.0)


def frozen_denoiser_step(
    denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, rho: float = 1.0
) -> StepLaw:
    r"""Exact Gaussian step of the :math:`\rho`-family reverse SDE with :math:`\hat x` frozen over the step.

    Solving the linear SDE exactly gives fresh-noise variance
    :math:`\beta^2 = \sigma'^2\big(1 - (\sigma'/\sigma)^{2\rho^2}\big)`
    (that is, :math:`\sigma_s^2(1-(\lambda_t/\lambda_s)^{\rho^2})` in the SNR variable):
    ``rho = 0`` is DDIM and ``rho = 1`` is the DDPM posterior.
    """
    x0 = _denoise(denoiser, x, sigma)
    if sigma_next == 0:
        return x0, 0.0, x0
    up = sigma_next * math.sqrt(1.0 - (sigma_next / sigma) ** (2.0 * rho**2))
    down = math.sqrt(max(sigma_next**2 - up**2, 0.0))
    return x0 + down * to_d(x, sigma, x0), up, x0


def frozen_eps_step(
    denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, rho: float = 1.0
) -> StepLaw:
    r"""Exact solution of the :math:`\rho`-family SDE with the *noise prediction* frozen:
    :math:`x' = x + (1+\rho^2)(\sigma'-\sigma)\hat\varepsilon + \rho\sqrt{\sigma^2-\sigma'^2}\,\xi`."""
    x0 = _denoise(denoiser, x, sigma)
    if sigma_next == 0:
        return x0, 0.0, x0
    mean = x + (1.0 + rho**2) * (sigma_next - sigma) * to_d(x, sigma, x0)
    return mean, rho * math.sqrt(sigma**2 - sigma_next**2), x0


def euler_maruyama_step(
    denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, rho: float = 1.0
) -> StepLaw:
    r"""Euler-Maruyama step of the :math:`\rho`-family reverse SDE in the SNR form,
    :math:`dx = (1+\rho^2)\hat\varepsilon\,d\sigma + \rho\sqrt{2\sigma}\,d\bar W_\sigma`
    (``rho = 0``: probability-flow ODE; ``rho = 1``: the reverse-time SDE)."""
    x0 = _denoise(denoiser, x, sigma)
    if sigma_next == 0:
        return x0, 0.0, x0
    mean = x + (1.0 + rho**2) * (sigma_next - sigma) * to_d(x, sigma, x0)
    return mean, rho * math.sqrt(2.0 * sigma * (sigma - sigma_next)), x0


def ve_exponential_step(denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float) -> StepLaw:
    r"""Exponential-integrator step of the VE reverse SDE (score frozen at the start of the step):
    :math:`x' = x + (\sigma^2-\sigma'^2)\,s(x,\sigma) + \sqrt{\sigma^2-\sigma'^2}\,\xi` with
    :math:`s = (\hat x - x)/\sigma^2`."""
    x0 = _denoise(denoiser, x, sigma)
    if sigma_next == 0:
        return x0, 0.0, x0
    mean = x + (1.0 - sigma_next**2 / sigma**2) * (x0 - x)
    return mean, math.sqrt(sigma**2 - sigma_next**2), x0


STEPS: dict[str, Callable[..., StepLaw]] = {
    "euler": euler_step,
    "heun": heun_step,
    "ddim": ddim_step,
    "ddpm": ddpm_step,
    "euler_maruyama": euler_maruyama_step,
    "frozen_denoiser": frozen_denoiser_step,
    "frozen_eps": frozen_eps_step,
    "ve_exponential": ve_exponential_step,
}


def get_step(name: str) -> Callable[..., StepLaw]:
    """Look up a step function by name (see :data:`STEPS`)."""
    check_in("sampler", name, list(STEPS))
    return STEPS[name]


# -- the one loop -------------------------------------------------------------------------
def run_sampler(
    step: Callable[..., StepLaw],
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    disable: bool | None = None,
    **options: float,
) -> Tensor:
    """Iterate ``step`` over consecutive noise levels, drawing fresh noise where the step asks.

    Args:
        step: a step function from :data:`STEPS` (or one of the same signature).
        denoiser: ``denoiser(x, sigma)`` returning the denoised estimate.
        x: initial state at ``sigmas[0]``, e.g. ``sigmas[0] * randn``, shape ``(n, ...)``.
        sigmas: strictly decreasing noise levels (SNR form), may end at 0.
        generator: torch generator for the injected noise (reproducibility).
        callback: called after each step with ``x``, ``i``, ``sigma``, ``sigma_next``, ``denoised``.
        disable: silence the progress bar (default: environment, see :mod:`companion.progress`).
        options: step options such as ``eta`` or ``rho``.

    Returns:
        The final state, same shape as ``x``.
    """
    check_decreasing_sigmas(sigmas)
    if not isinstance(x, Tensor) or x.ndim < 1:
        raise TypeError("x must be a tensor of shape (n, ...)")
    for name, value in options.items():
        check_nonnegative(name, value)
    levels = sigmas.tolist()
    for i in progress(
        range(len(levels) - 1), desc=getattr(step, "__name__", "sampling"), disable=disable
    ):
        mean, std, x0 = step(denoiser, x, levels[i], levels[i + 1], **options)
        if isinstance(std, Tensor) or std > 0:
            noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
            x = mean + std * noise
        else:
            x = mean
        if callback is not None:
            callback(
                {"x": x, "i": i, "sigma": levels[i], "sigma_next": levels[i + 1], "denoised": x0}
            )
    return x


def sample_euler(denoiser: Denoiser, x: Tensor, sigmas: Tensor, **kw: Any) -> Tensor:
    """Euler sampler of the probability-flow ODE (see :func:`euler_step`, :func:`run_sampler`)."""
    return run_sampler(euler_step, denoiser, x, sigmas, **kw)


def sample_heun(denoiser: Denoiser, x: Tensor, sigmas: Tensor, **kw: Any) -> Tensor:
    """Heun sampler of the probability-flow ODE, two denoiser calls per step (:func:`heun_step`)."""
    return run_sampler(heun_step, denoiser, x, sigmas, **kw)


def sample_ddim(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, eta: float = 0.0, **kw: Any
) -> Tensor:
    """DDIM sampler with stochasticity ``eta`` (:func:`ddim_step`)."""
    return run_sampler(ddim_step, denoiser, x, sigmas, eta=eta, **kw)


def sample_ddpm(denoiser: Denoiser, x: Tensor, sigmas: Tensor, **kw: Any) -> Tensor:
    """DDPM ancestral sampler (:func:`ddpm_step`)."""
    return run_sampler(ddpm_step, denoiser, x, sigmas, **kw)


def sample_euler_maruyama(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, rho: float = 1.0, **kw: Any
) -> Tensor:
    """Euler-Maruyama sampler of the rho-family reverse SDE (:func:`euler_maruyama_step`)."""
    return run_sampler(euler_maruyama_step, denoiser, x, sigmas, rho=rho, **kw)


def sample_frozen_denoiser(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, rho: float = 1.0, **kw: Any
) -> Tensor:
    """Exact-Gaussian-step sampler with frozen denoised estimate (:func:`frozen_denoiser_step`)."""
    return run_sampler(frozen_denoiser_step, denoiser, x, sigmas, rho=rho, **kw)


def sample_frozen_eps(
    denoiser: Denoiser, x: Tensor, sigmas: Tensor, rho: float = 1.0, **kw: Any
) -> Tensor:
    """Frozen-noise-prediction sampler of the rho-family SDE (:func:`frozen_eps_step`)."""
    return run_sampler(frozen_eps_step, denoiser, x, sigmas, rho=rho, **kw)


def sample_ve_exponential(denoiser: Denoiser, x: Tensor, sigmas: Tensor, **kw: Any) -> Tensor:
    """VE exponential-integrator sampler (:func:`ve_exponential_step`)."""
    return run_sampler(ve_exponential_step, denoiser, x, sigmas, **kw)


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "ddim": sample_ddim,
    "ddpm": sample_ddpm,
    "euler_maruyama": sample_euler_maruyama,
    "frozen_denoiser": sample_frozen_denoiser,
    "frozen_eps": sample_frozen_eps,
    "ve_exponential": sample_ve_exponential,
}


# -- exact output law for Gaussian data ----------------------------------------------------
def gaussian_kl(m1: float, v1: float, m2: float, v2: float) -> float:
    r""":math:`\mathrm{KL}(\mathcal N(m_1, v_1)\,\|\,\mathcal N(m_2, v_2))` in 1-D, written so that
    tiny divergences keep their digits (:math:`r - \log(1+r)` with :math:`r = (v_1-v_2)/v_2`)."""
    check_nonnegative("v1", v1)
    if v2 <= 0:
        raise ValueError(f"v2 must be positive, got {v2!r}")
    r = (v1 - v2) / v2
    small = abs(r) < 1e-3  # series of r - log1p(r): no cancellation for tiny r
    core = r * r * (0.5 - r / 3.0 + r * r / 4.0 - r**3 / 5.0) if small else r - math.log1p(r)
    return 0.5 * core + 0.5 * (m1 - m2) ** 2 / v2


def gaussian_output_law(
    step: Callable[..., StepLaw],
    mean: float,
    var: float,
    sigmas: Tensor,
    start: tuple[float, float] | None = None,
    **options: float,
) -> tuple[float, float]:
    r"""Exact law ``(mean, variance)`` of a sampler's output for 1-D Gaussian data :math:`\mathcal N(m, v)`.

    With the exact denoiser :math:`\hat x(x, \sigma) = m + \frac{v}{v+\sigma^2}(x - m)`
    (written here from the formula, not taken from :mod:`companion.gmm`) every step in
    :data:`STEPS` is affine in the state plus independent Gaussian noise,
    :math:`x' = A x + B + s\,\xi`. The step itself is evaluated at ``x = 0`` and ``x = 1`` to read
    off ``A`` and ``B``, so the law of the state stays Gaussian and follows
    :math:`M' = A M + B`, :math:`P' = A^2 P + s^2` exactly: no grid, no sampling. ``start`` is the
    law at ``sigmas[0]`` (default the exact noised data :math:`\mathcal N(m, v + \sigma_0^2)`).
    Compare the result with :math:`\mathcal N(m, v + \sigma_{\min}^2)` by :func:`gaussian_kl`.
    """
    check_decreasing_sigmas(sigmas)
    if var <= 0:
        raise ValueError(f"var must be positive, got {var!r}")
    m, v = float(mean), float(var)

    def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
        s2 = (sigma**2).reshape(-1, *([1] * (x.ndim - 1)))
        return m + v / (v + s2) * (x - m)

    levels = sigmas.tolist()
    M, P = start if start is not None else (m, v + levels[0] ** 2)
    probe = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    for s, s1 in zip(levels[:-1], levels[1:], strict=True):
        out, std, _ = step(denoiser, probe, s, s1, **options)
        B = float(out[0, 0])
        A = float(out[1, 0]) - B
        M, P = A * M + B, A * A * P + std * std
    return M, P


# -- the variance-corrected frozen-denoiser kernel (Analytic-DPM) --------------------------
def variance_corrected_step(mean_posterior_var: Callable[[float], float]) -> Callable[..., StepLaw]:
    r"""The frozen-denoiser kernel with its variance corrected for the posterior spread of
    :math:`x` (the optimal state-independent variance of Analytic-DPM, Bao et al. 2022).

    :func:`frozen_denoiser_step` draws :math:`x' = c\,x + (1-c)\,\hat x + b\,\xi` with
    :math:`c = \sqrt{\sigma'^2-b^2}/\sigma` and :math:`b^2 = \sigma'^2(1-(\sigma'/\sigma)^{2\rho^2})`:
    it is the non-Markovian posterior :math:`q(x'\mid x, x_0)` with the unknown :math:`x_0`
    replaced by its posterior mean, as if :math:`\mathrm{Var}[x_0\mid x] = 0`. The true reverse
    kernel :math:`\int q(x'\mid x, x_0)\,p(x_0\mid x)\,dx_0` has the same mean and the variance
    :math:`b^2 + (1-c)^2\,\mathrm{Var}[x_0\mid x]`. Analytic-DPM keeps the Gaussian kernel with a
    variance that does not depend on the state and chooses the one that minimises the KL from
    the true reverse process, which puts the **mean** posterior variance
    :math:`E_{p_\sigma}\mathrm{Var}[x_0\mid x] = \mathrm{mmse}(\sigma)` (per dimension) in place of
    :math:`\mathrm{Var}[x_0\mid x]`:

    .. math:: \mathrm{std}^2 = b^2 + (1-c)^2\,\bar v(\sigma), \qquad
              \bar v(\sigma) = E_{p_\sigma}\mathrm{Var}[x_0\mid x].

    For Gaussian data the posterior variance does not depend on the state, and the corrected
    kernel is the exact reverse kernel: from the exact marginal, every step lands on the exact
    marginal (the uncorrected one does not, except for a point mass).

    Args:
        mean_posterior_var: :math:`\sigma\mapsto\bar v(\sigma)\ge0`, e.g. the mmse of a mixture
            target at noise level :math:`\sigma` (:func:`companion.information.mmse` at
            :math:`\lambda = \sigma^{-2}`), or for a trained network
            :math:`\sigma^2(1 - E|\hat\varepsilon|^2/d)` estimated on samples as in the paper.

    Returns:
        A step ``step(denoiser, x, sigma, sigma_next, rho=1.0)`` of the signature of the other
        steps; into ``sigma_next = 0`` it returns the denoised estimate, as they do.
    """
    if not callable(mean_posterior_var):
        raise TypeError("mean_posterior_var must be a callable sigma -> float")

    def step(
        denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, rho: float = 1.0
    ) -> StepLaw:
        x0 = _denoise(denoiser, x, sigma)
        if sigma_next == 0:
            return x0, 0.0, x0
        up = sigma_next * math.sqrt(1.0 - (sigma_next / sigma) ** (2.0 * rho**2))
        down = math.sqrt(max(sigma_next**2 - up**2, 0.0))
        v = float(mean_posterior_var(sigma))
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"mean_posterior_var({sigma!r}) must be finite and >= 0, got {v!r}")
        gain = 1.0 - down / sigma  # the weight of x0 in the mean
        return x0 + down * to_d(x, sigma, x0), math.sqrt(up**2 + gain**2 * v), x0

    step.__name__ = "variance_corrected_step"
    return step


def state_variance_step(posterior_var: Callable[[Tensor, float], Tensor]) -> Callable[..., StepLaw]:
    r"""The frozen-denoiser kernel with the posterior variance **at each state**: the Gaussian
    kernel with the mean and variance of the true reverse kernel (its moment-matched Gaussian).

    With the notation of :func:`variance_corrected_step`, the step draws

    .. math:: x' \sim \mathcal N\big(c\,x + (1-c)\,\hat x(x),\;
              b^2 + (1-c)^2\,\mathrm{Var}[x_0\mid x]\big),

    where :func:`variance_corrected_step` puts the state-independent mean posterior variance in
    place of :math:`\mathrm{Var}[x_0\mid x]`. Its standard deviation is a tensor of shape
    ``(n, 1)``, one value per state, which :func:`run_sampler` and
    :func:`companion.grid.propagate` (dense Gaussian-sum quadrature) accept. Into
    ``sigma_next = 0`` (:math:`b = 0`, :math:`c = 0`) it draws from
    :math:`\mathcal N(\hat x, \mathrm{Var}[x_0\mid x])`, the moment-matched Gaussian of
    :math:`p(x_0\mid x)`, not the denoised estimate alone.

    Args:
        posterior_var: ``posterior_var(x, sigma)``, the posterior variance
            :math:`\mathrm{Var}[x_0\mid x]` per state for ``x`` of shape ``(n, 1)`` (1-D data),
            shape ``(n,)`` or ``(n, 1)``, e.g. ``gmm.posterior_cov(x, sigma)[:, 0, 0]`` for a
            mixture target.

    Returns:
        A step ``step(denoiser, x, sigma, sigma_next, rho=1.0)`` of the signature of the other
        steps.
    """
    if not callable(posterior_var):
        raise TypeError("posterior_var must be a callable (x, sigma) -> Tensor")

    def step(
        denoiser: Denoiser, x: Tensor, sigma: float, sigma_next: float, rho: float = 1.0
    ) -> StepLaw:
        if x.ndim != 2 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (n, 1) (1-D data), got {tuple(x.shape)}")
        mean, up, x0 = frozen_denoiser_step(denoiser, x, sigma, sigma_next, rho=rho)
        v = torch.as_tensor(posterior_var(x, sigma), dtype=x.dtype, device=x.device)
        v = v.reshape(x.shape[0], 1)
        if not bool(torch.isfinite(v).all()) or bool((v < 0).any()):
            raise ValueError("posterior_var must be finite and >= 0 at every state")
        gain = 1.0 - math.sqrt(max(sigma_next**2 - float(up) ** 2, 0.0)) / sigma
        return mean, torch.sqrt(float(up) ** 2 + gain**2 * v), x0

    step.__name__ = "state_variance_step"
    return step
