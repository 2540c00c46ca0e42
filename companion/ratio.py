r"""DDPM as ratio estimation: closed-form ratio targets, the kernel plug-in estimator and its KL.

Discrete DDPM in the variable :math:`z_t`: :math:`q(z_t\mid z_{t-1}) = \mathcal N(\sqrt{\alpha_t}z_{t-1},
\beta_t)`, :math:`\bar\alpha_t=\prod_{s\le t}\alpha_s`, :math:`\bar\alpha_0 = 1`, and
:math:`K_t(x, y) = \mathcal N(x; \sqrt{\bar\alpha_t}y, 1-\bar\alpha_t)`. Every quantity the reverse
process needs is a ratio :math:`f_1/f_2` of kernel integrals against the data law :math:`p_0`:

* posterior mean: :math:`E[z_0\mid z_t=x] = \int yK_t(x,y)p_0(y)dy \,/\, \int K_t(x,y)p_0(y)dy`;
* reverse conditional density:
  :math:`p(z_{t-1}\mid z_t) = q(z_t\mid z_{t-1})\,p_{t-1}(z_{t-1}) \,/\, p_t(z_t)`.

For a Gaussian-mixture :math:`p_0` both are closed form (:func:`posterior_mean_terms`,
:func:`reverse_density_terms`). Replacing :math:`p_0` by the Gaussian kernel density estimate
:math:`\hat p_0 = n^{-1}\sum_i\mathcal N(y_i, h^2)` (:func:`kde_mixture`) turns :math:`f_1, f_2` into
:math:`n`-term kernel sums; their ratio is *exactly* the reverse kernel of the DDPM started at
:math:`\hat p_0`. Hence (our derivation, Bayes' rule) the per-step KL telescopes,

.. math:: E_{p_t}\mathrm{KL}\big(p(\cdot\mid z_t)\,\|\,\hat p(\cdot\mid z_t)\big)
          = \mathrm{KL}(p_{t-1}\|\hat p_{t-1}) - \mathrm{KL}(p_t\|\hat p_t),

and the path KL of the chain started at :math:`\mathcal N(0,1)` is
:math:`\mathrm{KL}(p_T\|\mathcal N) + \mathrm{KL}(p_0\|\hat p_0) - \mathrm{KL}(p_T\|\hat p_T)`,
independent of :math:`T` at fixed :math:`\bar\alpha_T` (:func:`kernel_ratio_path_kl`). The
practical DDPM instead uses Gaussian reverse kernels :math:`\mathcal N(\hat\mu_t(z_t),\tilde\beta_t)`
whose mean comes from the same ratio; its per-step KLs are computed by 2-D quadrature
(:func:`companion.chains.mixture_step_kl`) and its output density by exact grid propagation
(:func:`ddpm_output_density`). The chain itself is :class:`companion.chains.VPChain`.

Also here: fitting helpers for the chapter's "modular" (numerator and denominator networks
combined by the exact SignReLU division network) versus "direct" (one network for the ratio)
approximations (:func:`modular_ratio`, :func:`ratio_fit_study`, which fit with
:func:`companion.training.fit_regression`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive
from .chains import (
    LogKernel,
    VPChain,
    mixture_log_kernel,
    mixture_log_marginal,
    mixture_path_kl,
    mixture_terminal_kl,
    output_kl,
)
from .gmm import GaussianMixture, GaussianMixtureKernel
from .grid import GridDensity, Quadrature, kl_divergence, propagate_step, trapezoid_weights
from .nets import MLP
from .signrelu import SignReLUNetwork, ratio_network
from .training import NoiseDistribution, fit_regression

__all__ = [
    "posterior_mean_terms",
    "reverse_density_terms",
    "kde_mixture",
    "kde_bandwidth",
    "marginal_kl",
    "PathKL",
    "kernel_ratio_path_kl",
    "kernel_ratio_path_kl_quadrature",
    "kernel_ratio_output_density",
    "gaussian_log_kernel",
    "ddpm_posterior",
    "ddpm_output_density",
    "gaussian_kernel_path_kl",
    "ddpm_noise",
    "modular_ratio",
    "ratio_error_metrics",
    "ratio_fit_study",
    "sample_ddpm_chain",
    "gaussian_estimation_kl",
    "hinge_log_kernel",
]

Denoiser = Callable[[Tensor, Tensor], Tensor]
LOG_2PI = math.log(2.0 * math.pi)


def _col(x: Tensor) -> Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    return x.reshape(-1, 1)


def posterior_mean_terms(
    p0: GaussianMixture, chain: VPChain, t: int, x: Tensor
) -> tuple[Tensor, Tensor]:
    r"""Numerator and denominator of :math:`E[z_0\mid z_t=x]`:
    :math:`f_1 = \int yK_t(x,y)p_0(y)dy`, :math:`f_2 = p_t(x)`; ``x`` of shape ``(m,)``, outputs ``(m,)``."""
    if p0.dim != 1:
        raise ValueError(f"p0 must be a 1-D mixture, got dimension {p0.dim}")
    t = chain.check_step(t)
    xc = _col(x)
    f2 = chain.marginal(p0, t).prob(xc)
    ab = float(chain.alpha_bar[t])
    m = p0.denoise(xc / math.sqrt(ab), chain.sigma_tilde(t))[:, 0]
    return f2 * m, f2


def reverse_density_terms(
    p0: GaussianMixture, chain: VPChain, t: int, x_prev: Tensor, x_t: Tensor
) -> tuple[Tensor, Tensor]:
    r""":math:`f_1 = q(z_t\mid z_{t-1})\,p_{t-1}(z_{t-1})` and :math:`f_2 = p_t(z_t)` at paired points
    ``x_prev``, ``x_t`` (shape ``(m,)``); their ratio is :math:`p(z_{t-1}\mid z_t)`."""
    t = chain.check_step(t)
    xp, xt = _col(x_prev), _col(x_t)
    if xp.shape != xt.shape:
        raise ValueError(
            f"x_prev and x_t must have equal shapes, got {tuple(xp.shape)}, {tuple(xt.shape)}"
        )
    beta = float(chain.betas[t - 1])
    logq = -0.5 * ((xt - math.sqrt(1 - beta) * xp) ** 2 / beta + math.log(beta) + LOG_2PI)[:, 0]
    f1 = torch.exp(logq + chain.marginal(p0, t - 1).log_prob(xp))
    return f1, chain.marginal(p0, t).prob(xt)


# --------------------------------------------------------------------------------------------
# Kernel plug-in estimator
# --------------------------------------------------------------------------------------------
def kde_bandwidth(n: int, h0: float = 0.5) -> float:
    r"""Smoothing :math:`h = h_0 n^{-1/5}` (the MISE-optimal order in 1-D)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return check_positive("h0", h0) * n ** (-0.2)


def kde_mixture(samples: Tensor, h: float) -> GaussianMixture:
    r"""The Gaussian KDE :math:`n^{-1}\sum_i\mathcal N(y_i, h^2)` as a mixture (``samples``: ``(n,)``
    or ``(n, d)``). Its DDPM reverse kernels are the plug-in ratios :math:`\hat f_1/\hat f_2`."""
    h = check_positive("h", h)
    y = torch.as_tensor(samples, dtype=torch.float64)
    y = y.unsqueeze(-1) if y.ndim == 1 else y
    if y.ndim != 2 or y.shape[0] < 1:
        raise ValueError(f"samples must have shape (n,) or (n, d), got {tuple(samples.shape)}")
    n = y.shape[0]
    return GaussianMixture(torch.full((n,), 1.0 / n, dtype=torch.float64), y, h**2)


def _support(p: GaussianMixture, width: float = 12.0) -> tuple[float, float]:
    sd = torch.sqrt(p.variances[:, 0])
    return float((p.means[:, 0] - width * sd).min()), float((p.means[:, 0] + width * sd).max())


def _prob_fn(p: GaussianMixture) -> Callable[[Tensor], Tensor]:
    """Density of a 1-D mixture at points of any shape: a direct chunked sum of exponentials
    (much faster than log-sum-exp for thousands of components; underflows only below 1e-300)."""
    w = p.weights
    m = p.means[:, 0]
    v = p.variances[:, 0]
    c = w / torch.sqrt(2 * math.pi * v)

    def f(x: Tensor) -> Tensor:
        xf = x.reshape(-1)
        out = torch.empty_like(xf)
        step = max(1, 8_000_000 // p.n_components)
        for a in range(0, xf.numel(), step):
            d = xf[a : a + step, None] - m
            out[a : a + step] = torch.exp(-0.5 * d * d / v) @ c
        return out.reshape(x.shape)

    return f


def marginal_kl(
    p: GaussianMixture, q: GaussianMixture | Callable[[Tensor], Tensor], n_points: int = 4001
) -> Quadrature:
    """:math:`\\mathrm{KL}(p\\|q)` for 1-D ``p`` (a mixture) and ``q`` (mixture or density function)
    by quadrature on a uniform grid over ``p``'s support (12 component standard deviations)."""
    lo, hi = _support(p)
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    return kl_divergence(_prob_fn(p), _prob_fn(q) if isinstance(q, GaussianMixture) else q, x)


def _std_normal(x: Tensor) -> Tensor:
    return torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)


@dataclass
class PathKL:
    """Path-space KL of a reverse chain started at ``N(0, 1)``: ``terminal`` KL, the per-step
    expected kernel KLs ``steps`` (index ``t-1``), their ``total`` and the ``output`` KL
    :math:`\\mathrm{KL}(p_0\\|\\hat p_0^{out})`, each with a quadrature error estimate."""

    terminal: float
    steps: Tensor
    total: float
    output: float
    error: float


def kernel_ratio_path_kl(
    p0: GaussianMixture,
    p0_hat: GaussianMixture,
    chain: VPChain,
    n_points: int = 4001,
    per_step: bool = True,
) -> PathKL:
    r"""Exact path KL of the plug-in kernel-ratio reverse chain (reverse kernels of ``p0_hat``).

    Per-step KLs are :math:`\mathrm{KL}(p_{t-1}\|\hat p_{t-1}) - \mathrm{KL}(p_t\|\hat p_t)`
    (Bayes' rule: the transition :math:`q` cancels), the terminal term is
    :math:`\mathrm{KL}(p_T\|\mathcal N(0,1))`, and the output KL uses
    :func:`kernel_ratio_output_density`. With ``per_step=False`` only the two end marginals are
    computed and ``steps`` holds their telescoped sum as a single entry.
    """
    ts = range(chain.T + 1) if per_step else [0, chain.T]
    kls = [marginal_kl(chain.marginal(p0, t), chain.marginal(p0_hat, t), n_points) for t in ts]
    vals = torch.tensor([k.value for k in kls], dtype=torch.float64)
    term = mixture_terminal_kl(chain, p0, n_points)
    lo, hi = _support(p0)
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    out = output_kl(mixture_log_marginal(p0), kernel_ratio_output_density(p0_hat, chain, x))
    steps = vals[:-1] - vals[1:]
    err = sum(k.error for k in kls) + term.error + out.error
    return PathKL(term.value, steps, term.value + float(steps.sum()), out.value, err)


def kernel_ratio_output_density(
    p0_hat: GaussianMixture, chain: VPChain, x: Tensor, n_inner: int = 2001
) -> GridDensity:
    r"""Density at ``x`` (uniform 1-D grid) of the output of the reverse chain that uses the exact
    reverse kernels of ``p0_hat`` but starts at :math:`\mathcal N(0,1)`:

    .. math:: \hat p^{out}(x) = \hat p_0(x)\int q(z_T\mid x)\,\frac{\mathcal N(z_T;0,1)}{\hat p_T(z_T)}\,dz_T,

    since the kernels compose to the posterior :math:`\hat p(z_0\mid z_T)`. The inner integral is
    a trapezoid rule over a grid of ``n_inner`` nodes in :math:`z_T`.
    """
    ab = float(chain.alpha_bar[-1])
    a, s = math.sqrt(ab), math.sqrt(1.0 - ab)
    pT = chain.marginal(p0_hat, chain.T)
    lo, hi = float(x.min()), float(x.max())
    zt = torch.linspace(
        min(a * lo, -1.0) - 10 * s, max(a * hi, 1.0) + 10 * s, n_inner, dtype=torch.float64
    )
    r = _std_normal(zt) / _prob_fn(pT)(zt).clamp_min(1e-300)  # N(z_T) / p_T(z_T)
    kern = _std_normal((zt - a * x.unsqueeze(-1)) / s) / s  # q(z_T | x), (m, n_inner)
    inner = kern @ (trapezoid_weights(zt) * r)
    return GridDensity(x, _prob_fn(p0_hat)(x) * inner)


# --------------------------------------------------------------------------------------------
# The Gaussian (practical DDPM) reverse kernel
# --------------------------------------------------------------------------------------------
def ddpm_posterior(chain: VPChain, t: int, variance: str = "beta") -> tuple[float, float, float]:
    r"""Mean coefficients and variance of the DDPM reverse kernel
    :math:`\mathcal N(c_0 \hat z_0 + c_t z_t, s_t^2)`: returns ``(c0, ct, s2)``.

    :math:`c_0 = \sqrt{\bar\alpha_{t-1}}\beta_t/(1-\bar\alpha_t)` and
    :math:`c_t = \sqrt{\alpha_t}(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)` (the forward posterior
    mean). ``variance``: ``"beta"`` (:math:`s_t^2=\beta_t`) or ``"beta_tilde"``
    (:math:`\tilde\beta_t = \beta_t(1-\bar\alpha_{t-1})/(1-\bar\alpha_t)`, with
    :math:`\tilde\beta_1` clipped to :math:`\tilde\beta_2` as in Ho et al.'s code), the two
    choices of Ho et al.
    """
    t = chain.check_step(t)
    check_in("variance", variance, ["beta", "beta_tilde"])
    ab, ab_prev, beta = (
        float(chain.alpha_bar[t]),
        float(chain.alpha_bar[t - 1]),
        float(chain.betas[t - 1]),
    )
    c0 = math.sqrt(ab_prev) * beta / (1 - ab)
    ct = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
    if variance == "beta":
        return c0, ct, beta
    if t == 1 and chain.T >= 2:
        ab2, b2 = float(chain.alpha_bar[2]), float(chain.betas[1])
        return c0, ct, (1 - ab) / (1 - ab2) * b2
    return c0, ct, (beta if t == 1 else (1 - ab_prev) / (1 - ab) * beta)


def _denoise_z(denoiser: Denoiser, chain: VPChain, t: int, z: Tensor) -> Tensor:
    """:math:`\\hat z_0` from an SNR-form denoiser at ``z`` (``(m,)``), float64."""
    ab = float(chain.alpha_bar[t])
    s = chain.sigma_tilde(t)
    x = (z / math.sqrt(ab)).unsqueeze(-1)
    p = next(iter(denoiser.parameters()), None) if isinstance(denoiser, nn.Module) else None
    if p is not None:
        with torch.no_grad():
            out = denoiser(x.to(p), torch.full((x.shape[0],), s, dtype=p.dtype, device=p.device))
        return out[:, 0].to(torch.float64).cpu()
    return denoiser(x, torch.full((x.shape[0],), s, dtype=torch.float64))[:, 0]


def gaussian_log_kernel(
    denoiser: Denoiser, chain: VPChain, t: int, variance: str = "beta"
) -> LogKernel:
    r"""``log N(y; c0 x̂0(z) + ct z, s_t^2)``: the practical DDPM reverse kernel with the denoiser's
    :math:`\hat z_0` (the ratio :math:`\hat f_1/\hat f_2` of the posterior mean)."""
    c0, ct, bt = ddpm_posterior(chain, t, variance)

    def f(y: Tensor, z: Tensor) -> Tensor:
        mu = c0 * _denoise_z(denoiser, chain, t, z) + ct * z
        return -0.5 * ((y - mu.unsqueeze(-1)) ** 2 / bt + math.log(bt) + LOG_2PI)

    return f


def gaussian_kernel_path_kl(
    p0: GaussianMixture,
    denoiser: Denoiser,
    chain: VPChain,
    n_z: int = 300,
    n_y: int = 300,
    n_points: int = 2000,
    variance: str = "beta",
) -> PathKL:
    r"""Path KL of the practical DDPM (Gaussian reverse kernels with the denoiser's mean and
    variance ``"beta"`` or ``"beta_tilde"``, see :func:`ddpm_posterior`) started at :math:`\mathcal N(0,1)`, and its output KL (grid propagation)."""
    term, parts = mixture_path_kl(
        chain, p0, lambda t: gaussian_log_kernel(denoiser, chain, t, variance), n_z, n_y
    )
    steps = torch.tensor([q.value for q in parts], dtype=torch.float64)
    out_d = ddpm_output_density(denoiser, chain, n_points, variance)
    lo, hi = _support(p0)
    x = torch.linspace(lo, hi, 4001, dtype=torch.float64)
    out = output_kl(mixture_log_marginal(p0), out_d, x)
    err = term.error + sum(q.error for q in parts) + out.error
    return PathKL(term.value, steps, term.value + float(steps.sum()), out.value, err)


def ddpm_output_density(
    denoiser: Denoiser, chain: VPChain, n_points: int = 2000, variance: str = "beta"
) -> GridDensity:
    r"""Exact output density of the 1-D DDPM ancestral sampler (Gaussian reverse kernels
    :math:`\mathcal N(c_0\hat z_0 + c_t z_t, s_t^2)`, see :func:`ddpm_posterior`) started at :math:`\mathcal N(0,1)`, by grid propagation."""
    d = GridDensity.gaussian(0.0, 1.0, n_points)
    for t in range(chain.T, 0, -1):
        c0, ct, bt = ddpm_posterior(chain, t, variance)

        def mu(z: Tensor, t: int = t, c0: float = c0, ct: float = ct) -> Tensor:
            return c0 * _denoise_z(denoiser, chain, t, z) + ct * z

        d = propagate_step(d, mu, math.sqrt(bt), n_points)
    return d


def ddpm_noise(chain: VPChain) -> NoiseDistribution:
    r"""Training noise levels of DDPM: :math:`t` uniform on ``1..T``, returned as SNR-form
    :math:`\tilde\sigma_t` (use with the ``"eps"`` weighting for Ho et al.'s simple loss)."""
    levels = torch.sqrt((1 - chain.alpha_bar[1:]) / chain.alpha_bar[1:])

    def sample(n: int, generator: torch.Generator | None = None) -> Tensor:
        return levels[torch.randint(chain.T, (n,), generator=generator)]

    return NoiseDistribution(f"ddpm-uniform-t(T={chain.T})", sample)


# --------------------------------------------------------------------------------------------
# Direct vs modular ratio networks
# --------------------------------------------------------------------------------------------
class modular_ratio(nn.Module):  # noqa: N801 - reads as a function in the notebook
    r"""Ratio estimate :math:`\hat f_1/\hat f_2` through the exact SignReLU division network.

    The numerator network fits :math:`g_1 = (f_1 + L f_2)/S` (shifted so it is non-negative) and the
    denominator network :math:`g_2 = f_2/S`; their outputs are projected onto the gadget's domain
    :math:`[0, A]\times[\delta, 1]` and divided by :func:`companion.signrelu.ratio_network`:

    .. math:: \widehat{f_1/f_2} = \mathrm{ratio}\big(\mathrm{clip}(\hat g_1), \mathrm{clip}(\hat g_2)\big) - L .

    Args:
        num, den: trained networks ``(m, d) -> (m, 1)``.
        shift: :math:`L \ge 0`.
        a_max: :math:`A`.
        delta: floor of the denominator, in ``(0, 1)``.
    """

    def __init__(
        self, num: nn.Module, den: nn.Module, shift: float, a_max: float, delta: float
    ) -> None:
        super().__init__()
        if shift < 0:
            raise ValueError(f"shift must be >= 0, got {shift}")
        self.num, self.den = num, den
        self.shift = float(shift)
        self.a_max = check_positive("a_max", a_max)
        self.delta = check_positive("delta", delta)
        self.divide: SignReLUNetwork = ratio_network(self.delta, self.a_max, 1.0)

    def n_parameters(self) -> int:
        """Trainable parameters of both networks plus the non-zero weights of the division network."""
        n = sum(p.numel() for m in (self.num, self.den) for p in m.parameters())
        return n + self.divide.n_parameters

    def forward(self, x: Tensor) -> Tensor:
        p = next(self.num.parameters())
        with torch.no_grad():
            g1 = self.num(x.to(p)).to(torch.float64).clamp(0.0, self.a_max)
            g2 = self.den(x.to(p)).to(torch.float64).clamp(self.delta, 1.0)
        return self.divide(torch.cat([g1, g2], -1))[:, 0] - self.shift


def ratio_error_metrics(
    pred: Tensor, target: Tensor, low_mask: Tensor | None = None
) -> dict[str, float]:
    r"""L1, L2 (root mean square) and sup errors on a uniform grid (uniform weight, so tails count),
    plus ``sup_low``, the sup error on ``low_mask`` (e.g. where :math:`f_2` is small)."""
    e = (pred.reshape(-1).to(torch.float64) - target.reshape(-1).to(torch.float64)).abs()
    out = {"L1": float(e.mean()), "L2": float(e.pow(2).mean().sqrt()), "sup": float(e.max())}
    if low_mask is not None:
        out["sup_low"] = float(e[low_mask.reshape(-1)].max()) if bool(low_mask.any()) else 0.0
    return out


def sample_ddpm_chain(
    denoiser: Denoiser,
    chain: VPChain,
    n: int,
    dim: int = 1,
    generator: torch.Generator | None = None,
    variance: str = "beta",
) -> Tensor:
    r"""Draw ``n`` samples (shape ``(n, dim)``, float64) from the DDPM ancestral sampler with the
    same Gaussian reverse kernels as :func:`ddpm_output_density`, started at :math:`\mathcal N(0, I)`."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    z = torch.randn((n, dim), dtype=torch.float64, generator=generator)
    for t in range(chain.T, 0, -1):
        c0, ct, s2 = ddpm_posterior(chain, t, variance)
        ab = float(chain.alpha_bar[t])
        x = z / math.sqrt(ab)
        sig = torch.full((n,), chain.sigma_tilde(t), dtype=torch.float64)
        p = next(iter(denoiser.parameters()), None) if isinstance(denoiser, nn.Module) else None
        if p is not None:
            with torch.no_grad():
                x0 = denoiser(x.to(p), sig.to(p)).to(torch.float64).cpu()
        else:
            x0 = denoiser(x, sig)
        noise = torch.randn((n, dim), dtype=torch.float64, generator=generator)
        z = c0 * x0 + ct * z + math.sqrt(s2) * noise
    return z


class _Exp(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.exp()


def ratio_fit_study(
    x_train: Tensor,
    f1_train: Tensor,
    f2_train: Tensor,
    x_eval: Tensor,
    f1_eval: Tensor,
    f2_eval: Tensor,
    widths: list[int],
    seeds: list[int],
    activations: tuple[str, ...] = ("signrelu", "relu", "tanh"),
    depth: int = 3,
    steps: int = 2000,
    lr: float = 3e-3,
    low_level: float = 0.05,
    device: torch.device | str = "cpu",
    batch_size: int | None = 256,
    weighting: str = "absolute",
) -> list[dict[str, float | int | str]]:
    r"""Fit a ratio target :math:`f_1/f_2` directly and modularly; return one error row per fit.

    * ``direct``: an MLP per activation regresses :math:`f_1/f_2` (standardised).
    * ``modular``: SignReLU MLPs fit :math:`g_1=(f_1+Lf_2)/S` and :math:`g_2=f_2/S`
      (:math:`S=\max f_2`, :math:`L` makes :math:`g_1\ge0`) and :class:`modular_ratio` divides with
      the exact SignReLU network, floor :math:`\delta = \min_\Omega g_2/2`.

    Inputs are rescaled to :math:`[-1,1]^d` from the training box; every fit is
    :func:`companion.training.fit_regression` with minibatches of ``batch_size`` points. Errors (uniform weight on the
    evaluation grid, see :func:`ratio_error_metrics`) with ``sup_low`` on the region where
    :math:`f_2 < ` ``low_level`` :math:`\max f_2` (tails and valleys).

    ``weighting`` sets the loss of the modular route's two density fits: ``"absolute"`` is plain
    mean squared error on :math:`g_1, g_2`; ``"relative"`` fits :math:`\log g_1` and
    :math:`\log g_2` (the networks' outputs are exponentiated), a squared *relative* error to
    first order, so the small-:math:`f_2` region counts as much as the bulk and the errors that
    the division amplifies by :math:`1/f_2` (the conditioning bound
    :math:`(|e_1|+|r||e_2|)/f_2`) are controlled where :math:`f_2` is small. Every row also reports ``plateau``: the mean training loss over the last
    tenth of the steps over that of the tenth before (the largest over the row's fits; near 1
    means the loss has stopped falling).
    """
    check_in("weighting", weighting, ["absolute", "relative"])
    lo, hi = x_train.min(0).values, x_train.max(0).values

    def scale(x: Tensor) -> Tensor:
        return (2 * (x - lo) / (hi - lo) - 1).to(torch.float32).to(device)

    xs_tr, xs_ev = scale(x_train), scale(x_eval)
    r_tr, r_ev = f1_train / f2_train, f1_eval / f2_eval
    mu, sd = float(r_tr.mean()), float(r_tr.std())
    S = float(f2_train.max())
    # shift, cap and floor from the training data only (the evaluation grid stays unseen)
    L = max(0.0, -float(r_tr.min())) * 1.05
    g1, g2 = (f1_train + L * f2_train) / S, f2_train / S
    a_max = float(g1.max()) * 1.5
    delta = 0.5 * float(g2.min().clamp_min(1e-12))
    low = f2_eval < low_level * float(f2_eval.max())
    d = x_train.shape[1]
    rel = weighting == "relative"
    if rel and bool((g1 <= 0).any()):
        raise ValueError("weighting='relative' needs a positive shifted numerator f1 + L f2")

    def plateau(losses: list[float]) -> float:
        k = max(1, len(losses) // 10)
        prev = losses[-2 * k : -k] or losses[:k]
        return (sum(losses[-k:]) / k) / max(sum(prev) / len(prev), 1e-300)

    rows: list[dict[str, float | int | str]] = []
    for width in widths:
        for seed in seeds:
            for act in activations:
                torch.manual_seed(seed)
                net = MLP(d, 1, width, depth, act).to(device)
                losses = fit_regression(
                    net, xs_tr, (r_tr - mu) / sd, steps, lr, seed=seed, batch_size=batch_size
                )
                with torch.no_grad():
                    pred = net(xs_ev)[:, 0].double().cpu() * sd + mu
                n_par = sum(p.numel() for p in net.parameters())
                rows.append(
                    {
                        "method": "direct",
                        "activation": act,
                        "width": width,
                        "seed": seed,
                        "n_params": n_par,
                        "plateau": plateau(losses),
                        **ratio_error_metrics(pred, r_ev, low),
                    }
                )
            torch.manual_seed(seed)
            num = MLP(d, 1, width, depth, "signrelu").to(device)
            den = MLP(d, 1, width, depth, "signrelu").to(device)
            y1, y2 = (g1.log(), g2.log()) if rel else (g1, g2)
            l1 = fit_regression(num, xs_tr, y1, steps, lr, seed=seed, batch_size=batch_size)
            l2 = fit_regression(den, xs_tr, y2, steps, lr, seed=seed, batch_size=batch_size)
            parts: tuple[nn.Module, nn.Module] = (num, den)
            if rel:
                parts = (nn.Sequential(num, _Exp()), nn.Sequential(den, _Exp()))
            mod = modular_ratio(*parts, L, a_max, delta)
            pred = mod(xs_ev)
            rows.append(
                {
                    "method": "modular",
                    "activation": "signrelu",
                    "width": width,
                    "seed": seed,
                    "n_params": mod.n_parameters(),
                    "plateau": max(plateau(l1), plateau(l2)),
                    **ratio_error_metrics(pred, r_ev, low),
                }
            )
    return rows


def kernel_ratio_path_kl_quadrature(
    p0: GaussianMixture, p0_hat: GaussianMixture, chain: VPChain, n_z: int = 150, n_y: int = 150
) -> Quadrature:
    r"""Path KL of the kernel-ratio chain computed *without* the telescoping identity: the terminal
    term plus the per-step KLs by 2-D quadrature of the two mixture kernels
    (:func:`companion.chains.mixture_path_kl`).
    An independent check of :func:`kernel_ratio_path_kl`."""
    term, parts = mixture_path_kl(
        chain, p0, lambda t: mixture_log_kernel(chain.reverse_kernel(p0_hat, t)), n_z, n_y
    )
    return Quadrature(
        term.value + sum(q.value for q in parts), term.error + sum(q.error for q in parts)
    )


# --------------------------------------------------------------------------------------------
# The path KL decomposed: terminal, discretisation and estimation parts
# --------------------------------------------------------------------------------------------
def gaussian_estimation_kl(
    p0: GaussianMixture, p0_hat: GaussianMixture, chain: VPChain, n_z: int = 2001
) -> Quadrature:
    r"""Estimation part of the path KL of the practical DDPM whose posterior mean comes from the
    plug-in ``p0_hat``: the sum over steps of

    .. math:: \frac{c_{0,t}^2}{2\beta_t}\,E_{p_t}\big(\hat E[z_0\mid z_t]-E[z_0\mid z_t]\big)^2 .

    Gaussian reverse kernels with one variance :math:`\beta_t` and means :math:`\mu` and
    :math:`\hat\mu` differ in expected KL from the exact reverse kernel by exactly
    :math:`E(\mu-\hat\mu)^2/(2\beta_t)` because the exact kernel's mean *is*
    :math:`\mu=c_0E[z_0\mid z_t]+c_tz_t` (the cross term vanishes). So the path KL of
    :func:`gaussian_kernel_path_kl` with the plug-in mean is terminal + discretisation (the same
    chain with the exact mean) + this term. 1-D trapezoid rule over :math:`z_t` on ``n_z`` nodes
    (10 component standard deviations beyond the extreme means of :math:`p_t`); the error is the
    change when the grid is halved.
    """
    if isinstance(n_z, bool) or not isinstance(n_z, int) or n_z < 6:
        raise ValueError(f"n_z must be an integer >= 6, got {n_z!r}")
    if p0.dim != 1 or p0_hat.dim != 1:
        raise ValueError("p0 and p0_hat must be 1-D mixtures")

    def total(nz: int) -> float:
        s = 0.0
        for t in range(1, chain.T + 1):
            c0, _, beta = ddpm_posterior(chain, t)
            m = chain.marginal(p0, t)
            sd = m.variances[:, 0].sqrt()
            z = torch.linspace(
                float((m.means[:, 0] - 10 * sd).min()),
                float((m.means[:, 0] + 10 * sd).max()),
                nz,
                dtype=torch.float64,
            )
            f1, f2 = posterior_mean_terms(p0, chain, t, z)
            g1, g2 = posterior_mean_terms(p0_hat, chain, t, z)
            d2 = (g1 / g2.clamp_min(1e-300) - f1 / f2.clamp_min(1e-300)).pow(2)
            s += c0**2 / (2 * beta) * float((trapezoid_weights(z) * f2 * d2).sum())
        return s

    fine = total(n_z)
    return Quadrature(fine, abs(fine - total((n_z + 1) // 2)))


def hinge_log_kernel(
    kernel: GaussianMixtureKernel, knots: Tensor, floor: float = 1e-300
) -> LogKernel:
    r"""A fixed-size approximant of the reverse *density* (the paper's :math:`f_1/f_2`): for each
    :math:`z_t`, the piecewise-linear interpolant in :math:`z_{t-1}` of the exact reverse kernel
    ``kernel`` at the fixed ``knots`` (what a hinge layer with one unit per knot represents),
    normalised to a density (the trapezoid sum over the knots is its exact integral); zero
    outside the knots. Returns its log (floored at ``log(floor)``) as a
    ``LogKernel`` (``log p(y | z)``) for :func:`companion.chains.mixture_step_kl`.

    With the knots fixed, the approximant's size does not change with the number of steps,
    while the reverse kernel's width (about :math:`\sqrt{\beta_t}`) shrinks as ``T`` grows.
    """
    knots = torch.as_tensor(knots, dtype=torch.float64).reshape(-1).contiguous()
    if knots.numel() < 3 or not bool((knots[1:] > knots[:-1]).all()):
        raise ValueError("knots must be at least 3 strictly increasing values")
    dk = knots[1:] - knots[:-1]
    if not torch.allclose(dk, dk[0].expand_as(dk), rtol=1e-9, atol=0.0):
        raise ValueError("knots must be uniformly spaced")
    floor = check_positive("floor", floor)
    exact = mixture_log_kernel(kernel)
    wk = trapezoid_weights(knots)
    K = knots.numel()

    def f(y: Tensor, z: Tensor) -> Tensor:
        kv = exact(knots.expand(z.shape[0], -1).contiguous(), z).exp()  # (m, K)
        norm = (wk * kv).sum(-1, keepdim=True)
        yy = y.contiguous()
        idx = torch.searchsorted(knots, yy).clamp(1, K - 1)
        x0, x1 = knots[idx - 1], knots[idx]
        v0, v1 = kv.gather(1, idx - 1), kv.gather(1, idx)
        w = ((yy - x0) / (x1 - x0)).clamp(0.0, 1.0)
        inside = (yy >= knots[0]) & (yy <= knots[-1])
        val = torch.where(inside, v0 + w * (v1 - v0), torch.zeros_like(yy))
        return torch.log((val / norm).clamp_min(floor))

    return f
