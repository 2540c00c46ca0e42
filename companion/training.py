r"""Denoising score matching with pluggable noise-level distributions and loss weightings.

The weighted DSM objective for a denoiser :math:`D` in the SNR form is

.. math:: L(D) = E_{\sigma\sim\pi}\, E_{x, \varepsilon}\; w(\sigma)\,\|D(x+\sigma\varepsilon, \sigma) - x\|^2 .

Noise-level distributions :math:`\pi` (:class:`NoiseDistribution`): EDM log-normal,
log-uniform, or any sampler. Weightings :math:`w`: uniform, the :math:`\varepsilon`-loss
:math:`1/\sigma^2`, EDM's :math:`(\sigma^2+\sigma_d^2)/(\sigma\sigma_d)^2`, or any function.
:func:`train` runs Adam or full-batch gradient descent with deterministic seeding and a tqdm bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive
from .progress import progress

__all__ = [
    "NoiseDistribution",
    "lognormal",
    "loguniform",
    "WEIGHTINGS",
    "get_weighting",
    "dsm_loss",
    "TrainResult",
    "train",
]


@dataclass
class NoiseDistribution:
    """A distribution of training noise levels: ``sample(n, generator) -> sigmas (n,)`` and a
    human-readable ``name``."""

    name: str
    sample: Callable[[int, torch.Generator | None], Tensor]


def lognormal(p_mean: float = -1.2, p_std: float = 1.2) -> NoiseDistribution:
    r"""EDM's :math:`\log\sigma \sim \mathcal N(P_{mean}, P_{std}^2)`."""
    check_positive("p_std", p_std)

    def sample(n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.exp(p_mean + p_std * torch.randn(n, dtype=torch.float64, generator=generator))

    return NoiseDistribution(f"lognormal({p_mean:g}, {p_std:g})", sample)


def loguniform(sigma_min: float, sigma_max: float) -> NoiseDistribution:
    r""":math:`\log\sigma` uniform on :math:`[\log\sigma_{\min}, \log\sigma_{\max}]`."""
    check_positive("sigma_min", sigma_min)
    check_positive("sigma_max", sigma_max)
    if sigma_max <= sigma_min:
        raise ValueError(f"sigma_max must exceed sigma_min, got {sigma_min} and {sigma_max}")
    lo, hi = math.log(sigma_min), math.log(sigma_max)

    def sample(n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.exp(lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=generator))

    return NoiseDistribution(f"loguniform({sigma_min:g}, {sigma_max:g})", sample)


WEIGHTINGS: dict[str, Callable[[Tensor, float], Tensor]] = {
    "uniform": lambda s, sd: torch.ones_like(s),
    "eps": lambda s, sd: 1.0 / s**2,
    "edm": lambda s, sd: (s**2 + sd**2) / (s * sd) ** 2,
}


def get_weighting(name: str) -> Callable[[Tensor, float], Tensor]:
    """A loss weighting ``w(sigma, sigma_data)`` by name (see :data:`WEIGHTINGS`)."""
    check_in("weighting", name, list(WEIGHTINGS))
    return WEIGHTINGS[name]


def dsm_loss(
    denoiser: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    sigma: Tensor,
    noise: Tensor,
    weight: Tensor,
) -> Tensor:
    r"""Weighted DSM loss :math:`\mathrm{mean}_i\, w_i\|D(x_i+\sigma_i\varepsilon_i,\sigma_i)-x_i\|^2`.

    Shapes: ``x0`` and ``noise`` ``(n, d)``; ``sigma`` and ``weight`` ``(n,)``.
    """
    if x0.shape != noise.shape or sigma.shape != (x0.shape[0],) or weight.shape != sigma.shape:
        raise ValueError(
            "x0/noise must be (n, d) and sigma/weight (n,); got "
            f"{tuple(x0.shape)}, {tuple(noise.shape)}, {tuple(sigma.shape)}, "
            f"{tuple(weight.shape)}"
        )
    xt = x0 + sigma.unsqueeze(-1) * noise
    return (weight * ((denoiser(xt, sigma) - x0) ** 2).sum(-1)).mean()


@dataclass
class TrainResult:
    """Losses per step (float) and checkpoints (``step -> state_dict``) of a training run."""

    losses: list[float] = field(default_factory=list)
    checkpoints: dict[int, dict[str, Tensor]] = field(default_factory=dict)


def train(
    model: nn.Module,
    data: Tensor,
    steps: int,
    noise: NoiseDistribution,
    weighting: str | Callable[[Tensor, float], Tensor] = "edm",
    sigma_data: float = 1.0,
    optimizer: str = "adam",
    lr: float = 1e-3,
    batch_size: int | None = 256,
    fixed_noise: bool = False,
    n_noise: int = 1,
    seed: int = 0,
    checkpoint_at: tuple[int, ...] = (),
    disable: bool | None = None,
) -> TrainResult:
    """Train ``model`` (a denoiser ``model(x, sigma)``) by weighted denoising score matching.

    Args:
        model: the denoiser; trained in place, in its own dtype and device.
        data: training points, shape ``(n, d)``.
        steps: number of optimisation steps.
        noise: training noise-level distribution.
        weighting: name in :data:`WEIGHTINGS` or ``w(sigma, sigma_data)``.
        optimizer: ``"adam"`` or ``"gd"`` (plain full-batch gradient descent, constant step).
        lr: learning rate.
        batch_size: minibatch size for Adam (``None``: full batch). GD is always full batch.
        fixed_noise: draw noise levels and noise once (``n_noise`` per point) and keep them fixed,
            which makes the objective a deterministic empirical loss (as in GD analyses).
        seed: seeds the initial noise draws and batches (not the model's initialisation).
        checkpoint_at: steps (1-based) after which a copy of the weights is stored.

    Returns:
        A :class:`TrainResult` with the loss of every step.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    check_in("optimizer", optimizer, ["adam", "gd"])
    check_positive("lr", lr)
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, d), got {tuple(data.shape)}")
    weight_fn = get_weighting(weighting) if isinstance(weighting, str) else weighting
    param = next(model.parameters())
    data = data.to(dtype=param.dtype, device=param.device)
    gen = torch.Generator().manual_seed(seed)
    opt = (
        torch.optim.Adam(model.parameters(), lr=lr)
        if optimizer == "adam"
        else torch.optim.SGD(model.parameters(), lr=lr)
    )
    full = optimizer == "gd" or batch_size is None or batch_size >= data.shape[0]

    def draw(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = noise.sample(x.shape[0], gen).to(x)
        e = torch.randn(x.shape, dtype=torch.float64, generator=gen).to(x)
        return x, s, e

    if fixed_noise:
        fixed = draw(data.repeat(n_noise, 1))
    result = TrainResult()
    model.train()
    for k in progress(range(1, steps + 1), desc="train", disable=disable):
        if fixed_noise:
            x, s, e = fixed
        elif full:
            x, s, e = draw(data)
        else:
            idx = torch.randint(data.shape[0], (batch_size or 1,), generator=gen).to(data.device)
            x, s, e = draw(data[idx])
        loss = dsm_loss(model, x, s, e, weight_fn(s, sigma_data))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.losses.append(float(loss.detach()))
        if k in checkpoint_at:
            result.checkpoints[k] = {n: t.detach().clone() for n, t in model.state_dict().items()}
    model.eval()
    return result
