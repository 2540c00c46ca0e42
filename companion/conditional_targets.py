r"""Conditional 1-D targets that are not finite Gaussian mixtures.

:class:`GumbelBetaTarget` is a context-dependent two-part law on :math:`c\in[0,1]`:

.. math::

    q(x_0\mid c) = w(c)\,\mathrm{Gumbel}(x_0;\,\ell(c), s) + (1-w(c))\,
    \frac{1}{L(c)}\,\mathrm{Beta}\!\Big(\frac{x_0 - u(c)}{L(c)};\,2, 3\Big),

a right-skewed Gumbel bump and a compactly supported Beta bump whose weights, locations and
widths move with :math:`c`. Its noised marginals :math:`\alpha x_0 + \sigma\varepsilon` are
computed by quadrature of the convolution on a fine grid, so everything in
:mod:`companion.mixture_kernels` (per-step KL, chain rule, output KL) applies to it unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import check_nonnegative, check_positive

__all__ = ["GumbelBetaTarget"]

LOG_2PI = math.log(2.0 * math.pi)
LOG_BETA_23 = math.log(12.0)  # 1 / B(2, 3) = 12


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

        ``sigma = 0`` is exact; otherwise the convolution is a trapezoid rule on ``n_quad`` nodes
        covering the support (error well below 1e-8 relative for ``sigma >= 0.05 alpha``).
        """
        check_positive("alpha", alpha)
        check_nonnegative("sigma", sigma)
        if sigma == 0:
            return self.log_prob(z / alpha, c) - math.log(alpha)
        ct = self._check_c(c)
        lo = float(self.gumbel_loc(ct)) - 4.0 * self.s
        hi = max(
            float(self.gumbel_loc(ct)) + 32.0 * self.s, float(self.beta_lo(ct) + self.beta_len(ct))
        )
        x = torch.linspace(lo, hi, self.n_quad, dtype=torch.float64)
        h = (hi - lo) / (self.n_quad - 1)
        lw = self.log_prob(x, c) + math.log(h)
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
