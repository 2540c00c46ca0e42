r"""Signal-to-noise schedules and noise-level grids.

Every schedule describes the forward marginals :math:`z_t = \alpha_t x + \sigma_t \varepsilon`
with signal-to-noise ratio :math:`\lambda_t = \alpha_t^2/\sigma_t^2`. Dividing by
:math:`\alpha_t` gives the *SNR form* (variance-exploding form) used by all samplers:

.. math:: \tilde x = z/\alpha_t = x + \tilde\sigma_t\,\varepsilon,\qquad
          \tilde\sigma_t = \sigma_t/\alpha_t = \lambda_t^{-1/2}.

A schedule is therefore a thin adapter: :meth:`Schedule.to_snr` maps times to
:math:`\tilde\sigma`, and the samplers in :mod:`companion.samplers` work on :math:`\tilde\sigma`
grids only. The forward SDE :math:`dz = f(t) z\,dt + g(t)\,dw` has

.. math:: f(t) = \frac{d\log\alpha_t}{dt},\qquad
          g^2(t) = -\sigma_t^2 \frac{d\log\lambda_t}{dt}
                 = 2\sigma_t^2\Big(\frac{d\log\sigma_t}{dt} - \frac{d\log\alpha_t}{dt}\Big).

All values are float64 tensors; times may be floats or tensors of any shape.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import as_float64, check_in, check_positive

__all__ = [
    "Schedule",
    "VPLinear",
    "VPCosine",
    "VEGeometric",
    "EDM",
    "get_schedule",
    "SCHEDULES",
    "ddpm_alpha_bar",
    "karras_sigmas",
    "exponential_sigmas",
    "uniform_t_sigmas",
    "append_zero",
]

TimeLike = float | Tensor


class Schedule(ABC):
    r"""A signal-to-noise schedule :math:`(\alpha_t, \sigma_t)` on :math:`[t_{\min}, t_{\max}]`.

    Subclasses give :math:`\log\alpha`, :math:`\log\sigma` and their time derivatives in closed
    form; everything else (SNR, SDE coefficients, SNR form, inverse) derives from these.
    """

    name: str = "schedule"
    t_min: float = 0.0
    t_max: float = 1.0

    @abstractmethod
    def log_alpha(self, t: Tensor) -> Tensor:
        """:math:`\\log\\alpha_t`."""

    @abstractmethod
    def log_sigma(self, t: Tensor) -> Tensor:
        """:math:`\\log\\sigma_t`."""

    @abstractmethod
    def dlog_alpha(self, t: Tensor) -> Tensor:
        """:math:`d\\log\\alpha_t/dt`."""

    @abstractmethod
    def dlog_sigma(self, t: Tensor) -> Tensor:
        """:math:`d\\log\\sigma_t/dt`."""

    # -- derived quantities -------------------------------------------------------------
    def _t(self, t: TimeLike) -> Tensor:
        return as_float64(t)

    def alpha(self, t: TimeLike) -> Tensor:
        """Signal scale :math:`\\alpha_t`."""
        return torch.exp(self.log_alpha(self._t(t)))

    def sigma(self, t: TimeLike) -> Tensor:
        """Noise scale :math:`\\sigma_t`."""
        return torch.exp(self.log_sigma(self._t(t)))

    def log_snr(self, t: TimeLike) -> Tensor:
        """:math:`\\log\\lambda_t = 2(\\log\\alpha_t - \\log\\sigma_t)`."""
        t = self._t(t)
        return 2.0 * (self.log_alpha(t) - self.log_sigma(t))

    def snr(self, t: TimeLike) -> Tensor:
        """Signal-to-noise ratio :math:`\\lambda_t = \\alpha_t^2/\\sigma_t^2`."""
        return torch.exp(self.log_snr(t))

    def f(self, t: TimeLike) -> Tensor:
        """Drift coefficient :math:`f(t) = d\\log\\alpha_t/dt` of the forward SDE."""
        return self.dlog_alpha(self._t(t))

    def g2(self, t: TimeLike) -> Tensor:
        """Squared diffusion coefficient :math:`g^2(t) = -\\sigma_t^2\\, d\\log\\lambda_t/dt`."""
        t = self._t(t)
        return 2.0 * self.sigma(t) ** 2 * (self.dlog_sigma(t) - self.dlog_alpha(t))

    def sigma_tilde(self, t: TimeLike) -> Tensor:
        """SNR-form noise level :math:`\\tilde\\sigma_t = \\sigma_t/\\alpha_t = \\lambda_t^{-1/2}`."""
        t = self._t(t)
        return torch.exp(self.log_sigma(t) - self.log_alpha(t))

    def to_snr(self, t: TimeLike) -> Tensor:
        """Map times to SNR-form noise levels (the one call the samplers need)."""
        return self.sigma_tilde(t)

    def t_of_sigma_tilde(self, sigma_tilde: TimeLike, iters: int = 200) -> Tensor:
        r"""Invert :math:`t \mapsto \tilde\sigma_t` (monotone increasing) by vectorised bisection.

        Accurate to float64 round-off for :math:`\tilde\sigma` inside the schedule's range.
        """
        s = as_float64(sigma_tilde)
        target = torch.log(s)
        lo = torch.full_like(s, self.t_min)
        hi = torch.full_like(s, self.t_max)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            above = (self.log_sigma(mid) - self.log_alpha(mid)) > target
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        return 0.5 * (lo + hi)

    def alpha_of_sigma_tilde(self, sigma_tilde: TimeLike) -> Tensor:
        """:math:`\\alpha` at the time where the SNR-form noise level equals ``sigma_tilde``."""
        return self.alpha(self.t_of_sigma_tilde(sigma_tilde))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


@dataclass(repr=False)
class VPLinear(Schedule):
    r"""Variance-preserving schedule with linear :math:`\beta(t)` (continuous DDPM).

    :math:`\log\alpha_t = -\tfrac12\int_0^t\beta`, :math:`\sigma_t^2 = 1-\alpha_t^2`,
    :math:`\beta(t) = \beta_{\min} + t(\beta_{\max}-\beta_{\min})`, :math:`t\in(0,1]`.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    name: str = "vp-linear"
    t_min: float = 1e-5
    t_max: float = 1.0

    def __post_init__(self) -> None:
        check_positive("beta_min", self.beta_min)
        check_positive("beta_max", self.beta_max)

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)

    def log_sigma(self, t: Tensor) -> Tensor:
        # sigma^2 = 1 - alpha^2 = -expm1(2 log alpha), stable for small t
        return 0.5 * torch.log(-torch.expm1(2.0 * self.log_alpha(t)))

    def dlog_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * self._beta(t)

    def dlog_sigma(self, t: Tensor) -> Tensor:
        a2 = torch.exp(2.0 * self.log_alpha(t))
        return 0.5 * self._beta(t) * a2 / (1.0 - a2)


@dataclass(repr=False)
class VPCosine(Schedule):
    r"""Variance-preserving cosine schedule (Nichol and Dhariwal):
    :math:`\alpha_t = \cos(\tfrac{\pi}{2}\tfrac{t+s}{1+s})/\cos(\tfrac{\pi}{2}\tfrac{s}{1+s})`."""

    s: float = 0.008
    name: str = "vp-cosine"
    t_min: float = 1e-5
    t_max: float = 0.9946

    def __post_init__(self) -> None:
        check_positive("s", self.s)

    def _u(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * (t + self.s) / (1.0 + self.s)

    def log_alpha(self, t: Tensor) -> Tensor:
        u0 = 0.5 * math.pi * self.s / (1.0 + self.s)
        return torch.log(torch.cos(self._u(t))) - math.log(math.cos(u0))

    def log_sigma(self, t: Tensor) -> Tensor:
        return 0.5 * torch.log(-torch.expm1(2.0 * self.log_alpha(t)))

    def dlog_alpha(self, t: Tensor) -> Tensor:
        return -torch.tan(self._u(t)) * 0.5 * math.pi / (1.0 + self.s)

    def dlog_sigma(self, t: Tensor) -> Tensor:
        a2 = torch.exp(2.0 * self.log_alpha(t))
        return -self.dlog_alpha(t) * a2 / (1.0 - a2)


@dataclass(repr=False)
class VEGeometric(Schedule):
    r"""Variance-exploding schedule of Song et al.: :math:`\alpha_t = 1`,
    :math:`\sigma_t = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t`, :math:`t\in[0,1]`."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    name: str = "ve-geometric"
    t_min: float = 0.0
    t_max: float = 1.0

    def __post_init__(self) -> None:
        check_positive("sigma_min", self.sigma_min)
        check_positive("sigma_max", self.sigma_max)
        if self.sigma_max <= self.sigma_min:
            raise ValueError(
                f"sigma_max must exceed sigma_min, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}"
            )

    def log_alpha(self, t: Tensor) -> Tensor:
        return 0.0 * t

    def log_sigma(self, t: Tensor) -> Tensor:
        return math.log(self.sigma_min) + t * math.log(self.sigma_max / self.sigma_min)

    def dlog_alpha(self, t: Tensor) -> Tensor:
        return 0.0 * t

    def dlog_sigma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, math.log(self.sigma_max / self.sigma_min))


@dataclass(repr=False)
class EDM(Schedule):
    r"""The EDM schedule of Karras et al.: :math:`\alpha_t = 1`, :math:`\sigma_t = t`."""

    sigma_min: float = 0.002
    sigma_max: float = 80.0
    name: str = "edm"

    def __post_init__(self) -> None:
        check_positive("sigma_min", self.sigma_min)
        check_positive("sigma_max", self.sigma_max)
        self.t_min = self.sigma_min
        self.t_max = self.sigma_max

    def log_alpha(self, t: Tensor) -> Tensor:
        return 0.0 * t

    def log_sigma(self, t: Tensor) -> Tensor:
        return torch.log(t)

    def dlog_alpha(self, t: Tensor) -> Tensor:
        return 0.0 * t

    def dlog_sigma(self, t: Tensor) -> Tensor:
        return 1.0 / t


SCHEDULES: dict[str, type[Schedule]] = {
    "vp-linear": VPLinear,
    "vp-cosine": VPCosine,
    "ve-geometric": VEGeometric,
    "edm": EDM,
}


def get_schedule(name: str, **kwargs: float) -> Schedule:
    """Build a schedule by name (``vp-linear``, ``vp-cosine``, ``ve-geometric``, ``edm``)."""
    check_in("schedule name", name, list(SCHEDULES))
    return SCHEDULES[name](**kwargs)


# -- discrete DDPM ---------------------------------------------------------------------
def ddpm_alpha_bar(
    T: int, beta_1: float = 1e-4, beta_T: float = 0.02, device: torch.device | str | None = None
) -> Tensor:
    r"""Cumulative products :math:`\bar\alpha_t = \prod_{s\le t}(1-\beta_s)`, :math:`t=1..T`,
    for DDPM's linear betas. Shape ``(T,)``. The SNR-form noise level of step ``t`` is
    :math:`\sqrt{(1-\bar\alpha_t)/\bar\alpha_t}`."""
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive integer, got {T!r}")
    check_positive("beta_1", beta_1)
    check_positive("beta_T", beta_T)
    if beta_T >= 1 or beta_1 >= 1:
        raise ValueError(f"betas must be < 1, got beta_1={beta_1}, beta_T={beta_T}")
    betas = torch.linspace(beta_1, beta_T, T, dtype=torch.float64, device=device)
    return torch.cumprod(1.0 - betas, dim=0)


# -- noise-level grids (decreasing, SNR form) ------------------------------------------
def _check_range(n: int, sigma_min: float, sigma_max: float) -> None:
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    check_positive("sigma_min", sigma_min)
    check_positive("sigma_max", sigma_max)
    if sigma_max <= sigma_min:
        raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_min} and {sigma_max}")


def append_zero(sigmas: Tensor) -> Tensor:
    """Append a final noise level 0 (the last step then returns the denoised estimate)."""
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    rho: float = 7.0,
    zero: bool = True,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Polynomial grid of Karras et al.: ``n`` levels
    :math:`\sigma_i = (\sigma_{\max}^{1/\rho} + \tfrac{i}{n-1}(\sigma_{\min}^{1/\rho}-\sigma_{\max}^{1/\rho}))^\rho`,
    decreasing, plus a final 0 when ``zero``. ``rho = 1`` is uniform in sigma."""
    _check_range(n, sigma_min, sigma_max)
    check_positive("rho", rho)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64, device=device)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min
    return append_zero(sigmas) if zero else sigmas


def exponential_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    zero: bool = True,
    device: torch.device | str | None = None,
) -> Tensor:
    """Exponential (log-uniform) grid of Song et al.: ``n`` levels, decreasing, plus 0 if ``zero``.
    It is the limit ``rho -> infinity`` of :func:`karras_sigmas`."""
    _check_range(n, sigma_min, sigma_max)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64, device=device)
    sigmas = torch.exp(math.log(sigma_max) + ramp * (math.log(sigma_min) - math.log(sigma_max)))
    return append_zero(sigmas) if zero else sigmas


def uniform_t_sigmas(
    schedule: Schedule,
    n: int,
    t_min: float | None = None,
    t_max: float | None = None,
    zero: bool = True,
    device: torch.device | str | None = None,
) -> Tensor:
    """SNR-form noise levels of ``n`` times uniform in ``[t_min, t_max]`` (decreasing)."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    lo = schedule.t_min if t_min is None else t_min
    hi = schedule.t_max if t_max is None else t_max
    if not lo < hi:
        raise ValueError(f"t_min must be < t_max, got t_min={lo}, t_max={hi}")
    ts = torch.linspace(hi, lo, n, dtype=torch.float64, device=device)
    sigmas = schedule.to_snr(ts)
    return append_zero(sigmas) if zero else sigmas
