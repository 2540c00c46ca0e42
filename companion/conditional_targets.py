r"""Conditional 1-D targets :math:`q(x_0\mid c)` with computable noised marginals.

A conditional target exposes the log density of :math:`\alpha x_0 + \sigma\varepsilon` given
:math:`c` and draws :math:`x_0` given :math:`c` (the :class:`ConditionalTarget` protocol), which
is all that the chain accounting of :mod:`companion.mixture_kernels` and
:func:`companion.information.context_mutual_information` need.

* :class:`MixtureTarget`: a conditional Gaussian mixture
  (:class:`companion.gmm.ConditionalGaussianMixture`), noised marginals in closed form.
* :class:`GumbelBetaTarget`: a context-dependent two-part law on :math:`c\in[0,1]`,

  .. math::

      q(x_0\mid c) = w(c)\,\mathrm{Gumbel}(x_0;\,\ell(c), s) + (1-w(c))\,
      \frac{1}{L(c)}\,\mathrm{Beta}\!\Big(\frac{x_0 - u(c)}{L(c)};\,2, 3\Big),

  a right-skewed Gumbel bump and a compactly supported Beta bump whose weights, locations and
  widths move with :math:`c`. Its noised marginals are computed by quadrature of the
  convolution on a fine grid, so everything that takes a :class:`ConditionalTarget` applies to
  it unchanged.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor

from ._checks import check_nonnegative, check_positive
from .gmm import ConditionalGaussianMixture, mixture_log_prob

__all__ = ["ConditionalTarget", "MixtureTarget", "GumbelBetaTarget"]

LOG_2PI = math.log(2.0 * math.pi)
LOG_BETA_23 = math.log(12.0)  # 1 / B(2, 3) = 12


class ConditionalTarget(Protocol):
    """A conditional 1-D data law :math:`q(x_0\\mid c)` with computable noised marginals."""

    def log_marginal(self, z: Tensor, c: float, alpha: float, sigma: float) -> Tensor:
        r"""Log density of :math:`\alpha x_0 + \sigma\varepsilon` given ``c`` at ``z`` (shape ``(m,)``)."""
        ...

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One :math:`x_0` per context in ``c`` (shape ``(n,)``), shape ``(n,)``."""
        ...


class MixtureTarget:
    r"""A conditional 1-D Gaussian mixture :math:`q(x_0\mid c) = \sum_k w_k(c)\mathcal N(m_k(c), v_k(c))`.

    Args:
        mixture: a :class:`companion.gmm.ConditionalGaussianMixture` with ``d = 1``.
    """

    def __init__(self, mixture: ConditionalGaussianMixture) -> None:
        if not isinstance(mixture, ConditionalGaussianMixture):
            raise TypeError(
                f"mixture must be a ConditionalGaussianMixture, got {type(mixture).__name__}"
            )
        self.mixture = mixture

    def components(self, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Weights, means and variances at contexts ``c`` (shape ``(n,)``), each ``(n, K)``."""
        c = torch.as_tensor(c, dtype=torch.float64).reshape(-1)
        w = self.mixture.weights_fn(c)
        m = self.mixture.means_fn(c).reshape(w.shape)
        v = self.mixture.variances_fn(c).reshape(w.shape)
        return w, m, v

    @property
    def n_components(self) -> int:
        """Number of mixture components K."""
        return int(self.components(torch.zeros(1, dtype=torch.float64))[0].shape[1])

    def log_marginal(self, z: Tensor, c: float, alpha: float, sigma: float) -> Tensor:
        """Closed form: a mixture with means ``alpha m_k`` and variances ``alpha^2 v_k + sigma^2``."""
        w, m, v = self.components(torch.tensor([float(c)], dtype=torch.float64))
        var = alpha**2 * v + sigma**2
        return mixture_log_prob(z.unsqueeze(-1), torch.log(w), (alpha * m).T, var.T)[0]

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw per context, shape ``(n,)``, float64."""
        return self.mixture.sample(torch.as_tensor(c, dtype=torch.float64), generator)[:, 0]


class GumbelBetaTarget:
    r"""The Gumbel + scaled-Beta(2, 3) conditional target (see the module docstring).

    Args:
        n_quad: nodes of the quadrature grid in :math:`x_0` for the noised marginals.
        gumbel_scale: the Gumbel scale :math:`s`.
    """

    def __init__(self, n_quad: int = 4001, gumbel_scale: float = 0.35) -> None:
        if isinstance(n_quad, bool) or not isinstance(n_quad, int) or n_quad < 101:
            raise ValueError(f"n_quad must be an integer >= 101, got {n_quad!r}")
        self.n_quad = n_quad
        self.s = check_positive("gumbel_scale", gumbel_scale)

    # -- parameters as functions of the context ----------------------------------------------
    @staticmethod
    def weight(c: Tensor) -> Tensor:
        """Gumbel weight :math:`w(c) = 0.3 + 0.4c`."""
        return 0.3 + 0.4 * c

    @staticmethod
    def gumbel_loc(c: Tensor) -> Tensor:
        r"""Gumbel location :math:`\ell(c) = -1.3 + 0.8c`."""
        return -1.3 + 0.8 * c

    @staticmethod
    def beta_lo(c: Tensor) -> Tensor:
        """Left end :math:`u(c) = 0.1 + 0.4c` of the Beta part."""
        return 0.1 + 0.4 * c

    @staticmethod
    def beta_len(c: Tensor) -> Tensor:
        """Length :math:`L(c) = 2.0 - 0.8c` of the Beta part's support."""
        return 2.0 - 0.8 * c

    def _check_c(self, c: float) -> Tensor:
        cf = float(c)
        if not 0.0 <= cf <= 1.0:
            raise ValueError(f"c must lie in [0, 1], got {c!r}")
        return torch.tensor(cf, dtype=torch.float64)

    def log_prob(self, x: Tensor, c: float) -> Tensor:
        """Log density of :math:`x_0` given ``c`` at ``x`` (shape ``(m,)``); ``-inf`` off the support."""
        ct = self._check_c(c)
        u = (x - self.gumbel_loc(ct)) / self.s
        lg = -u - torch.exp(-u) - math.log(self.s)
        r = (x - self.beta_lo(ct)) / self.beta_len(ct)
        inside = (r > 0) & (r < 1)
        rr = r.clamp(1e-300, 1 - 1e-16)
        lb = torch.where(
            inside,
            LOG_BETA_23 + torch.log(rr) + 2 * torch.log1p(-rr) - torch.log(self.beta_len(ct)),
            torch.full_like(x, -math.inf),
        )
        w = self.weight(ct)
        return torch.logaddexp(torch.log(w) + lg, torch.log1p(-w) + lb)

    def log_marginal(self, z: Tensor, c: float, alpha: float, sigma: float) -> Tensor:
        r"""Log density of :math:`\alpha x_0 + \sigma\varepsilon` given ``c`` at ``z`` (shape ``(m,)``).

        ``sigma = 0`` is exact; otherwise the convolution is a quadrature with about ``n_quad``
        nodes per part: the trapezoid rule for the Gumbel part and Simpson's rule on the support
        of the Beta part (normalised to about 1e-9 for ``sigma >= 0.1 alpha``).
        """
        check_positive("alpha", alpha)
        check_nonnegative("sigma", sigma)
        if sigma == 0:
            return self.log_prob(z / alpha, c) - math.log(alpha)
        ct = self._check_c(c)
        w = self.weight(ct)
        n = self.n_quad // 2 * 2 + 1  # odd, for Simpson's rule
        # Gumbel part: smooth and rapidly decaying, the trapezoid rule converges spectrally
        lo = float(self.gumbel_loc(ct)) - 4.0 * self.s
        hi = float(self.gumbel_loc(ct)) + 32.0 * self.s
        xg = torch.linspace(lo, hi, n, dtype=torch.float64)
        ug = (xg - self.gumbel_loc(ct)) / self.s
        lwg = torch.log(w) - ug - torch.exp(-ug) - math.log(self.s) + math.log((hi - lo) / (n - 1))
        # Beta part: a polynomial on its support, Simpson's rule on exactly that interval
        xb = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        simpson = torch.ones(n, dtype=torch.float64)
        simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
        dens = 12.0 * xb * (1 - xb) ** 2 * simpson / (3.0 * (n - 1))
        lwb = torch.log1p(-w) + torch.log(dens.clamp_min(1e-300))
        xb = self.beta_lo(ct) + self.beta_len(ct) * xb
        x = torch.cat([xg, xb])
        lw = torch.cat([lwg, torch.where(dens > 0, lwb, torch.full_like(lwb, -math.inf))])
        lk = -0.5 * ((z[:, None] - alpha * x[None, :]) ** 2 / sigma**2 + LOG_2PI) - math.log(sigma)
        return torch.logsumexp(lw[None, :] + lk, -1)

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw per context (``c`` of shape ``(n,)`` in [0, 1]), shape ``(n,)``, float64."""
        c = torch.as_tensor(c, dtype=torch.float64).reshape(-1)
        if bool(((c < 0) | (c > 1)).any()):
            raise ValueError("c must lie in [0, 1]")
        n = c.numel()
        u = torch.rand(6, n, dtype=torch.float64, generator=generator)
        gumbel = self.gumbel_loc(c) - self.s * torch.log(-torch.log(u[0].clamp_min(1e-300)))
        # Beta(2, 3) is the 2nd smallest of 4 independent uniforms
        beta = torch.sort(u[1:5], dim=0).values[1]
        scaled = self.beta_lo(c) + self.beta_len(c) * beta
        return torch.where(u[5] < self.weight(c), gumbel, scaled)
