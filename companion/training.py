r"""Training loops: one optimisation loop, denoising score matching and minibatch regression.

The weighted DSM objective for a denoiser :math:`D` in the SNR form is

.. math:: L(D) = E_{\sigma\sim\pi}\, E_{x, \varepsilon}\; w(\sigma)\,\|D(x+\sigma\varepsilon, \sigma) - x\|^2 .

Noise-level distributions :math:`\pi` (:class:`NoiseDistribution`): EDM log-normal,
log-uniform, or any sampler. Weightings :math:`w`: uniform, the :math:`\varepsilon`-loss
:math:`1/\sigma^2`, EDM's :math:`(\sigma^2+\sigma_d^2)/(\sigma\sigma_d)^2`, or any function.

* :func:`optimise`: the loop every trainer in the package runs (Adam or plain gradient descent,
  optionally with cosine learning-rate decay, one loss per step);
* :func:`train`: DSM training of any denoiser ``model(x, sigma)``, with minibatches, fixed noise
  draws (a deterministic empirical loss) and checkpoints;
* :func:`train_denoiser`: :func:`train` applied to a fresh EDM-preconditioned SiLU
  :class:`~companion.nets.MLPDenoiser`;
* :func:`fit_regression`: weighted least squares of a network on fixed points, full batch or
  minibatches.

Every loop is seeded: the same seed gives the same batches and noise draws, and
:func:`train_denoiser` also seeds the initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive
from .nets import MLPDenoiser
from .progress import progress

__all__ = [
    "NoiseDistribution",
    "lognormal",
    "loguniform",
    "WEIGHTINGS",
    "get_weighting",
    "dsm_loss",
    "optimise",
    "TrainResult",
    "train",
    "train_denoiser",
    "fit_regression",
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


def optimise(
    params: Iterable[Tensor],
    loss_fn: Callable[[], Tensor],
    steps: int,
    lr: float,
    *,
    optimizer: str = "adam",
    cosine: bool = False,
    after_step: Callable[[int], None] | None = None,
    desc: str = "optimise",
    disable: bool | None = True,
) -> list[float]:
    """Minimise ``loss_fn()`` for ``steps`` steps; the loop of every trainer in the package.

    Each step evaluates ``loss_fn()`` (which draws its own batch, if any), back-propagates and
    takes one optimiser step.

    Parameters
    ----------
    params
        The parameters to optimise.
    loss_fn
        Returns the scalar loss of the current step.
    steps
        Number of steps (a positive integer).
    lr
        Learning rate (initial one with ``cosine``).
    optimizer
        ``"adam"`` or ``"gd"`` (plain gradient descent, :class:`torch.optim.SGD` without momentum).
    cosine
        Decay the learning rate to 0 along a cosine over the run
        (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`).
    after_step
        Called with the 1-based step number after each step (e.g. to store checkpoints).
    desc, disable
        Progress bar label and switch (:func:`companion.progress.progress`; ``None`` lets the
        environment decide).

    Returns
    -------
    list of float
        The loss of every step (evaluated before that step's update).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    check_in("optimizer", optimizer, ["adam", "gd"])
    check_positive("lr", lr)
    params = list(params)
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    losses: list[float] = []
    for k in progress(range(1, steps + 1), desc=desc, disable=disable):
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
        if after_step is not None:
            after_step(k)
    return losses


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
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, d), got {tuple(data.shape)}")
    weight_fn = get_weighting(weighting) if isinstance(weighting, str) else weighting
    param = next(model.parameters())
    data = data.to(dtype=param.dtype, device=param.device)
    gen = torch.Generator().manual_seed(seed)
    full = optimizer == "gd" or batch_size is None or batch_size >= data.shape[0]

    def draw(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = noise.sample(x.shape[0], gen).to(x)
        e = torch.randn(x.shape, dtype=torch.float64, generator=gen).to(x)
        return x, s, e

    if fixed_noise:
        fixed = draw(data.repeat(n_noise, 1))

    def loss() -> Tensor:
        if fixed_noise:
            x, s, e = fixed
        elif full:
            x, s, e = draw(data)
        else:
            idx = torch.randint(data.shape[0], (batch_size or 1,), generator=gen).to(data.device)
            x, s, e = draw(data[idx])
        return dsm_loss(model, x, s, e, weight_fn(s, sigma_data))

    result = TrainResult()

    def keep(k: int) -> None:
        if k in checkpoint_at:
            result.checkpoints[k] = {n: t.detach().clone() for n, t in model.state_dict().items()}

    model.train()
    result.losses = optimise(
        model.parameters(),
        loss,
        steps,
        lr,
        optimizer=optimizer,
        after_step=keep,
        desc="train",
        disable=disable,
    )
    model.eval()
    return result


def train_denoiser(
    data: Tensor,
    steps: int,
    width: int = 64,
    depth: int = 3,
    lr: float = 2e-3,
    batch_size: int = 256,
    seed: int = 0,
    sigma_data: float | None = None,
    noise: NoiseDistribution | None = None,
    weighting: str | Callable[[Tensor, float], Tensor] = "edm",
    checkpoint_at: tuple[int, ...] = (),
    device: torch.device | str | None = None,
) -> tuple[MLPDenoiser, TrainResult]:
    r"""Train a fresh EDM-preconditioned SiLU :class:`~companion.nets.MLPDenoiser` by Adam.

    The model is seeded by ``seed`` (``torch.manual_seed``), then trained by :func:`train`
    (constant learning rate, minibatches seeded by the same ``seed``).

    Parameters
    ----------
    data
        Training points, shape ``(n, d)``.
    steps
        Adam steps.
    width, depth
        Of the MLP.
    lr, batch_size
        Adam's learning rate and the minibatch size.
    seed
        Seeds the initialisation, the batches and the noise draws.
    sigma_data
        :math:`\sigma_d` of the preconditioning and of the weighting; default: the standard
        deviation of ``data``.
    noise
        Training noise-level distribution; default EDM's :func:`lognormal`.
    weighting
        Name in :data:`WEIGHTINGS` or ``w(sigma, sigma_data)``; default EDM's.
    checkpoint_at
        Steps after which a copy of the weights is stored in the result.
    device
        Where the model trains and stays (``None``: the default device).

    Returns
    -------
    tuple of MLPDenoiser and TrainResult
        The model (float32, eval mode) and the losses and checkpoints of the run.
    """
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, d), got {tuple(data.shape)}")
    sd = float(data.std()) if sigma_data is None else check_positive("sigma_data", sigma_data)
    torch.manual_seed(seed)
    model = MLPDenoiser(int(data.shape[1]), width, depth, "silu", sigma_data=sd)
    if device is not None:
        model = model.to(device)
    res = train(
        model,
        data,
        steps,
        noise or lognormal(),
        weighting,
        sigma_data=sd,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        checkpoint_at=checkpoint_at,
        disable=True,
    )
    return model, res


def fit_regression(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    steps: int = 2000,
    lr: float = 3e-3,
    weight: Tensor | None = None,
    seed: int = 0,
    batch_size: int | None = None,
) -> list[float]:
    r"""Weighted least squares: Adam with cosine-decayed learning rate on
    :math:`\mathrm{mean}\,w\,(\mathrm{net}(x)-y)^2`.

    Parameters
    ----------
    net
        Maps ``(m, d)`` to ``(m, 1)``; trained in place and left in eval mode.
    x, y
        Inputs ``(m, d)`` and targets ``(m,)``, moved to the network's dtype and device.
    steps, lr
        Adam steps and initial learning rate.
    weight
        Per-point weights ``(m,)``; ``None`` is uniform.
    seed
        Seeds ``torch``'s global generator (so dropout or later initialisations are
        reproducible) and the minibatches.
    batch_size
        Points drawn with replacement per step; ``None`` (or at least ``m``) is full batch.

    Returns
    -------
    list of float
        The loss of every step.
    """
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (m, d) and y (m,), got {tuple(x.shape)} and {tuple(y.shape)}")
    p = next(net.parameters())
    x, y = x.to(p), y.to(p)
    w = torch.ones_like(y) if weight is None else weight.to(p)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    full = batch_size is None or batch_size >= x.shape[0]

    def loss() -> Tensor:
        if full:
            xb, yb, wb = x, y, w
        else:
            idx = torch.randint(x.shape[0], (batch_size or 1,), generator=gen).to(x.device)
            xb, yb, wb = x[idx], y[idx], w[idx]
        return (wb * (net(xb).squeeze(-1) - yb) ** 2).mean()

    losses = optimise(net.parameters(), loss, steps, lr, cosine=True)
    net.eval()
    return losses
