r"""Error decomposition of VE diffusion models: training by GD, sampling bounds, schedules.

Companion code of the chapter on Wang, He and Tao (2024), *Evaluating the design space of
diffusion-based generative models*. The paper bounds the output KL of a variance-exploding
(VE) sampler by an initialization, a discretization and a score-error term,
:math:`E_I + E_D + E_S`, and combines this with a gradient-descent analysis of denoising score
matching (DSM). The paper's exact constants were not available to us: the three ``bound_*``
functions below are **our reconstructions** of the *form* of these terms (labelled as such in
the chapter), used as proxies up to one fitted constant.

**Contents.**

* Bound proxies: :func:`bound_initialization` (:math:`E_I`), :func:`bound_discretization`
  (:math:`E_D`), :func:`bound_score` (:math:`E_S`), and the exact initialization KL
  :func:`initialization_kl` (1-D).
* Ground-truth error of a denoiser: :func:`score_error` (per-sigma RMS error in
  :math:`\varepsilon` units against a Gaussian mixture, exact quadrature in 1-D).
* A controlled score-error model: :class:`PerturbedDenoiser`.
* Exact end-to-end KL of the VE exponential-integrator sampler: :func:`schedule_sigmas`,
  :func:`output_kl`.
* Training drivers: :func:`discrete_levels`, :data:`EPS_PROFILES`,
  :func:`train_checkpoints` (Adam checkpoints, E4.3), :data:`TRAINING_PRESETS` and
  :func:`train_preset` (noise distribution x weighting, E4.4), :func:`eps_weight_density`.
* Independent references and machinery checks: :func:`gaussian_output_kl` (closed-form output
  KL of the sampler for Gaussian data, no grid).
* The crossover level of the score error (E4.3): error shapes :data:`ERROR_PROFILES`,
  :func:`normalised_profile`, :func:`interpolated_profile`; the level :func:`bound_crossover`
  at which the reconstructed bounds of the two schedules are equal; random affine errors
  (:func:`affine_error_fields`, :func:`affine_error`) whose output KL on Gaussian data is in
  closed form (:func:`gaussian_perturbed_output_kl`); :func:`first_crossing` of a measured
  difference.

Conventions: SNR (VE) form :math:`\tilde x = x + \sigma\varepsilon`; a denoiser is
``D(x, sigma)`` with ``x`` of shape ``(n, d)`` and ``sigma`` of shape ``(n,)``; the score is
:math:`(D - x)/\sigma^2`, and an error of ``D`` of size :math:`\delta` is a score error
:math:`\delta/\sigma^2`, i.e. :math:`\delta/\sigma` in :math:`\varepsilon` units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import check_decreasing_sigmas, check_in, check_nonnegative, check_positive
from .gmm import GaussianMixture
from .grid import GridDensity, Quadrature, kl_divergence, sampler_output_kl
from .nets import MLPDenoiser
from .samplers import Denoiser, ve_exponential_step
from .schedules import VPLinear, exponential_sigmas, karras_sigmas
from .training import NoiseDistribution, lognormal, loguniform, train_denoiser

__all__ = [
    "bound_initialization",
    "bound_discretization",
    "bound_score",
    "initialization_kl",
    "score_error",
    "PerturbedDenoiser",
    "TorchDenoiser",
    "schedule_sigmas",
    "output_kl",
    "discrete_levels",
    "EPS_PROFILES",
    "train_checkpoints",
    "TrainingPreset",
    "TRAINING_PRESETS",
    "train_preset",
    "eps_weight_density",
    "gaussian_output_kl",
    "normalised_profile",
    "ERROR_PROFILES",
    "interpolated_profile",
    "bound_crossover",
    "affine_error_fields",
    "affine_error",
    "gaussian_perturbed_output_kl",
    "first_crossing",
    "gaussian_sensitivity",
    "gaussian_sensitivity_density",
    "bump_response",
    "bump_density_response",
    "peak_location",
    "BumpDenoiser",
]


# -- bound proxies (our reconstruction of the form of Theorem 2) --------------------------------
def bound_initialization(second_moment: float, dim: int, sigma_max: float) -> float:
    r"""Initialization proxy :math:`E_I = (m_2 + d)/\sigma_{\max}^2` (reconstructed form).

    Args:
        second_moment: :math:`m_2 = E\|x\|^2` of the data.
        dim: data dimension :math:`d`.
        sigma_max: initial noise level of the sampler.
    """
    check_nonnegative("second_moment", second_moment)
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    check_positive("sigma_max", sigma_max)
    return (second_moment + dim) / sigma_max**2


def _levels(sigmas: Tensor) -> Tensor:
    check_decreasing_sigmas(sigmas)
    if float(sigmas[-1]) <= 0:
        raise ValueError("sigmas must end at sigma_min > 0 (early stopping), not at 0")
    return sigmas.to(torch.float64)


def bound_discretization(sigmas: Tensor, dim: int = 1) -> float:
    r"""Discretization proxy :math:`E_D = d\sum_k\big((\sigma_k^2-\sigma_{k+1}^2)/\sigma_{k+1}^2\big)^2`.

    Our reconstruction of the form of the discretization term of a VE bound (steps measured in
    :math:`\sigma^2`, relative to the end of each step). ``sigmas``: decreasing grid ending at
    :math:`\sigma_{\min}>0`, shape ``(N,)``.
    """
    s = _levels(sigmas)
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    rel = (s[:-1] ** 2 - s[1:] ** 2) / s[1:] ** 2
    return float(dim * (rel**2).sum())


def bound_score(sigmas: Tensor, eps_error: Tensor | Callable[[Tensor], Tensor]) -> float:
    r"""Score-error proxy :math:`E_S = \sum_k(\sigma_k^2-\sigma_{k+1}^2)\,E\|s_\theta-\nabla\log p_{\sigma_k}\|^2`.

    With the error in :math:`\varepsilon` units, :math:`e(\sigma) = \sigma\,(E\|s_\theta-\nabla\log
    p_\sigma\|^2)^{1/2}`, this is :math:`\sum_k (1-\sigma_{k+1}^2/\sigma_k^2)\,e(\sigma_k)^2`.

    Args:
        sigmas: decreasing grid ending at :math:`\sigma_{\min}>0`, shape ``(N,)``.
        eps_error: :math:`e(\sigma_k)` at ``sigmas[:-1]`` (shape ``(N-1,)``) or a callable
            mapping noise levels to errors.
    """
    s = _levels(sigmas)
    e = (
        eps_error(s[:-1])
        if callable(eps_error)
        else torch.as_tensor(eps_error, dtype=torch.float64)
    )
    if e.shape != (s.numel() - 1,):
        raise ValueError(f"eps_error must have shape ({s.numel() - 1},), got {tuple(e.shape)}")
    return float(((1.0 - s[1:] ** 2 / s[:-1] ** 2) * e.to(s) ** 2).sum())


def _support(gmm: GaussianMixture, sigma: float, width: float = 12.0) -> tuple[float, float]:
    sd = math.sqrt(float(gmm.variances.max()) + sigma**2)
    return float(gmm.means.min()) - width * sd, float(gmm.means.max()) + width * sd


def initialization_kl(gmm: GaussianMixture, sigma_max: float, n_points: int = 20_001) -> Quadrature:
    r"""Exact :math:`\mathrm{KL}(p_{\sigma_{\max}}\,\|\,\mathcal N(0,\sigma_{\max}^2))` by quadrature (1-D)."""
    _check_1d(gmm)
    check_positive("sigma_max", sigma_max)
    lo, hi = _support(gmm, sigma_max)
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64, device=gmm.device)

    def prior(z: Tensor) -> Tensor:
        return torch.exp(-0.5 * (z / sigma_max) ** 2) / (sigma_max * math.sqrt(2 * math.pi))

    return kl_divergence(lambda z: gmm.prob(z.unsqueeze(-1), sigma_max), prior, x)


def _check_1d(gmm: GaussianMixture) -> None:
    if not isinstance(gmm, GaussianMixture):
        raise TypeError(f"gmm must be a GaussianMixture, got {type(gmm).__name__}")
    if gmm.dim != 1:
        raise ValueError(f"gmm must be one-dimensional for exact quadrature, got d={gmm.dim}")


# -- exact score error --------------------------------------------------------------------------
def score_error(
    denoiser: Denoiser,
    gmm: GaussianMixture,
    sigmas: Tensor | Sequence[float],
    n_points: int = 4001,
    n_mc: int = 20_000,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Per-level RMS score error in :math:`\varepsilon` units against the mixture's exact score.

    .. math:: e(\sigma) = \sigma\,\big(E_{\tilde x\sim p_\sigma}\|s_\theta(\tilde x,\sigma)-\nabla
              \log p_\sigma(\tilde x)\|^2\big)^{1/2}
              = \big(E\|D(\tilde x,\sigma)-D^*(\tilde x,\sigma)\|^2\big)^{1/2}/\sigma .

    In d = 1 the expectation is a trapezoid rule on ``n_points`` nodes covering the mass of
    :math:`p_\sigma`; in d > 1 a Monte Carlo average over ``n_mc`` draws.

    Args:
        denoiser: ``D(x, sigma)`` (float64 in, float64 out; wrap float32 nets with
            :class:`TorchDenoiser`).
        gmm: the data mixture.
        sigmas: noise levels, shape ``(L,)``, all > 0.

    Returns:
        Errors :math:`e(\sigma_l)`, shape ``(L,)``, float64.
    """
    if not isinstance(gmm, GaussianMixture):
        raise TypeError(f"gmm must be a GaussianMixture, got {type(gmm).__name__}")
    levels = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if levels.numel() == 0 or not bool((levels > 0).all()):
        raise ValueError("sigmas must be a non-empty list of positive noise levels")
    out = torch.empty_like(levels)
    for i, s in enumerate(levels.tolist()):
        if gmm.dim == 1:
            lo, hi = _support(gmm, s, width=10.0)
            x = torch.linspace(lo, hi, n_points, dtype=torch.float64, device=gmm.device).unsqueeze(
                -1
            )
            w = gmm.prob(x, s)
            sig = x.new_full((x.shape[0],), s)
            err = ((denoiser(x, sig) - gmm.denoise(x, sig)) ** 2).sum(-1)
            mse = torch.trapezoid(w * err, x[:, 0]) / torch.trapezoid(w, x[:, 0])
        else:
            x0 = gmm.sample(n_mc, generator)
            x = x0 + s * torch.randn(x0.shape, dtype=x0.dtype, generator=generator).to(x0)
            sig = x.new_full((x.shape[0],), s)
            mse = ((denoiser(x, sig) - gmm.denoise(x, sig)) ** 2).sum(-1).mean()
        out[i] = torch.sqrt(mse) / s
    return out


class PerturbedDenoiser:
    r"""The exact mixture denoiser plus a smooth random error of size ``e`` in :math:`\varepsilon` units.

    :math:`D_e(x,\sigma) = D^*(x,\sigma) + e\,\sigma\,\phi(x,\sigma)` with the random-feature field
    :math:`\phi = \sqrt{2/M}\sum_{j\le M}\cos(\omega_j u + \nu_j\log\sigma + b_j)`,
    :math:`u = x/\sqrt{\sigma^2+s^2}`, :math:`\omega_j\sim\mathcal N(0, I)`,
    :math:`\nu_j\sim\mathcal N(0,1)`, :math:`b_j\sim U(0,2\pi)`. So :math:`E\phi^2\approx 1` and
    the score error is about :math:`e/\sigma` at every level: a *controlled* error whose size does
    not depend on the noise level in :math:`\varepsilon` units (our model, not the paper's).

    Args:
        gmm: the data mixture (its exact denoiser is perturbed).
        e: error size in :math:`\varepsilon` units (>= 0).
        seed: seed of the random field.
        n_features: number of random features :math:`M`.
        scale: the length scale :math:`s` (default: the data standard deviation).
    """

    def __init__(
        self,
        gmm: GaussianMixture,
        e: float,
        seed: int = 0,
        n_features: int = 16,
        scale: float | None = None,
    ) -> None:
        if not isinstance(gmm, GaussianMixture):
            raise TypeError(f"gmm must be a GaussianMixture, got {type(gmm).__name__}")
        self.gmm = gmm
        self.e = check_nonnegative("e", e)
        if not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        self.scale = (
            check_positive("scale", scale)
            if scale is not None
            else float(torch.sqrt(torch.diagonal(gmm.covariance()).mean()))
        )
        g = torch.Generator().manual_seed(seed)
        d = gmm.dim
        self.omega = torch.randn((n_features, d, d), dtype=torch.float64, generator=g)
        self.nu = torch.randn((n_features, d), dtype=torch.float64, generator=g)
        self.b = 2 * math.pi * torch.rand((n_features, d), dtype=torch.float64, generator=g)
        self.n_features = n_features

    def field(self, x: Tensor, sigma: Tensor) -> Tensor:
        r"""The unit-size random field :math:`\phi(x,\sigma)`, shape ``(n, d)``."""
        s = sigma.to(x).reshape(-1, 1)
        u = x / torch.sqrt(s**2 + self.scale**2)
        phase = torch.einsum("jkd,nd->njk", self.omega.to(x), u)
        phase = phase + self.nu.to(x) * torch.log(s).unsqueeze(-1) + self.b.to(x)
        return math.sqrt(2.0 / self.n_features) * torch.cos(phase).sum(1)

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        s = s.expand(x.shape[0]) if s.ndim == 0 else s
        return self.gmm.denoise(x, s) + self.e * s.unsqueeze(-1) * self.field(x, s)


class TorchDenoiser:
    """Wrap a trained network (float32) as a float64 denoiser without gradients."""

    def __init__(self, model: torch.nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        p = next(model.parameters())
        self.dtype, self.device = p.dtype, p.device

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        with torch.no_grad():
            s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1).expand(x.shape[0])
            out = self.model(x.to(self.device, self.dtype), s.to(self.device, self.dtype))
        return out.to(x.device, torch.float64)


# -- schedules and the exact end-to-end KL -------------------------------------------------------
def schedule_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float | None = None) -> Tensor:
    r"""Decreasing VE grid of ``n`` levels from ``sigma_max`` to ``sigma_min`` (no final 0).

    ``rho=None``: the exponential (geometric) grid of Song et al.; otherwise the polynomial grid of
    Karras et al. with exponent ``rho`` (``rho = 7`` is EDM's).
    """
    if rho is None:
        return exponential_sigmas(n, sigma_min, sigma_max, zero=False)
    return karras_sigmas(n, sigma_min, sigma_max, rho=rho, zero=False)


def output_kl(
    denoiser: Denoiser,
    gmm: GaussianMixture,
    sigmas: Tensor,
    prior: GridDensity | None = None,
    n_points: int = 2500,
    n_quad: int = 20_001,
) -> Quadrature:
    r"""Exact :math:`\mathrm{KL}(p_{\sigma_{\min}}\,\|\,\hat q)` of the VE exponential-integrator sampler (1-D).

    :func:`companion.grid.sampler_output_kl` with the sampler the paper analyses
    (:func:`companion.samplers.ve_exponential_step`), started from ``prior`` (default
    :math:`\mathcal N(0,\sigma_{\max}^2)`) at ``sigmas[0]`` and stopped early at
    :math:`\sigma_{\min} = ` ``sigmas[-1]`` > 0.
    """
    _check_1d(gmm)
    return sampler_output_kl(
        ve_exponential_step, denoiser, _levels(sigmas), gmm, prior, n_points, n_quad
    )


# -- E4.1: full-batch GD on the empirical DSM loss ------------------------------------------------
def discrete_levels(sigmas: Tensor | Sequence[float]) -> NoiseDistribution:
    r"""Noise levels for a fixed-noise empirical loss: ``N`` levels, each used equally often.

    ``sample(n)`` returns the levels repeated in blocks, so with
    ``train(..., fixed_noise=True, n_noise=N)`` (data repeated ``N`` times) copy ``j`` of the data
    sees level ``sigmas[j]``: the paper's :math:`\bar L(\theta)` with ``N`` levels and one noise
    draw :math:`\xi_{ij}` per point and level.
    """
    levels = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if levels.numel() < 1 or not bool((levels > 0).all()):
        raise ValueError("sigmas must be a non-empty list of positive noise levels")

    def sample(n: int, generator: torch.Generator | None = None) -> Tensor:
        if n % levels.numel():
            raise ValueError(f"n={n} must be a multiple of the number of levels {levels.numel()}")
        return levels.repeat_interleave(n // levels.numel())

    return NoiseDistribution(f"levels({levels.numel()})", sample)


def _bell(sigma: Tensor, center: float = math.exp(-1.2), width: float = 1.2) -> Tensor:
    return torch.exp(-0.5 * ((torch.log(sigma) - math.log(center)) / width) ** 2)


#: Weight profiles :math:`\omega(\sigma)` of the :math:`\varepsilon`-loss
#: :math:`\omega(\sigma)\|\hat\varepsilon-\varepsilon\|^2` (before normalisation to mean 1 over the
#: training levels): flat, a bell in :math:`\log\sigma` centred at EDM's
#: :math:`e^{-1.2}`, and increasing (:math:`\propto\sigma`).
EPS_PROFILES: dict[str, Callable[[Tensor], Tensor]] = {
    "flat": lambda s: torch.ones_like(s),
    "bell": _bell,
    "increasing": lambda s: s,
}


# -- E4.3: trained checkpoints --------------------------------------------------------------------
def train_checkpoints(
    gmm: GaussianMixture,
    checkpoints: Sequence[int],
    seed: int = 0,
    width: int = 64,
    depth: int = 3,
    n_train: int = 8192,
    **settings: Any,
) -> dict[int, TorchDenoiser]:
    """Train an EDM-preconditioned SiLU MLP denoiser by Adam and return denoisers at checkpoints.

    A thin wrapper of :func:`companion.training.train_denoiser` that draws the training data
    from ``gmm`` and wraps the checkpoints as float64 denoisers.

    Args:
        gmm: data mixture; ``n_train`` points are drawn with ``seed``.
        checkpoints: Adam steps after which to keep a copy (the run lasts ``max(checkpoints)``).
        seed: seeds data, initialisation and minibatches.
        width, depth: of the MLP.
        settings: further arguments of :func:`companion.training.train_denoiser` (``lr``,
            ``batch_size``, ``noise``, ``weighting``, ``device``; defaults: EDM's noise and
            weighting, Adam at ``2e-3`` on batches of 256).

    Returns:
        ``step -> denoiser`` (float64 wrappers of independent model copies).
    """
    steps = sorted({int(c) for c in checkpoints})
    if not steps or steps[0] < 1:
        raise ValueError(f"checkpoints must be positive step counts, got {list(checkpoints)!r}")
    g = torch.Generator().manual_seed(seed)
    data = gmm.sample(n_train, g)
    model, res = train_denoiser(
        data, steps[-1], width, depth, seed=seed, checkpoint_at=tuple(steps), **settings
    )
    out = {}
    for k in steps:
        m = MLPDenoiser(gmm.dim, width, depth, "silu", sigma_data=model.sigma_data).to(
            next(model.parameters()).device
        )
        m.load_state_dict(res.checkpoints[k])
        m.eval()
        out[k] = TorchDenoiser(m)
    return out


# -- E4.4: noise distribution x weighting ---------------------------------------------------------
@dataclass
class TrainingPreset:
    """A training design: a noise-level distribution and a denoiser-loss weighting ``w(sigma, sd)``."""

    name: str
    description: str
    noise: NoiseDistribution
    weighting: str | Callable[[Tensor, float], Tensor]


def _vp_uniform_t(t_min: float = 1e-3) -> NoiseDistribution:
    sched = VPLinear()

    def sample(n: int, generator: torch.Generator | None = None) -> Tensor:
        t = t_min + (1 - t_min) * torch.rand(n, dtype=torch.float64, generator=generator)
        return sched.sigma_tilde(t)

    return NoiseDistribution("vp-linear uniform t", sample)


def _decreasing_weight(sigma: Tensor, sigma_data: float) -> Tensor:
    """Denoiser weight ``sigma^-4``: the mirror image of the uniform one in ``log sigma``."""
    return sigma ** (-4)


def _presets(sigma_min: float = 0.002, sigma_max: float = 80.0) -> dict[str, TrainingPreset]:
    return {
        "edm": TrainingPreset(
            "edm",
            r"EDM: log-normal(-1.2, 1.2), weight (s^2+sd^2)/(s sd)^2",
            lognormal(-1.2, 1.2),
            "edm",
        ),
        "loguniform-eps": TrainingPreset(
            "loguniform-eps",
            "log-uniform sigma, eps-loss (Song VE)",
            loguniform(sigma_min, sigma_max),
            "eps",
        ),
        "vp-uniform-t": TrainingPreset(
            "vp-uniform-t", "VP-linear, t uniform, eps-loss (DDPM/Song VP)", _vp_uniform_t(), "eps"
        ),
        "increasing": TrainingPreset(
            "increasing",
            "log-uniform sigma, uniform denoiser weight (eps-weight grows like sigma^2)",
            loguniform(sigma_min, sigma_max),
            "uniform",
        ),
        "decreasing": TrainingPreset(
            "decreasing",
            "log-uniform sigma, denoiser weight sigma^-4 (eps-weight falls like sigma^-2)",
            loguniform(sigma_min, sigma_max),
            _decreasing_weight,
        ),
    }


#: The training designs compared in E4.4 (EDM's choice, Song's VE and VP choices, an increasing
#: and a decreasing weighting).
TRAINING_PRESETS: dict[str, TrainingPreset] = _presets()


def train_preset(
    preset: str | TrainingPreset,
    gmm: GaussianMixture,
    steps: int,
    seed: int = 0,
    **settings: Any,
) -> TorchDenoiser:
    """Train a denoiser with one design of :data:`TRAINING_PRESETS` for ``steps`` Adam steps.

    ``settings`` (``width``, ``depth``, ``n_train``, ``lr``, ``batch_size``, ``device``) are
    passed to :func:`train_checkpoints`, which draws the data and trains with the preset's noise
    distribution and weighting.
    """
    p = (
        TRAINING_PRESETS[check_in("preset", preset, list(TRAINING_PRESETS))]
        if isinstance(preset, str)
        else preset
    )
    nets = train_checkpoints(
        gmm, [steps], seed=seed, noise=p.noise, weighting=p.weighting, **settings
    )
    return nets[steps]


def eps_weight_density(
    preset: str | TrainingPreset,
    log_sigma: Tensor,
    sigma_data: float = 1.0,
    n: int = 400_000,
    seed: int = 0,
) -> Tensor:
    r"""Effective weight of a design on the :math:`\varepsilon`-loss as a density in :math:`\log\sigma`.

    A denoiser loss :math:`w(\sigma)\|D-x\|^2` equals :math:`w(\sigma)\sigma^2\|\hat\varepsilon-
    \varepsilon\|^2`, so the design weights level :math:`\log\sigma` by
    :math:`\pi(\log\sigma)\,w(\sigma)\,\sigma^2`. Estimated by a weighted histogram of ``n`` draws on
    the bin centres ``log_sigma`` (uniform, shape ``(B,)``), normalised to integrate to 1.
    """
    p = (
        TRAINING_PRESETS[check_in("preset", preset, list(TRAINING_PRESETS))]
        if isinstance(preset, str)
        else preset
    )
    c = torch.as_tensor(log_sigma, dtype=torch.float64)
    if c.ndim != 1 or c.numel() < 3:
        raise ValueError("log_sigma must be a 1-D uniform grid of at least 3 bin centres")
    h = float(c[1] - c[0])
    s = p.noise.sample(n, torch.Generator().manual_seed(seed))
    wfn = p.weighting if callable(p.weighting) else _weighting(p.weighting)
    w = wfn(s, sigma_data) * s**2
    idx = torch.floor((torch.log(s) - (float(c[0]) - h / 2)) / h).long()
    keep = (idx >= 0) & (idx < c.numel())
    dens = torch.zeros_like(c).index_add_(0, idx[keep], w[keep])
    return dens / (dens.sum() * h)


def classify_profile(density: Tensor, flat_ratio: float = 2.0) -> str:
    r"""Shape of a measured :math:`\varepsilon`-weight density over its support in :math:`\log\sigma`.

    ``density`` holds the values on a uniform grid of :math:`\log\sigma` wide enough to contain
    the design's support (its non-zero bins, first to last). ``"flat"``: max/min over the support
    is at most ``flat_ratio``; ``"bell"``: the maximum is inside the support and the density at
    both of its ends is at most half the maximum; ``"increasing"`` / ``"decreasing"``: the
    maximum sits at the upper / lower end (within half the maximum) and the other end is at most
    half of it; ``"other"`` otherwise.
    """
    d = torch.as_tensor(density, dtype=torch.float64).reshape(-1)
    if d.numel() < 3 or not bool((d >= 0).all()) or float(d.max()) <= 0:
        raise ValueError("density must be >= 3 non-negative values, not all zero")
    nz = torch.nonzero(d > 0).reshape(-1)
    d = d[int(nz[0]) : int(nz[-1]) + 1]
    top, lo, hi = float(d.max()), float(d[0]), float(d[-1])
    if float(d.min()) > 0 and top / float(d.min()) <= flat_ratio:
        return "flat"
    k = int(torch.argmax(d))
    if 0 < k < d.numel() - 1 and lo <= top / 2 and hi <= top / 2:
        return "bell"
    if hi >= top / 2 and lo <= top / 2:
        return "increasing"
    if lo >= top / 2 and hi <= top / 2:
        return "decreasing"
    return "other"


def _weighting(name: str) -> Callable[[Tensor, float], Tensor]:
    from .training import get_weighting

    return get_weighting(name)


# -- independent references and machinery checks (chapter 04) ------------------------------------
def gaussian_output_kl(
    mean: float,
    var: float,
    sigmas: Tensor,
    prior_mean: float = 0.0,
    prior_var: float | None = None,
) -> float:
    r"""Closed-form :math:`\mathrm{KL}(p_{\sigma_{\min}}\,\|\,\hat q)` of the VE exponential
    integrator for Gaussian data :math:`\mathcal N(\mu, v)` with the exact score (1-D).

    With the exact score :math:`-(x-\mu)/(v+\sigma_k^2)` a step is affine,
    :math:`x_{k+1}-\mu = a_k(x_k-\mu) + \sqrt{\Delta_k}\,\xi_k` with
    :math:`\Delta_k=\sigma_k^2-\sigma_{k+1}^2` and :math:`a_k = 1-\Delta_k/(v+\sigma_k^2)`, so
    from :math:`\mathcal N(0,\sigma_{\max}^2)` the output is Gaussian with mean
    :math:`\mu + (-\mu)\prod_k a_k` and variance :math:`P_{k+1}=a_k^2P_k+\Delta_k`. The KL of
    two Gaussians then needs no grid: an independent reference for :func:`output_kl`.

    ``prior_mean``, ``prior_var`` replace the start :math:`\mathcal N(0,\sigma_{\max}^2)`
    (default); ``prior_mean = mean`` and ``prior_var = var + sigma_max**2`` start from the exact
    :math:`p_{\sigma_{\max}}`, so the difference of the two isolates the initialisation error.
    """
    s = _levels(sigmas)
    check_positive("var", var)
    p0 = float(s[0]) ** 2 if prior_var is None else check_positive("prior_var", prior_var)
    m, p = float(prior_mean) - float(mean), float(p0)  # mean offset from mu, variance
    for a_, b_ in zip(s[:-1].tolist(), s[1:].tolist(), strict=True):
        delta = a_**2 - b_**2
        a = 1.0 - delta / (var + a_**2)
        m, p = a * m, a * a * p + delta
    t = var + float(s[-1]) ** 2  # target variance
    return 0.5 * (t / p + m * m / p - 1.0 + math.log(p / t))


# -- the crossover level of the score error (chapter 04, E4.3) -----------------------------------
def _log_grid(sigma_min: float, sigma_max: float, n: int = 4001) -> np.ndarray:
    return np.exp(np.linspace(math.log(sigma_min), math.log(sigma_max), n))


def normalised_profile(
    profile: Callable[[np.ndarray], np.ndarray], sigma_min: float, sigma_max: float
) -> Callable[[np.ndarray], np.ndarray]:
    r"""The error profile ``profile`` scaled to unit mean square over :math:`\log\sigma`.

    :math:`f(\sigma)/c` with :math:`c^2` the mean of :math:`f^2` over :math:`\log\sigma` uniform on
    ``[sigma_min, sigma_max]``, so that an error :math:`e(\sigma) = e\,f(\sigma)` has RMS level
    ``e`` over the sampler's range whatever its shape (and :math:`E_S\approx 2Le^2` to leading
    order for every profile).
    """
    check_positive("sigma_min", sigma_min)
    if not sigma_max > sigma_min:
        raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_max!r} <= {sigma_min!r}")
    c = math.sqrt(float(np.mean(np.asarray(profile(_log_grid(sigma_min, sigma_max))) ** 2)))
    if not c > 0:
        raise ValueError("profile must not vanish on [sigma_min, sigma_max]")
    return lambda s: np.asarray(profile(np.asarray(s, dtype=float)), dtype=float) / c


def _bump(center: float, width: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    return lambda s: np.exp(-0.5 * ((np.log(s) - math.log(center)) / width) ** 2)


#: Shapes :math:`f(\sigma)` of a score error :math:`e(\sigma) = e\,f(\sigma)` in
#: :math:`\varepsilon` units (normalise with :func:`normalised_profile`): of uniform size, growing
#: like :math:`1/\sigma` towards small noise, and bumps of width 1 in :math:`\log\sigma` at low
#: noise (:math:`\sigma = 0.01`) and mid noise (:math:`\sigma = 0.4`, the geometric middle of
#: EDM's range).
ERROR_PROFILES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "uniform": lambda s: np.ones_like(np.asarray(s, dtype=float)),
    "1/sigma": lambda s: 1.0 / np.asarray(s, dtype=float),
    "low sigma": _bump(0.01),
    "mid sigma": _bump(0.4),
}


def interpolated_profile(
    levels: Sequence[float] | np.ndarray, errors: Sequence[float] | np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    r"""A measured error profile: log-log linear interpolation of ``errors`` at ``levels``
    (increasing noise levels, constant beyond the ends)."""
    lv = np.log(np.asarray(levels, dtype=float))
    le = np.log(np.asarray(errors, dtype=float))
    if lv.ndim != 1 or lv.shape != le.shape or lv.size < 2 or np.any(np.diff(lv) <= 0):
        raise ValueError("levels must be >= 2 increasing positive values, errors of equal length")
    if not np.all(np.isfinite(le)):
        raise ValueError("errors must be positive and finite")
    return lambda s: np.exp(np.interp(np.log(np.asarray(s, dtype=float)), lv, le))


def bound_crossover(
    n: int,
    sigma_min: float,
    sigma_max: float,
    profile: Callable[[np.ndarray], np.ndarray],
    rho: float = 7.0,
) -> float:
    r"""Score-error level :math:`e^*` at which the reconstructed bounds of the exponential and the
    polynomial (``rho``) grid of ``n`` levels are equal, for an error :math:`e\,f(\sigma)`.

    :math:`E_I` is the same for both grids, and :math:`E_S` is :math:`e^2` times
    :math:`S = \sum_k(1-\sigma_{k+1}^2/\sigma_k^2)f(\sigma_k)^2`, so the root of
    :math:`E_D^{\exp} + e^2S^{\exp} = E_D^{\rho} + e^2S^{\rho}` is
    :math:`e^* = \big((E_D^{\rho}-E_D^{\exp})/(S^{\exp}-S^{\rho})\big)^{1/2}`. Below
    :math:`e^*` the bound prefers the grid with the smaller :math:`E_D`, above it the other one.
    Returns ``nan`` when the two differences have opposite signs (the same grid wins at every
    ``e``: no crossover).
    """
    if not isinstance(n, int) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    se = schedule_sigmas(n, sigma_min, sigma_max)
    sp = schedule_sigmas(n, sigma_min, sigma_max, rho)

    def f(s: Tensor) -> Tensor:
        return torch.as_tensor(profile(s.numpy()), dtype=torch.float64)

    d_ed = bound_discretization(sp) - bound_discretization(se)
    d_s = bound_score(se, f) - bound_score(sp, f)
    if d_s == 0 or d_ed / d_s <= 0:
        return math.nan
    return math.sqrt(d_ed / d_s)


def affine_error_fields(n_fields: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Random phases :math:`\theta(\sigma) = b + \nu\log\sigma` of :func:`affine_error`:
    :math:`b\sim U(0, 2\pi)`, :math:`\nu\sim\mathcal N(0, 1)`, one pair per field; arrays
    ``(b, nu)`` of shape ``(n_fields,)``."""
    if not isinstance(n_fields, int) or n_fields < 1:
        raise ValueError(f"n_fields must be a positive integer, got {n_fields!r}")
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 2 * math.pi, n_fields), rng.normal(size=n_fields)


def affine_error(
    sigmas: Tensor | np.ndarray,
    e: float | np.ndarray,
    profile: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    nu: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Shift and slope of a random affine score error of RMS size :math:`e\,f(\sigma)`.

    The denoiser error at level :math:`\sigma` is :math:`\sigma\,e f(\sigma)\,(\cos\theta +
    \sin\theta\,u)` with :math:`u = (x-\mu)/\sqrt{v+\sigma^2}` the standardised noisy point of
    Gaussian data :math:`\mathcal N(\mu, v)` and :math:`\theta = b + \nu\log\sigma`; as
    :math:`u` has mean 0 and variance 1 under :math:`p_\sigma`, its RMS in :math:`\varepsilon`
    units is exactly :math:`e f(\sigma)`. Returns ``(shift, slope)``, each of shape
    ``(*e.shape, n_fields, N - 1)`` at the levels ``sigmas[:-1]`` where the sampler evaluates
    the score, for :func:`gaussian_perturbed_output_kl`.
    """
    s = np.asarray(sigmas, dtype=float)[:-1]
    ev = np.asarray(e, dtype=float)[..., None, None]
    theta = np.asarray(b, dtype=float)[:, None] + np.asarray(nu, dtype=float)[:, None] * np.log(s)
    size = ev * np.asarray(profile(s), dtype=float)
    return size * np.cos(theta), size * np.sin(theta)


def gaussian_perturbed_output_kl(
    mean: float, var: float, sigmas: Tensor | np.ndarray, shift: np.ndarray, slope: np.ndarray
) -> np.ndarray:
    r"""Closed-form output KL of the VE exponential integrator for Gaussian data and an affine
    score error (1-D, vectorised over leading axes).

    The denoiser is :math:`D = D^* + \sigma_k(a_k + c_k u)` at level :math:`\sigma_k`, with
    :math:`u = (x-\mu)/\sqrt{v+\sigma_k^2}` and ``shift`` :math:`a_k`, ``slope`` :math:`c_k`
    (:math:`\varepsilon` units, shape ``(..., N - 1)``). The step stays affine,
    :math:`y_{k+1} = A_k y_k + B_k + \sqrt{\Delta_k}\xi_k` for :math:`y = x-\mu`, with
    :math:`A_k = 1 - \Delta_k/(v+\sigma_k^2) + \Delta_k c_k/(\sigma_k\sqrt{v+\sigma_k^2})` and
    :math:`B_k = \Delta_k a_k/\sigma_k`, so from :math:`\mathcal N(0,\sigma_{\max}^2)` the
    output is Gaussian and its KL to :math:`p_{\sigma_{\min}}` needs no grid. With zero error it
    equals :func:`gaussian_output_kl`.
    """
    s = np.asarray(sigmas, dtype=float)
    check_decreasing_sigmas(torch.as_tensor(s))
    check_positive("var", var)
    a_s, b_s = s[:-1], s[1:]
    delta = a_s**2 - b_s**2
    sh, sl = np.broadcast_arrays(np.asarray(shift, dtype=float), np.asarray(slope, dtype=float))
    if sh.shape[-1:] != (s.size - 1,):
        raise ValueError(f"shift and slope must end in axis {s.size - 1}, got {sh.shape}")
    m = np.full(sh.shape[:-1], -float(mean))
    p = np.full(sh.shape[:-1], float(s[0]) ** 2)
    for k in range(s.size - 1):
        root = math.sqrt(var + a_s[k] ** 2)
        a = 1.0 - delta[k] / root**2 + delta[k] * sl[..., k] / (a_s[k] * root)
        m = a * m + delta[k] * sh[..., k] / a_s[k]
        p = a * a * p + delta[k]
    t = var + float(s[-1]) ** 2
    return 0.5 * (t / p + m * m / p - 1.0 + np.log(p / t))


def first_crossing(x: np.ndarray, y: np.ndarray) -> float:
    r"""First point of the increasing grid ``x`` where ``y`` turns from negative to positive,
    by linear interpolation in :math:`\log x`; ``nan`` if ``y`` is never negative then positive."""
    xv, yv = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xv.ndim != 1 or xv.shape != yv.shape or xv.size < 2:
        raise ValueError("x and y must be 1-D of equal length >= 2")
    k = np.nonzero((yv[:-1] < 0) & (yv[1:] >= 0))[0]
    if k.size == 0:
        return math.nan
    i = int(k[0])
    t = yv[i] / (yv[i] - yv[i + 1])
    return float(np.exp(np.log(xv[i]) + t * (np.log(xv[i + 1]) - np.log(xv[i]))))


# -- E4.4: sensitivity of the output law to a score error at one noise level (Gaussian data) ----
def gaussian_sensitivity(
    mean: float, var: float, sigmas: Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact first-order sensitivity of the VE exponential integrator's output law to a score
    error at each step, for Gaussian data :math:`\mathcal N(\mu, v)` (1-D, start
    :math:`\mathcal N(0,\sigma_{\max}^2)`).

    The error is that of :func:`gaussian_perturbed_output_kl`: at step :math:`k` the denoiser is
    :math:`D^* + \sigma_k(a_k + c_k u)`, :math:`u = (x-\mu)/\sqrt{v+\sigma_k^2}` (unit variance
    under :math:`p_{\sigma_k}`), i.e. a score error of :math:`a_k + c_k u` in
    :math:`\varepsilon` units: a *shift* :math:`a_k` and a *scale* error :math:`c_k`. The output
    is Gaussian with mean :math:`m_N` and variance :math:`P_N`; with
    :math:`A_k = 1-\Delta_k/(v+\sigma_k^2)` and :math:`\Delta_k = \sigma_k^2-\sigma_{k+1}^2`,

    .. math:: \frac{\partial m_N}{\partial a_k} = \frac{\Delta_k}{\sigma_k}\prod_{j>k}A_j,\qquad
              \frac{\partial P_N}{\partial c_k} = \frac{2A_kP_k\Delta_k}{\sigma_k\sqrt{v+\sigma_k^2}}
              \prod_{j>k}A_j^2 .

    Returns:
        ``(shift, scale)``, each shape ``(N - 1,)``: :math:`\partial m_N/\partial a_k/\sqrt v`
        (the output mean's shift in data standard deviations) and
        :math:`\partial\log P_N/\partial c_k`.
    """
    s = np.asarray(sigmas, dtype=float)
    check_decreasing_sigmas(torch.as_tensor(s))
    check_positive("var", var)
    a_s, b_s = s[:-1], s[1:]
    delta = a_s**2 - b_s**2
    v = var + a_s**2
    amp = 1.0 - delta / v
    p = np.empty(s.size)
    p[0] = s[0] ** 2
    for k in range(s.size - 1):
        p[k + 1] = amp[k] ** 2 * p[k] + delta[k]
    after = np.append(np.cumprod(amp[::-1])[::-1][1:], 1.0)  # prod_{j>k} A_j
    shift = delta / a_s * after / math.sqrt(var)
    scale = 2 * amp * p[:-1] * delta / (a_s * np.sqrt(v)) * after**2 / p[-1]
    return shift, scale


def gaussian_sensitivity_density(
    log_sigma: np.ndarray, var: float, sigma_min: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Continuum limit of :func:`gaussian_sensitivity` per unit :math:`\log\sigma` (reverse SDE,
    :math:`\sigma_{\max}\to\infty`, stopped at ``sigma_min``).

    With :math:`v(\sigma) = v+\sigma^2`, the mean obeys :math:`dm/d(-\sigma) = -2\sigma m/v(\sigma)
    - 2a(\sigma)` and the variance :math:`dP/d(-\sigma) = -4\sigma P/v(\sigma) + 2\sigma -
    4\sigma P\,\delta c`, whose solutions give

    .. math:: \frac{\delta m}{\sqrt v} = \int \frac{2 v(\sigma_{\min})\,\sigma}{v(\sigma)\sqrt v}
              \,a\,d\log\sigma,\qquad
              \frac{\delta P}{P} = \int\frac{4v(\sigma_{\min})\,\sigma}{v(\sigma)^{3/2}}\,c\,
              d\log\sigma .

    For :math:`\sigma_{\min}\to0` the shift kernel is :math:`1/\cosh(\log\sigma-\log\sigma_d)`, a
    bell with its maximum at :math:`\sigma_d=\sqrt v`, and the scale kernel
    :math:`4t/(1+t^2)^{3/2}` (:math:`t=\sigma/\sigma_d`) has its maximum at
    :math:`\sigma_d/\sqrt2`.

    Returns:
        ``(shift, scale)`` kernels at ``log_sigma``.
    """
    check_positive("var", var)
    sig = np.exp(np.asarray(log_sigma, dtype=float))
    v, v0 = var + sig**2, var + sigma_min**2
    return 2 * v0 * sig / (v * math.sqrt(var)), 4 * v0 * sig / v**1.5


def bump_response(
    sensitivity: np.ndarray, sigmas: Tensor | np.ndarray, centers: np.ndarray, width: float = 0.5
) -> np.ndarray:
    r"""First-order response to a unit error localised at :math:`\log\sigma = u`:
    :math:`\sum_k S_k\,e^{-(\log\sigma_k-u)^2/(2w^2)}` for each ``u`` in ``centers``, with the
    per-step sensitivities ``sensitivity`` (:func:`gaussian_sensitivity`) on ``sigmas``."""
    ls = np.log(np.asarray(sigmas, dtype=float)[:-1])
    u = np.asarray(centers, dtype=float)
    check_positive("width", width)
    return np.exp(-0.5 * ((ls[None, :] - u[:, None]) / width) ** 2) @ np.asarray(sensitivity)


def bump_density_response(
    density: Callable[[np.ndarray], np.ndarray], centers: np.ndarray, width: float = 0.5
) -> np.ndarray:
    r"""The continuum counterpart of :func:`bump_response`: :math:`\int K(\ell)\,
    e^{-(\ell-u)^2/(2w^2)}\,d\ell` by the trapezoid rule on :math:`u\pm 8w` (4001 nodes)."""
    check_positive("width", width)
    out = []
    for c in np.asarray(centers, dtype=float):
        ell = np.linspace(c - 8 * width, c + 8 * width, 4001)
        out.append(np.trapezoid(density(ell) * np.exp(-0.5 * ((ell - c) / width) ** 2), ell))
    return np.asarray(out)


def peak_location(x: np.ndarray, y: np.ndarray) -> float:
    """Location of the maximum of ``y(x)`` on a uniform grid, refined by the parabola through
    the largest value and its two neighbours (raises if the maximum is at an end)."""
    xv, yv = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i = int(np.argmax(yv))
    if i == 0 or i == yv.size - 1:
        raise ValueError("the maximum is at an end of the grid; widen it")
    y0, y1, y2 = yv[i - 1 : i + 2]
    return float(xv[i] + 0.5 * (xv[1] - xv[0]) * (y0 - y2) / (y0 - 2 * y1 + y2))


class BumpDenoiser:
    r"""The exact denoiser of :math:`\mathcal N(\mu, v)` plus an error localised in
    :math:`\log\sigma`: :math:`D^* + \epsilon\,\sigma\,b(\sigma)\,\phi`, with
    :math:`b = e^{-(\log\sigma-u)^2/(2w^2)}` and :math:`\phi = 1` (``kind="shift"``) or
    :math:`(x-\mu)/\sqrt{v+\sigma^2}` (``"scale"``): a brute-force counterpart of
    :func:`gaussian_sensitivity` for the grid propagation."""

    def __init__(
        self, mean: float, var: float, center: float, width: float, eps: float, kind: str
    ) -> None:
        self.mean, self.var = float(mean), check_positive("var", var)
        self.center, self.width = float(center), check_positive("width", width)
        self.eps, self.kind = float(eps), check_in("kind", kind, ["shift", "scale"])

    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor:
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1)
        v = self.var + s**2
        exact = self.mean + (x - self.mean) * self.var / v
        b = torch.exp(-0.5 * ((torch.log(s) - self.center) / self.width) ** 2)
        phi = torch.ones_like(x) if self.kind == "shift" else (x - self.mean) / torch.sqrt(v)
        return exact + self.eps * s * b * phi
