r"""Gaussian mixtures: closed-form ground truth at every noise level.

For data :math:`x \sim \sum_k w_k \mathcal N(m_k, \mathrm{diag}(v_k))` in :math:`\mathbb R^d` and the
SNR-form noising :math:`\tilde x = x + \tilde\sigma\varepsilon`, everything is explicit:

* marginal :math:`p_{\tilde\sigma}(\tilde x) = \sum_k w_k \mathcal N(\tilde x; m_k, v_k + \tilde\sigma^2)`;
* score :math:`\nabla\log p_{\tilde\sigma}` and denoiser :math:`\hat x = E[x\mid\tilde x]`
  (Tweedie: :math:`\hat x = \tilde x + \tilde\sigma^2\nabla\log p_{\tilde\sigma}`);
* posterior covariance :math:`\mathrm{Cov}[x\mid\tilde x]` and the mmse;
* the exact reverse kernel of a discrete forward step, itself a Gaussian mixture with
  softmax-quadratic logits, affine means and constant covariances
  (:class:`GaussianMixtureKernel`).

Components of :class:`GaussianMixture` are diagonal (isotropic is the special case);
:class:`FullCovarianceMixture` is its sibling with full covariances :math:`\Sigma_k`, the same
methods, and one eigendecomposition per component (each noise level then costs a diagonal
solve in the rotated basis). All computations are log-sum-exp
stable and finite for :math:`\tilde\sigma` from 1e-4 to 1e4 in float64. Noise levels may be a
float or a tensor of shape ``(n,)`` (one level per sample, the k-diffusion convention), so
:meth:`GaussianMixture.denoise` plugs into every sampler as ``denoiser(x, sigma)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_finite, check_nonnegative, check_positive

__all__ = [
    "MixtureBase",
    "GaussianMixture",
    "FullCovarianceMixture",
    "GaussianMixtureKernel",
    "ConditionalGaussianMixture",
    "ring_mixture",
    "mixture_log_prob",
]

LOG_2PI = math.log(2.0 * math.pi)
SigmaLike = float | Tensor


def _as_sigma2(sigma: SigmaLike, n: int, like: Tensor) -> Tensor:
    """Squared noise level broadcastable to ``(n, K, d)``: shape ``()`` or ``(n, 1, 1)``."""
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if s.ndim == 0:
        return s**2
    if s.shape != (n,):
        raise ValueError(f"sigma must be a scalar or have shape ({n},), got {tuple(s.shape)}")
    return (s**2).reshape(n, 1, 1)


def mixture_log_prob(x: Tensor, log_w: Tensor, means: Tensor, variances: Tensor) -> Tensor:
    """Log density of diagonal Gaussian mixtures, batched.

    Args:
        x: points, shape ``(n, d)``.
        log_w: log weights, shape ``(K,)`` or ``(n, K)``.
        means: shape ``(K, d)`` or ``(n, K, d)``.
        variances: shape broadcastable to ``(n, K, d)``.

    Returns:
        ``(log p, log r)``: log density ``(n,)`` is the first output; the second is the
        per-component joint log-term ``log w_k + log N_k(x)``, shape ``(n, K)``.
    """
    diff = x.unsqueeze(-2) - means
    log_comp = -0.5 * (diff**2 / variances + torch.log(variances) + LOG_2PI).sum(-1)
    joint = log_w + log_comp
    return torch.logsumexp(joint, dim=-1), joint  # type: ignore[return-value]


class MixtureBase:
    """What every Gaussian mixture here has: ``weights`` ``(K,)``, ``means`` ``(K, d)``, and
    from them its number of components, dimension and device."""

    weights: Tensor
    means: Tensor

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        """Dimension d of the data."""
        return int(self.means.shape[1])

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.means.device


class GaussianMixture(MixtureBase):
    """A diagonal Gaussian mixture in R^d with closed-form noised quantities.

    Args:
        weights: mixture weights, shape ``(K,)``, non-negative, summing to 1 (renormalised if
            within 1e-8).
        means: component means, shape ``(K, d)`` (a ``(K,)`` tensor means d = 1).
        variances: component variances: a scalar, shape ``(K,)`` (isotropic) or ``(K, d)``;
            zero gives point masses.
        device: where to keep the parameters (float64).
    """

    def __init__(
        self,
        weights: Tensor | list[float],
        means: Tensor | list,
        variances: Tensor | list | float,
        device: torch.device | str | None = None,
    ) -> None:
        m = torch.as_tensor(means, dtype=torch.float64, device=device)
        w, m = _check_weights_means(weights, m.unsqueeze(-1) if m.ndim == 1 else m, device)
        v = torch.as_tensor(variances, dtype=torch.float64, device=device)
        K, d = m.shape
        if v.ndim == 0:
            v = v.expand(K, d)
        elif v.ndim == 1:
            if v.shape[0] != K:
                raise ValueError(
                    f"variances of shape (K,) must have K={K} entries, got {v.shape[0]}"
                )
            v = v.unsqueeze(-1).expand(K, d)
        elif v.shape != (K, d):
            raise ValueError(
                f"variances must be scalar, (K,) or (K, d)=({K}, {d}); got {tuple(v.shape)}"
            )
        check_finite("variances", v)
        if (v < 0).any():
            raise ValueError("variances must be >= 0")
        self.weights = w / w.sum()
        self.means = m
        self.variances = v.contiguous()
        self.log_w = torch.log(self.weights)

    def mean(self) -> Tensor:
        """Mixture mean, shape ``(d,)``."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Mixture covariance, shape ``(d, d)``."""
        mu = self.mean()
        dm = self.means - mu
        return torch.diag(self.weights @ self.variances) + (self.weights[:, None] * dm).T @ dm

    def to(self, device: torch.device | str) -> GaussianMixture:
        """A copy on ``device``."""
        return GaussianMixture(
            self.weights.to(device), self.means.to(device), self.variances.to(device)
        )

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, d={self.dim})"

    # -- forward process ------------------------------------------------------------------
    def noised(self, alpha: float = 1.0, sigma: float = 0.0) -> GaussianMixture:
        r"""Law of :math:`\alpha x + \sigma\varepsilon`: the mixture with means
        :math:`\alpha m_k` and variances :math:`\alpha^2 v_k + \sigma^2`."""
        check_positive("alpha", alpha)
        check_nonnegative("sigma", sigma)
        return GaussianMixture(
            self.weights, alpha * self.means, alpha**2 * self.variances + sigma**2
        )

    def _check_x(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x.to(self.means.dtype)

    def _joint(self, x: Tensor, sigma: SigmaLike) -> tuple[Tensor, Tensor, Tensor]:
        x = self._check_x(x)
        var = self.variances + _as_sigma2(sigma, x.shape[0], x)
        logp, joint = mixture_log_prob(x, self.log_w, self.means, var)
        return logp, joint, var

    def log_prob(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        r"""Log density of :math:`\tilde x = x + \tilde\sigma\varepsilon` at ``x`` (shape ``(n, d)``)."""
        return self._joint(x, sigma)[0]

    def prob(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        """Density, ``exp(log_prob)``."""
        return torch.exp(self.log_prob(x, sigma))

    def responsibilities(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        """Posterior component probabilities ``P(k | x)``, shape ``(n, K)``."""
        logp, joint, _ = self._joint(x, sigma)
        return torch.exp(joint - logp.unsqueeze(-1))

    def score(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        r""":math:`\nabla_{\tilde x}\log p_{\tilde\sigma}(\tilde x)`, shape ``(n, d)``."""
        logp, joint, var = self._joint(x, sigma)
        r = torch.exp(joint - logp.unsqueeze(-1))
        return -(r.unsqueeze(-1) * (x.unsqueeze(-2) - self.means) / var).sum(-2)

    def _posterior_components(self, x: Tensor, sigma: SigmaLike) -> tuple[Tensor, Tensor, Tensor]:
        """Responsibilities ``(n,K)``, per-component posterior means ``(n,K,d)`` and variances."""
        logp, joint, var = self._joint(x, sigma)
        r = torch.exp(joint - logp.unsqueeze(-1))
        # sigma^2 itself, not (v + sigma^2) - v: the difference loses all digits once sigma^2 << v
        s2 = _as_sigma2(sigma, x.shape[0], var)
        gain = self.variances / var  # v/(v+s^2)
        mean_k = self.means + gain * (x.unsqueeze(-2) - self.means)
        var_k = self.variances * s2 / var
        return r, mean_k, var_k

    def denoise(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        r"""Posterior mean :math:`E[x \mid \tilde x]`, shape ``(n, d)``.

        This is the k-diffusion denoiser of the mixture: ``denoiser(x, sigma)`` with ``sigma``
        a float or a per-sample tensor of shape ``(n,)``.
        """
        r, mean_k, _ = self._posterior_components(x, sigma)
        return (r.unsqueeze(-1) * mean_k).sum(-2)

    __call__ = denoise

    def posterior_cov(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        r""":math:`\mathrm{Cov}[x\mid\tilde x]`, shape ``(n, d, d)`` (law of total covariance)."""
        r, mean_k, var_k = self._posterior_components(x, sigma)
        mean = (r.unsqueeze(-1) * mean_k).sum(-2)
        within = torch.diag_embed((r.unsqueeze(-1) * var_k).sum(-2))
        dm = mean_k - mean.unsqueeze(-2)
        between = torch.einsum("nk,nki,nkj->nij", r, dm, dm)
        return within + between

    def mmse(
        self, sigma: float, n_mc: int = 200_000, generator: torch.Generator | None = None
    ) -> tuple[float, float]:
        r"""Minimum mean squared error :math:`E\|x - E[x\mid\tilde x]\|^2` at noise level ``sigma``.

        In d = 1 it is computed by quadrature on a fine grid and the second output is the
        quadrature error estimate (difference to the half-resolution rule); in d > 1 by Monte
        Carlo with ``n_mc`` samples, and the second output is the standard error.
        """
        check_positive("sigma", sigma)
        if self.dim == 1:
            sd = float(torch.sqrt(self.variances.max() + sigma**2))
            lo = float(self.means.min()) - 14 * sd
            hi = float(self.means.max()) + 14 * sd
            xs = torch.linspace(lo, hi, 40_001, dtype=torch.float64, device=self.device).unsqueeze(
                -1
            )
            integrand = self.prob(xs, sigma) * self.posterior_cov(xs, sigma)[:, 0, 0]
            h = (hi - lo) / (xs.shape[0] - 1)
            fine = float(torch.trapezoid(integrand, dx=h))
            coarse = float(torch.trapezoid(integrand[::2], dx=2 * h))
            return fine, abs(fine - coarse)
        x0 = self.sample(n_mc, generator)
        noise = torch.randn(x0.shape, dtype=x0.dtype, device=x0.device, generator=generator)
        err = ((x0 - self.denoise(x0 + sigma * noise, sigma)) ** 2).sum(-1)
        return float(err.mean()), float(err.std() / math.sqrt(n_mc))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples, shape ``(n, d)``, float64 (reproducible through ``generator``)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(
            (n, self.dim), dtype=torch.float64, device=self.device, generator=generator
        )
        return self.means[k] + torch.sqrt(self.variances[k]) * eps

    # -- reverse kernel of a discrete step ----------------------------------------------------
    def reverse_kernel(
        self, alpha_s: float, sigma_s: float, alpha_t: float, sigma_t: float
    ) -> GaussianMixtureKernel:
        r"""Exact :math:`q(z_s\mid z_t)` for the forward step from level ``s`` to ``t > s``.

        With :math:`z_s = \alpha_s x + \sigma_s\varepsilon` and :math:`z_t = a z_s + b\xi`,
        :math:`a = \alpha_t/\alpha_s`, :math:`b^2 = \sigma_t^2 - a^2\sigma_s^2 > 0`, the reverse
        kernel is a K-component Gaussian mixture whose logits are quadratic in :math:`z_t`,
        whose means are affine in :math:`z_t` and whose covariances are constant.
        """
        return _reverse_kernel(
            self.log_w, self.means, self.variances, alpha_s, sigma_s, alpha_t, sigma_t
        )


def _reverse_kernel(
    log_w: Tensor,
    means: Tensor,
    variances: Tensor,
    alpha_s: float,
    sigma_s: float,
    alpha_t: float,
    sigma_t: float,
) -> GaussianMixtureKernel:
    """The exact reverse kernel of mixtures with parameters ``(..., K)``, ``(..., K, d)``."""
    for name, v in [("alpha_s", alpha_s), ("alpha_t", alpha_t)]:
        check_positive(name, v)
    check_nonnegative("sigma_s", sigma_s)
    check_positive("sigma_t", sigma_t)
    a = alpha_t / alpha_s
    b2 = sigma_t**2 - a**2 * sigma_s**2
    if b2 <= 0:
        raise ValueError(
            f"the step must add noise: sigma_t^2 - (alpha_t/alpha_s)^2 sigma_s^2 = {b2:.3g} <= 0"
        )
    mu = alpha_s * means  # law of z_s | k
    c = alpha_s**2 * variances + sigma_s**2
    pred_var = a**2 * c + b2  # law of z_t | k
    gain = a * c / pred_var
    return GaussianMixtureKernel(
        log_w=log_w,
        pred_mean=a * mu,
        pred_var=pred_var,
        offset=mu - gain * a * mu,
        gain=gain,
        variances=c * b2 / pred_var,
    )


@dataclass
class GaussianMixtureKernel:
    r"""A Gaussian-mixture transition :math:`q(y\mid z) = \sum_k \pi_k(z)\,\mathcal N(y; b_k + G_k z, V_k)`
    with softmax-quadratic logits :math:`\log\pi_k(z) = \log w_k + \log\mathcal N(z; \mu_k, P_k) + C(z)`.

    All tensors are per component, shape ``(K, d)`` except ``log_w`` ``(K,)`` (diagonal model).
    A batch of kernels (one per conditioning point, as returned by
    :meth:`ConditionalGaussianMixture.reverse_kernel`) has shapes ``(n, K, d)`` and ``(n, K)``
    and is evaluated at ``n`` points ``z``.
    """

    log_w: Tensor
    pred_mean: Tensor
    pred_var: Tensor
    offset: Tensor
    gain: Tensor
    variances: Tensor

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.log_w.shape[-1])

    def logits(self, z: Tensor) -> Tensor:
        """Normalised log mixture weights given ``z`` (shape ``(n, d)``), shape ``(n, K)``."""
        logp, joint = mixture_log_prob(z, self.log_w, self.pred_mean, self.pred_var)
        return joint - logp.unsqueeze(-1)

    def means(self, z: Tensor) -> Tensor:
        """Component means given ``z``, shape ``(n, K, d)``."""
        return self.offset + self.gain * z.unsqueeze(-2)

    def log_prob(self, y: Tensor, z: Tensor) -> Tensor:
        """Log transition density ``log q(y | z)``, shape ``(n,)``."""
        _, joint = mixture_log_prob(y, self.logits(z), self.means(z), self.variances)
        return torch.logsumexp(joint, dim=-1)

    def sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw of ``y ~ q(. | z)`` per row of ``z``, shape ``(n, d)``."""
        probs = torch.exp(self.logits(z))
        k = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        idx = torch.arange(z.shape[0], device=z.device)
        eps = torch.randn(z.shape, dtype=z.dtype, device=z.device, generator=generator)
        var = self.variances[idx, k] if self.variances.ndim == 3 else self.variances[k]
        return self.means(z)[idx, k] + torch.sqrt(var) * eps


class ConditionalGaussianMixture:
    """A family of Gaussian mixtures indexed by a scalar context ``c``.

    Args:
        weights_fn: maps contexts ``(m,)`` to weights ``(m, K)`` (rows sum to 1).
        means_fn: maps contexts ``(m,)`` to means ``(m, K, d)``.
        variances_fn: maps contexts ``(m,)`` to variances ``(m, K, d)``.
    """

    def __init__(
        self,
        weights_fn: Callable[[Tensor], Tensor],
        means_fn: Callable[[Tensor], Tensor],
        variances_fn: Callable[[Tensor], Tensor],
    ) -> None:
        self.weights_fn = weights_fn
        self.means_fn = means_fn
        self.variances_fn = variances_fn

    def at(self, c: float) -> GaussianMixture:
        """The mixture for one context value."""
        ct = torch.tensor([float(c)], dtype=torch.float64)
        return GaussianMixture(
            self.weights_fn(ct)[0], self.means_fn(ct)[0], self.variances_fn(ct)[0]
        )

    def log_prob(self, x: Tensor, c: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        """Log density of the noised law at per-sample contexts ``c`` (shape ``(n,)``)."""
        c = torch.as_tensor(c, dtype=torch.float64)
        if x.ndim != 2 or c.shape != (x.shape[0],):
            raise ValueError(
                f"x must be (n, d) and c (n,); got {tuple(x.shape)} and {tuple(c.shape)}"
            )
        var = self.variances_fn(c) + _as_sigma2(sigma, x.shape[0], x)
        return mixture_log_prob(x, torch.log(self.weights_fn(c)), self.means_fn(c), var)[0]

    def reverse_kernel(
        self, c: Tensor, alpha_s: float, sigma_s: float, alpha_t: float, sigma_t: float
    ) -> GaussianMixtureKernel:
        r"""Exact :math:`q(z_s\mid z_t, c_i)` for every context in ``c`` (shape ``(n,)``), batched.

        The kernel of :meth:`GaussianMixture.reverse_kernel` for each mixture :meth:`at` ``c_i``,
        with parameters of shape ``(n, K, d)``; evaluate it at ``n`` points ``z`` (one per context).
        """
        c = torch.as_tensor(c, dtype=torch.float64).reshape(-1)
        w = self.weights_fn(c)
        n, K = w.shape
        m = self.means_fn(c).reshape(n, K, -1)
        v = self.variances_fn(c).reshape(n, K, -1).expand_as(m)
        return _reverse_kernel(torch.log(w), m, v, alpha_s, sigma_s, alpha_t, sigma_t)

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One sample per context in ``c`` (shape ``(n,)``), shape ``(n, d)``."""
        c = torch.as_tensor(c, dtype=torch.float64)
        w, m, v = self.weights_fn(c), self.means_fn(c), self.variances_fn(c)
        k = torch.multinomial(w, 1, generator=generator).squeeze(-1)
        idx = torch.arange(c.shape[0])
        eps = torch.randn(m[:, 0].shape, dtype=torch.float64, generator=generator)
        return m[idx, k] + torch.sqrt(v[idx, k]) * eps


def ring_mixture(
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.1,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """Equal-weight isotropic 2-D mixture with ``n_modes`` modes on a circle of ``radius``."""
    if not isinstance(n_modes, int) or n_modes < 1:
        raise ValueError(f"n_modes must be a positive integer, got {n_modes!r}")
    check_positive("radius", radius)
    check_positive("std", std)
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    weights = torch.full((n_modes,), 1.0 / n_modes, dtype=torch.float64)
    return GaussianMixture(weights, means, std**2, device=device)


# --------------------------------------------------------------------------------------------
# Full covariances
# --------------------------------------------------------------------------------------------

#: Largest number of float64 entries of an ``(n, K, d)`` intermediate held at once; longer
#: batches are processed in chunks of samples (about 128 MB per intermediate).
_MAX_ENTRIES = 2**24


def _check_covariances(covariances: Tensor, K: int, d: int) -> Tensor:
    """Validate ``(K, d, d)`` symmetric positive-definite covariances; return them symmetrised."""
    if covariances.shape != (K, d, d):
        raise ValueError(
            f"covariances must have shape (K, d, d)=({K}, {d}, {d}), got {tuple(covariances.shape)}"
        )
    check_finite("covariances", covariances)
    scale = covariances.abs().amax(dim=(-2, -1)).clamp_min(torch.finfo(torch.float64).tiny)
    asym = (covariances - covariances.transpose(-2, -1)).abs().amax(dim=(-2, -1)) / scale
    if (asym > 1e-10).any():
        k = int(torch.argmax(asym))
        raise ValueError(
            f"covariances must be symmetric; covariances[{k}] has relative asymmetry "
            f"{float(asym[k]):.3g} (max |S - S^T| / max |S| > 1e-10)"
        )
    return 0.5 * (covariances + covariances.transpose(-2, -1))


class FullCovarianceMixture(MixtureBase):
    r"""A Gaussian mixture :math:`\sum_k w_k\,\mathcal N(\mu_k, \Sigma_k)` in :math:`\mathbb R^d`
    with full covariances and closed-form noised quantities.

    The sibling of :class:`GaussianMixture` with the same methods and conventions (SNR form
    :math:`\tilde x = x + \tilde\sigma\varepsilon`; ``sigma`` a float or a tensor of shape
    ``(n,)``; float64). Each covariance is diagonalised once, at construction,
    :math:`\Sigma_k = U_k\,\mathrm{diag}(\lambda_k)\,U_k^\top`, so that
    :math:`\Sigma_k + \tilde\sigma^2 I = U_k\,\mathrm{diag}(\lambda_k + \tilde\sigma^2)\,U_k^\top`:
    every noise level costs one rotation of the points into each component's eigenbasis (a
    single matrix product for all components) and a diagonal solve there, never a new
    factorisation. In the rotated coordinates :math:`y_k = U_k^\top(\tilde x - \mu_k)`:

    * :math:`\log\mathcal N_k = -\tfrac12\sum_j \big(y_{kj}^2/(\lambda_{kj}+\tilde\sigma^2)
      + \log(\lambda_{kj}+\tilde\sigma^2) + \log 2\pi\big)`;
    * score :math:`-\sum_k r_k\,U_k\,(y_k/(\lambda_k+\tilde\sigma^2))`, with responsibilities
      :math:`r_k = P(k\mid\tilde x)`;
    * denoiser :math:`E[x\mid\tilde x] = \sum_k r_k\big(\mu_k + U_k\,
      (\lambda_k/(\lambda_k+\tilde\sigma^2))\,y_k\big)`, computed directly rather than through
      Tweedie's formula so that no cancellation occurs at large :math:`\tilde\sigma`;
    * posterior covariance: per component :math:`U_k\,\mathrm{diag}(\lambda_k\tilde\sigma^2/
      (\lambda_k+\tilde\sigma^2))\,U_k^\top`, combined by the law of total covariance.

    Args:
        weights: mixture weights, shape ``(K,)``, non-negative, summing to 1 (renormalised if
            within 1e-8).
        means: component means, shape ``(K, d)``.
        covariances: component covariances, shape ``(K, d, d)``, symmetric (to a relative
            1e-10) and positive definite.
        device: where to keep the parameters (float64).

    Raises:
        ValueError: naming the argument, for bad shapes, non-finite entries, negative weights
            or weights not summing to 1, non-symmetric or non-positive-definite covariances.
    """

    def __init__(
        self,
        weights: Tensor | list[float],
        means: Tensor | list,
        covariances: Tensor | list,
        device: torch.device | str | None = None,
    ) -> None:
        w, m = _check_weights_means(weights, means, device)
        K, d = m.shape
        cov = _check_covariances(
            torch.as_tensor(covariances, dtype=torch.float64, device=device), K, d
        )
        evals, evecs = torch.linalg.eigh(cov)
        # Positive definite to working precision: eigenvalues above d * eps * largest.
        floor = d * torch.finfo(torch.float64).eps * evals[:, -1].abs()
        if (evals <= floor.unsqueeze(-1)).any():
            k = int(torch.nonzero((evals <= floor.unsqueeze(-1)).any(-1))[0])
            raise ValueError(
                f"covariances must be positive definite; covariances[{k}] has smallest "
                f"eigenvalue {float(evals[k, 0]):.3g} (largest {float(evals[k, -1]):.3g})"
            )
        self._set(w, m, evals, evecs)

    @classmethod
    def from_eigh(
        cls, weights: Tensor, means: Tensor, eigenvalues: Tensor, eigenvectors: Tensor
    ) -> FullCovarianceMixture:
        r"""Build from eigendecompositions :math:`\Sigma_k = U_k\,\mathrm{diag}(\lambda_k)\,U_k^\top`
        (``eigenvalues`` ``(K, d)``, all > 0; ``eigenvectors`` ``(K, d, d)``, orthogonal,
        columns the eigenvectors), without a new factorisation."""
        w, m = _check_weights_means(weights, means, None)
        K, d = m.shape
        lam = torch.as_tensor(eigenvalues, dtype=torch.float64, device=m.device)
        U = torch.as_tensor(eigenvectors, dtype=torch.float64, device=m.device)
        if lam.shape != (K, d) or U.shape != (K, d, d):
            raise ValueError(
                f"eigenvalues must be (K, d)=({K}, {d}) and eigenvectors (K, d, d); got "
                f"{tuple(lam.shape)} and {tuple(U.shape)}"
            )
        check_finite("eigenvalues", lam)
        check_finite("eigenvectors", U)
        if (lam <= 0).any():
            raise ValueError(f"eigenvalues must be > 0, got min {float(lam.min()):.3g}")
        eye = torch.eye(d, dtype=torch.float64, device=m.device)
        orth = float((U.transpose(-2, -1) @ U - eye).abs().max())
        if orth > 1e-8:
            raise ValueError(f"eigenvectors must be orthogonal, max |U^T U - I| = {orth:.3g}")
        out = cls.__new__(cls)
        out._set(w, m, lam, U)
        return out

    def _set(self, w: Tensor, m: Tensor, evals: Tensor, evecs: Tensor) -> None:
        K, d = m.shape
        self.weights = w / w.sum()
        self.log_w = torch.log(self.weights)
        self.means = m
        self.eigenvalues = evals.contiguous()  # (K, d), ascending
        self.eigenvectors = evecs.contiguous()  # (K, d, d), columns
        # x @ _rot -> (n, K*d): all rotations U_k^T x in one product; a @ _back undoes them.
        self._rot = evecs.permute(1, 0, 2).reshape(d, K * d).contiguous()
        self._back = evecs.transpose(-2, -1).reshape(K * d, d).contiguous()
        self._means_rot = torch.einsum("kdj,kd->kj", evecs, m)  # U_k^T mu_k
        self._logdet = torch.log(evals).sum(-1)

    @property
    def covariances(self) -> Tensor:
        """Component covariances rebuilt from the eigendecomposition, shape ``(K, d, d)``."""
        U = self.eigenvectors
        return (U * self.eigenvalues.unsqueeze(-2)) @ U.transpose(-2, -1)

    def mean(self) -> Tensor:
        """Mixture mean, shape ``(d,)``."""
        return self.weights @ self.means

    def covariance(self) -> Tensor:
        """Mixture covariance, shape ``(d, d)``."""
        dm = self.means - self.mean()
        within = torch.einsum("k,kij->ij", self.weights, self.covariances)
        return within + (self.weights[:, None] * dm).T @ dm

    def to(self, device: torch.device | str) -> FullCovarianceMixture:
        """A copy on ``device`` (the eigendecomposition moves with it)."""
        return FullCovarianceMixture.from_eigh(
            self.weights.to(device),
            self.means.to(device),
            self.eigenvalues.to(device),
            self.eigenvectors.to(device),
        )

    def __repr__(self) -> str:
        return f"FullCovarianceMixture(K={self.n_components}, d={self.dim})"

    # -- forward process ------------------------------------------------------------------
    def noised(self, alpha: float = 1.0, sigma: float = 0.0) -> FullCovarianceMixture:
        r"""Law of :math:`\alpha x + \sigma\varepsilon`: means :math:`\alpha\mu_k`, covariances
        :math:`\alpha^2\Sigma_k + \sigma^2 I` (same eigenvectors, no new factorisation)."""
        check_positive("alpha", alpha)
        check_nonnegative("sigma", sigma)
        return FullCovarianceMixture.from_eigh(
            self.weights,
            alpha * self.means,
            alpha**2 * self.eigenvalues + sigma**2,
            self.eigenvectors,
        )

    def _check_x(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x.to(dtype=torch.float64, device=self.device)

    def _rotated(self, x: Tensor, sigma: SigmaLike) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """For a chunk: log p ``(n,)``, responsibilities ``(n, K)``, rotated offsets
        ``y = U_k^T (x - mu_k)`` ``(n, K, d)`` and noised eigenvalues ``(K, d)`` or ``(n, K, d)``."""
        n, K, d = x.shape[0], self.n_components, self.dim
        y = (x @ self._rot).reshape(n, K, d) - self._means_rot
        lam = self.eigenvalues + _as_sigma2(sigma, n, x)
        log_comp = -0.5 * ((y**2 / lam).sum(-1) + torch.log(lam).sum(-1) + d * LOG_2PI)
        joint = self.log_w + log_comp
        logp = torch.logsumexp(joint, dim=-1)
        return logp, torch.exp(joint - logp.unsqueeze(-1)), y, lam

    def _map(
        self,
        fn: Callable[[Tensor, SigmaLike], Tensor],
        x: Tensor,
        sigma: SigmaLike,
        per_sample: int | None = None,
    ) -> Tensor:
        """Apply ``fn(x_chunk, sigma_chunk)`` over chunks of samples and concatenate; a chunk
        holds at most :data:`_MAX_ENTRIES` / ``per_sample`` samples (default ``K * d``)."""
        x = self._check_x(x)
        n = x.shape[0]
        s = torch.as_tensor(sigma, dtype=torch.float64, device=self.device)
        if s.ndim != 0 and s.shape != (n,):
            raise ValueError(f"sigma must be a scalar or have shape ({n},), got {tuple(s.shape)}")
        check_finite("sigma", s)
        if (s < 0).any():
            raise ValueError(f"sigma must be >= 0, got min {float(s.min()):.3g}")
        if s.ndim == 1 and n > 0 and bool((s == s[0]).all()):
            s = s[0]  # one level for all (what samplers pass): (K, d) noised spectra, not (n, K, d)
        step = max(1, _MAX_ENTRIES // (per_sample or self.n_components * self.dim))
        parts = [slice(i, min(i + step, n)) for i in range(0, n, step)]
        if len(parts) == 1:
            return fn(x, s)
        return torch.cat([fn(x[p], s if s.ndim == 0 else s[p]) for p in parts])

    def log_prob(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        r"""Log density of :math:`\tilde x = x + \tilde\sigma\varepsilon` at ``x`` (shape ``(n, d)``)."""
        return self._map(lambda z, s: self._rotated(z, s)[0], x, sigma)

    def prob(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        """Density, ``exp(log_prob)``."""
        return torch.exp(self.log_prob(x, sigma))

    def responsibilities(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        """Posterior component probabilities ``P(k | x)``, shape ``(n, K)``."""
        return self._map(lambda z, s: self._rotated(z, s)[1], x, sigma)

    def _score(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        _, r, y, lam = self._rotated(x, sigma)
        a = r.unsqueeze(-1) * y / lam
        return -(a.reshape(x.shape[0], -1) @ self._back)

    def score(self, x: Tensor, sigma: SigmaLike = 0.0) -> Tensor:
        r""":math:`\nabla_{\tilde x}\log p_{\tilde\sigma}(\tilde x)`, shape ``(n, d)``."""
        return self._map(self._score, x, sigma)

    def _denoise(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        _, r, y, lam = self._rotated(x, sigma)
        a = r.unsqueeze(-1) * (self.eigenvalues / lam) * y
        return r @ self.means + a.reshape(x.shape[0], -1) @ self._back

    def denoise(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        r"""Posterior mean :math:`E[x \mid \tilde x]`, shape ``(n, d)``.

        The k-diffusion denoiser of the mixture: ``denoiser(x, sigma)`` with ``sigma`` a float
        or a per-sample tensor of shape ``(n,)``.
        """
        return self._map(self._denoise, x, sigma)

    __call__ = denoise

    def _posterior_cov(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        _, r, y, lam = self._rotated(x, sigma)
        U = self.eigenvectors
        gain = self.eigenvalues / lam
        mean_k = self.means + torch.einsum("kdj,nkj->nkd", U, gain * y)  # (n, K, d)
        c = self.eigenvalues * _as_sigma2(sigma, x.shape[0], x) / lam  # l s^2 / (l + s^2)
        if c.ndim == 2:  # one noise level: the K within-component covariances once
            within_k = (U * c.unsqueeze(-2)) @ U.transpose(-2, -1)
            within = (r @ within_k.reshape(self.n_components, -1)).reshape(-1, self.dim, self.dim)
        else:
            within = torch.einsum("nkj,kdj,kej->nde", r.unsqueeze(-1) * c, U, U)
        mean = (r.unsqueeze(-1) * mean_k).sum(-2)
        dm = mean_k - mean.unsqueeze(-2)
        return within + torch.einsum("nk,nki,nkj->nij", r, dm, dm)

    def posterior_cov(self, x: Tensor, sigma: SigmaLike) -> Tensor:
        r""":math:`\mathrm{Cov}[x\mid\tilde x]`, shape ``(n, d, d)`` (law of total covariance)."""
        K, d = self.n_components, self.dim
        return self._map(self._posterior_cov, x, sigma, per_sample=K * d * d)

    def mmse(
        self, sigma: float, n_mc: int = 200_000, generator: torch.Generator | None = None
    ) -> tuple[float, float]:
        r"""Monte Carlo estimate of :math:`E\|x - E[x\mid\tilde x]\|^2` at noise level ``sigma``
        with ``n_mc`` samples; the second output is its standard error."""
        check_positive("sigma", sigma)
        x0 = self.sample(n_mc, generator)
        noise = torch.randn(x0.shape, dtype=x0.dtype, device=x0.device, generator=generator)
        err = ((x0 - self.denoise(x0 + sigma * noise, sigma)) ** 2).sum(-1)
        return float(err.mean()), float(err.std() / math.sqrt(n_mc))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""Draw ``n`` samples, shape ``(n, d)``, float64: :math:`\mu_k + U_k\,\lambda_k^{1/2}
        \odot\varepsilon` (reproducible through ``generator``)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(
            (n, self.dim), dtype=torch.float64, device=self.device, generator=generator
        )
        z = torch.sqrt(self.eigenvalues[k]) * eps
        step = max(1, _MAX_ENTRIES // (self.dim * self.dim))  # gathered (n, d, d) eigenbases
        rotated = [
            torch.einsum("ndj,nj->nd", self.eigenvectors[k[i : i + step]], z[i : i + step])
            for i in range(0, n, step)
        ]
        return self.means[k] + torch.cat(rotated)


def _check_weights_means(
    weights: Tensor | list[float], means: Tensor | list, device: torch.device | str | None
) -> tuple[Tensor, Tensor]:
    """Validate mixture weights ``(K,)`` and means ``(K, d)`` (float64 on ``device``)."""
    w = torch.as_tensor(weights, dtype=torch.float64, device=device)
    m = torch.as_tensor(means, dtype=torch.float64, device=device)
    if w.ndim != 1 or m.ndim != 2 or m.shape[0] != w.shape[0]:
        raise ValueError(
            f"weights must have shape (K,) and means (K, d); got {tuple(w.shape)} and "
            f"{tuple(m.shape)}"
        )
    check_finite("weights", w)
    check_finite("means", m)
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative, got min {float(w.min()):.3g}")
    if abs(float(w.sum()) - 1.0) > 1e-8:
        raise ValueError(f"weights must sum to 1, got sum {float(w.sum()):.10g}")
    return w, m
