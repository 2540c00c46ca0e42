r"""Gradient descent on the empirical DSM loss through the neural tangent kernel (NTK).

Companion code of the chapter on Wang, He and Tao (2024), Theorem 1: full-batch gradient
descent on the empirical weighted denoising score matching loss

.. math:: \bar L(\theta) = \frac1{nN}\sum_{i,j}\omega_j\,\|F_\theta(z_{ij}) - \xi_{ij}\|^2,
          \qquad z_{ij} = \big(c_{\rm in}(\sigma_j)(x_i+\sigma_j\xi_{ij}),\ \log\sigma_j\big),

with a ReLU network :math:`F_\theta` (the :math:`\varepsilon`-prediction head) in the NTK
parameterisation. Write the residual :math:`r = F_\theta - \xi` (flattened, length
:math:`M = nNd`), :math:`W = \mathrm{diag}(\omega)` (each weight repeated over the :math:`d`
outputs), :math:`J = \partial F/\partial\theta` and the empirical kernel :math:`K = JJ^\top`.
Since :math:`\nabla_\theta\bar L = \frac{2}{nN}J^\top W r`, one GD step of size :math:`h`
changes the residual, to first order in :math:`h`, by

.. math:: r_{k+1} = r_k - h\,\tfrac{2}{nN}\,K\,W\,r_k, \qquad
          u_k := W^{1/2}r_k,\quad u_{k+1} = (I - hA)\,u_k,\quad
          A = \tfrac{2}{nN}\,W^{1/2}KW^{1/2}.

In the lazy (linearised) regime :math:`K` stays at its value at initialisation, so the
projection of :math:`u_k` on the :math:`i`-th eigenvector of :math:`A` decays exactly as
:math:`(1-h\lambda_i)^k`, and :math:`\bar L_k = \frac{1}{nN}\sum_i c_i^2(1-h\lambda_i)^{2k}`.
The step :math:`h = c/\lambda_{\max}` with :math:`c<2` makes every mode contract.

* :class:`NTKMLP`: a ReLU MLP in the NTK parameterisation (weights and biases
  :math:`\mathcal N(0,1)`, each layer's pre-activation scaled by :math:`1/\sqrt{\text{fan-in}}`),
  float64.
* :func:`dsm_problem`: the inputs, targets and weights of the empirical loss (fixed noise draws).
* :func:`empirical_ntk`: the Gram matrix :math:`K = JJ^\top` (``torch.func.jacrev`` + ``vmap``).
* :func:`loss_kernel`: :math:`A` and its exact eigendecomposition (float64).
* :func:`gd_lazy`: full-batch GD at :math:`h = c/\lambda_{\max}(A_0)`, returning the loss trace,
  the per-mode residuals and the relative kernel change :math:`\|K_T-K_0\|_F/\|K_0\|_F`.
* :func:`relevant_mode`, :func:`predicted_loss`, :func:`dominance_window`: the linearised
  prediction and where one mode dominates it; :func:`rate_test`: measured against predicted
  late-window rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

__all__ = [
    "NTKMLP",
    "DSMProblem",
    "dsm_problem",
    "fourier_embedding",
    "empirical_ntk",
    "loss_kernel",
    "NTKEnsemble",
    "LazyGD",
    "gd_lazy",
    "predicted_loss",
    "predicted_log_rate",
    "relevant_mode",
    "dominance_window",
    "RateTest",
    "rate_test",
]


class NTKMLP(nn.Module):
    r"""ReLU MLP in the NTK parameterisation, float64.

    Layer :math:`\ell` computes :math:`h_\ell = W_\ell\,a_{\ell-1}/\sqrt{n_{\ell-1}} + \beta\,b_\ell`
    with every entry of :math:`W_\ell, b_\ell` drawn from :math:`\mathcal N(0,1)`, and
    :math:`a_\ell = \mathrm{ReLU}(h_\ell)` (none after the last layer). With this scaling the
    empirical kernel at initialisation tends to a deterministic limit as the width grows, and
    moves by :math:`O(\text{width}^{-1/2})` during training (the lazy regime).

    Args:
        d_in: input dimension.
        d_out: output dimension.
        width: hidden width.
        depth: number of hidden layers (0: the linear model :math:`Wz/\sqrt{d_{in}} + \beta b`,
            whose kernel does not move).
        beta: scale of the biases.
        seed: seed of the initialisation.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        width: int,
        depth: int = 2,
        beta: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, v in [("d_in", d_in), ("d_out", d_out), ("width", width)]:
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be an integer >= 0 (0: a linear model), got {depth!r}")
        g = torch.Generator().manual_seed(seed)
        sizes = [d_in, *([width] * depth), d_out]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(b, a, generator=g, dtype=torch.float64))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.randn(b, generator=g, dtype=torch.float64)) for b in sizes[1:]
        )
        self.beta = float(beta)

    def forward(self, z: Tensor) -> Tensor:
        a = z
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = a @ w.T / math.sqrt(w.shape[1]) + self.beta * b
            if i < last:
                a = torch.relu(a)
        return a

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class DSMProblem:
    """The empirical weighted DSM loss as a regression: inputs ``z`` (``(nN, d+1)``), targets
    ``xi`` (``(nN, d)``) and per-row weights ``omega`` (``(nN,)``, mean 1 over the levels)."""

    z: Tensor
    xi: Tensor
    omega: Tensor


def dsm_problem(
    data: Tensor,
    levels: Tensor | Sequence[float],
    omega: Tensor | Sequence[float] | None = None,
    sigma_data: float = 1.0,
    seed: int = 0,
) -> DSMProblem:
    r"""Inputs, targets and weights of :math:`\bar L` with one fixed noise draw per point and level.

    Row :math:`(j, i)` (level-major) has input :math:`(x_i+\sigma_j\xi_{ij})/\sqrt{\sigma_j^2+
    \sigma_d^2}` and :math:`\log\sigma_j`, target :math:`\xi_{ij}` and weight :math:`\omega_j`.

    Args:
        data: ``(n, d)`` training points.
        levels: the ``N`` noise levels (> 0).
        omega: the ``N`` level weights (default 1); normalised to mean 1.
        sigma_data: the scale in :math:`c_{\rm in}`.
        seed: seed of the noise draws.
    """
    if data.ndim != 2:
        raise ValueError(f"data must have shape (n, d), got {tuple(data.shape)}")
    lv = torch.as_tensor(levels, dtype=torch.float64).reshape(-1)
    if lv.numel() < 1 or not bool((lv > 0).all()):
        raise ValueError("levels must be a non-empty list of positive noise levels")
    w = torch.ones_like(lv) if omega is None else torch.as_tensor(omega, dtype=torch.float64)
    if w.shape != lv.shape or not bool((w > 0).all()):
        raise ValueError(f"omega must hold {lv.numel()} positive weights, got {w.tolist()!r}")
    w = w / w.mean()
    n, d = data.shape
    g = torch.Generator().manual_seed(seed)
    x0 = data.to(torch.float64).repeat(lv.numel(), 1)
    s = lv.repeat_interleave(n).unsqueeze(-1)
    xi = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    z = torch.cat([(x0 + s * xi) / torch.sqrt(s**2 + sigma_data**2), torch.log(s)], dim=1)
    return DSMProblem(z, xi, w.repeat_interleave(n))


def fourier_embedding(
    z: Tensor, n_features: int = 64, length: float = 0.1, seed: int = 0
) -> Tensor:
    r"""A fixed random Fourier-feature input layer: :math:`\sqrt2\cos(\Omega z + b)`.

    :math:`\Omega_{kj}\sim\mathcal N(0, 1/\ell^2)`, :math:`b_j\sim U(0, 2\pi)`, so that
    :math:`\phi(z)\cdot\phi(z')/D\approx e^{-\|z-z'\|^2/(2\ell^2)}`: inputs further apart than
    the length :math:`\ell` become nearly orthogonal, which keeps the ReLU kernel on them well
    conditioned (on raw low-dimensional inputs its spectrum spans several decades).

    Args:
        z: ``(m, k)`` inputs.
        n_features: :math:`D`.
        length: :math:`\ell > 0`.
        seed: seed of :math:`\Omega` and :math:`b` (fixed, not trained).
    """
    if z.ndim != 2:
        raise ValueError(f"z must have shape (m, k), got {tuple(z.shape)}")
    if not isinstance(n_features, int) or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if not length > 0:
        raise ValueError(f"length must be > 0, got {length!r}")
    g = torch.Generator().manual_seed(seed)
    om = torch.randn(z.shape[1], n_features, generator=g, dtype=torch.float64) / length
    b = 2 * math.pi * torch.rand(n_features, generator=g, dtype=torch.float64)
    return math.sqrt(2.0) * torch.cos(z.to(torch.float64) @ om + b)


def empirical_ntk(model: nn.Module, z: Tensor) -> Tensor:
    r"""The empirical NTK Gram matrix :math:`K = JJ^\top` of ``model`` on the inputs ``z``.

    :math:`J` is the Jacobian of the flattened outputs (row-major: input, then output
    coordinate) with respect to all parameters, so ``K`` has shape ``(m d_out, m d_out)`` for
    ``m`` inputs; computed per input with ``torch.func.jacrev`` under ``vmap``.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p: dict[str, Tensor], zi: Tensor) -> Tensor:
        return functional_call(model, p, (zi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, z)  # name -> (m, d_out, *shape)
    m = z.shape[0]
    j = torch.cat([t.reshape(m * t.shape[1], -1) for t in jac.values()], dim=1)
    return j @ j.T


def loss_kernel(k: Tensor, omega: Tensor, n_rows: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""The GD dynamics matrix :math:`A = \frac{2}{nN}W^{1/2}KW^{1/2}` and its eigendecomposition.

    Args:
        k: the NTK Gram matrix, ``(M, M)`` with ``M = nN d``.
        omega: per-entry weights of the flattened residual, ``(M,)``.
        n_rows: :math:`nN`, the normaliser of the loss.

    Returns:
        ``(A, eigenvalues ascending, eigenvectors as columns)``, float64.
    """
    sw = torch.sqrt(omega.to(torch.float64))
    a = (2.0 / n_rows) * sw[:, None] * k.to(torch.float64) * sw[None, :]
    a = 0.5 * (a + a.T)
    lam, vec = torch.linalg.eigh(a)
    return a, lam, vec


class NTKEnsemble:
    r"""``S`` independent :class:`NTKMLP` networks (one per seed), evaluated and trained together.

    The weights of member ``s`` are exactly those of ``NTKMLP(d_in, d_out, width, depth, beta,
    seed=seeds[s])``. The gradient of the loss and the empirical NTK are computed by explicit
    back-propagation, batched over the members (no autograd graph, so thousands of full-batch
    steps of a small network take a second).

    With :math:`a_0 = z`, :math:`h_\ell = W_\ell a_{\ell-1}/\sqrt{n_{\ell-1}} + \beta b_\ell`,
    :math:`a_\ell = \mathrm{ReLU}(h_\ell)`, and :math:`B_\ell = \partial F/\partial h_\ell`, the
    empirical kernel is

    .. math:: K(z, z') = \sum_\ell B_\ell(z)B_\ell(z')^\top\,\Big(\frac{a_{\ell-1}(z)\cdot
              a_{\ell-1}(z')}{n_{\ell-1}} + \beta^2\Big).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        width: int,
        depth: int = 2,
        beta: float = 1.0,
        seeds: Sequence[int] = (0,),
    ) -> None:
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds must hold at least one seed")
        nets = [NTKMLP(d_in, d_out, width, depth, beta, seed=s) for s in seeds]
        self.weights = [
            torch.stack([n.weights[i].detach() for n in nets]) for i in range(depth + 1)
        ]
        self.biases = [torch.stack([n.biases[i].detach() for n in nets]) for i in range(depth + 1)]
        self.beta, self.seeds = float(beta), seeds
        self.d_in, self.d_out, self.width, self.depth = d_in, d_out, width, depth

    def member(self, i: int) -> NTKMLP:
        """Member ``i`` as an :class:`NTKMLP` with the ensemble's current weights."""
        m = NTKMLP(self.d_in, self.d_out, self.width, self.depth, self.beta, seed=self.seeds[i])
        with torch.no_grad():
            for p, w in zip(m.weights, self.weights, strict=True):
                p.copy_(w[i])
            for p, b in zip(m.biases, self.biases, strict=True):
                p.copy_(b[i])
        return m

    def _forward(self, z: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        a = z.to(torch.float64).unsqueeze(0).expand(len(self.seeds), -1, -1)
        acts, pres = [a], []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(
                b[:, None], a, w.transpose(1, 2), beta=self.beta, alpha=1 / math.sqrt(w.shape[2])
            )
            pres.append(h)
            a = torch.relu(h) if i < last else h
            if i < last:
                acts.append(a)
        return a, acts, pres

    def __call__(self, z: Tensor) -> Tensor:
        """Outputs of every member, shape ``(S, m, d_out)``."""
        return self._forward(z)[0]

    def _backward(self, pres: list[Tensor], g: Tensor) -> list[Tensor]:
        """Back-propagate ``g = dL/dF`` (``(S, m, o)`` or ``(S, m, d_out, o)``) to every layer's
        pre-activation; returns ``[dL/dh_1, ..., dL/dh_L]``."""
        deltas = [g]
        for i in range(len(self.weights) - 1, 0, -1):
            w = self.weights[i]
            g0 = deltas[0]
            d = torch.bmm(g0.reshape(g0.shape[0], -1, g0.shape[-1]), w).reshape(
                *g0.shape[:-1], w.shape[2]
            ) / math.sqrt(w.shape[2])
            mask = pres[i - 1] > 0
            if d.ndim == 4:
                mask = mask.unsqueeze(2)
            deltas.insert(0, d * mask)
        return deltas

    def grad(
        self, z: Tensor, target: Tensor, weight: Tensor
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        r"""Loss :math:`\frac{1}{m}\sum_i w_i\|F(z_i)-t_i\|^2` of every member (``(S,)``) and its
        gradients with respect to the weights and biases."""
        out, acts, pres = self._forward(z)
        r = out - target.unsqueeze(0)
        m = z.shape[0]
        loss = (weight[None, :, None] * r**2).sum((1, 2)) / m
        deltas = self._backward(pres, 2.0 * weight[None, :, None] * r / m)
        gw = [
            torch.bmm(d.transpose(1, 2), a) / math.sqrt(a.shape[2])
            for d, a in zip(deltas, acts, strict=True)
        ]
        gb = [self.beta * d.sum(1) for d in deltas]
        return loss, gw, gb

    def ntk(self, z: Tensor) -> Tensor:
        r"""Empirical NTK Gram of every member, ``(S, m d_out, m d_out)`` (row-major: input, then
        output coordinate), by explicit back-propagation of the output basis vectors."""
        _, acts, pres = self._forward(z)
        s, m = len(self.seeds), z.shape[0]
        eye = torch.eye(self.d_out, dtype=torch.float64)
        basis = eye.expand(s, m, self.d_out, self.d_out).clone()  # dF_a/dF for each a
        deltas = self._backward(pres, basis)  # each (S, m, d_out, n_l)
        k = torch.zeros(s, m * self.d_out, m * self.d_out, dtype=torch.float64)
        for d, a in zip(deltas, acts, strict=True):
            bb = torch.einsum("smao,snbo->smanb", d, d)
            aa = torch.einsum("smi,sni->smn", a, a) / a.shape[2] + self.beta**2
            k += (bb * aa[:, :, None, :, None]).reshape(s, m * self.d_out, m * self.d_out)
        return k

    def step(self, gw: list[Tensor], gb: list[Tensor], h: Tensor) -> None:
        """One GD step with per-member step sizes ``h`` (``(S,)``)."""
        hh = h.to(torch.float64)
        for w, g in zip(self.weights, gw, strict=True):
            w -= hh[:, None, None] * g
        for b, g in zip(self.biases, gb, strict=True):
            b -= hh[:, None] * g


@dataclass(frozen=True)
class LazyGD:
    r"""Result of :func:`gd_lazy`, one row per member (seed).

    Parameters
    ----------
    losses:
        :math:`\bar L_k`, ``k = 0..steps``, shape ``(S, steps + 1)``.
    modes:
        Coefficients of :math:`u_k = W^{1/2}r_k` on the eigenvectors of each member's
        :math:`A_0`, shape ``(S, len(steps_kept), M)``.
    steps_kept:
        The steps at which ``modes`` was recorded (every ``record_every``-th).
    eigenvalues:
        Eigenvalues of each member's :math:`A_0`, ascending, shape ``(S, M)``.
    h:
        The step sizes :math:`c/\lambda_{\max}`, shape ``(S,)``.
    kernel_change:
        :math:`\|K_T-K_0\|_F/\|K_0\|_F` after the last step, shape ``(S,)``.
    n_rows:
        :math:`nN`.
    """

    losses: np.ndarray
    modes: np.ndarray
    steps_kept: np.ndarray
    eigenvalues: np.ndarray
    h: np.ndarray
    kernel_change: np.ndarray
    n_rows: int


def gd_lazy(
    ensemble: NTKEnsemble,
    problem: DSMProblem,
    steps: int,
    c: float = 1.0,
    record_every: int = 1,
) -> LazyGD:
    r"""Full-batch GD on :math:`\bar L` at step :math:`h = c/\lambda_{\max}(A_0)`, every member
    at once (float64; ``ensemble`` is trained in place).

    The per-mode residuals are the coefficients of :math:`W^{1/2}(F_\theta - \xi)` on the
    eigenvectors of each member's loss kernel :math:`A_0` at initialisation (:func:`loss_kernel`).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0 < c < 2:
        raise ValueError(f"c must lie in (0, 2) for a contracting step, got {c!r}")
    if not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"record_every must be a positive integer, got {record_every!r}")
    z, xi, w = problem.z, problem.xi, problem.omega
    n_rows, d_out = xi.shape
    omega = w.repeat_interleave(d_out)  # flattened row-major: row, then output
    k0 = ensemble.ntk(z)
    eig = [loss_kernel(k, omega, n_rows) for k in k0]
    lam = torch.stack([e[1] for e in eig])
    vec = torch.stack([e[2] for e in eig])
    h = c / lam[:, -1]
    sw = torch.sqrt(omega)
    kept = np.arange(0, steps + 1, record_every)
    losses = np.empty((len(ensemble.seeds), steps + 1))
    modes = np.empty((len(ensemble.seeds), kept.size, lam.shape[1]))
    j = 0
    for k in range(steps + 1):
        loss, gw, gb = ensemble.grad(z, xi, w)
        losses[:, k] = loss.numpy()
        if k % record_every == 0:
            r = (ensemble(z) - xi.unsqueeze(0)).reshape(len(ensemble.seeds), -1)
            modes[:, j] = torch.einsum("smi,sm->si", vec, sw * r).numpy()
            j += 1
        if k < steps:
            ensemble.step(gw, gb, h)
    kt = ensemble.ntk(z)
    change = torch.linalg.norm(kt - k0, dim=(1, 2)) / torch.linalg.norm(k0, dim=(1, 2))
    return LazyGD(losses, modes, kept, lam.numpy(), h.numpy(), change.numpy(), n_rows)


def predicted_log_rate(eigenvalue: float, h: float) -> float:
    r"""Per-step slope of :math:`\log\bar L_k` when one mode dominates: :math:`2\log|1-h\lambda|`."""
    return 2.0 * math.log(abs(1.0 - h * eigenvalue))


def predicted_loss(
    coeffs0: np.ndarray, eigenvalues: np.ndarray, h: float, n_rows: int, k: np.ndarray
) -> np.ndarray:
    r"""Linearised loss :math:`\frac{1}{nN}\sum_i c_i^2(1-h\lambda_i)^{2k}` at steps ``k``."""
    c2 = np.asarray(coeffs0, dtype=float) ** 2
    f = np.abs(1.0 - h * np.asarray(eigenvalues, dtype=float))
    kk = np.asarray(k, dtype=float)
    return (c2[None, :] * f[None, :] ** (2 * kk[:, None])).sum(1) / n_rows


def relevant_mode(coeffs0: np.ndarray, threshold: float = 1e-10) -> int:
    r"""Index of the smallest eigenvalue whose mode holds at least ``threshold`` of the initial
    residual energy :math:`\sum_i c_i^2` (eigenvalues ascending, as from :func:`loss_kernel`)."""
    c2 = np.asarray(coeffs0, dtype=float) ** 2
    frac = c2 / c2.sum()
    idx = np.nonzero(frac >= threshold)[0]
    if idx.size == 0:
        raise ValueError(f"no mode holds a fraction >= {threshold} of the residual energy")
    return int(idx[0])


def dominance_window(
    coeffs0: np.ndarray,
    eigenvalues: np.ndarray,
    h: float,
    mode: int,
    steps: int,
    share: float = 0.5,
    floor: float = 1e-24,
    slope_tol: float | None = None,
) -> np.ndarray:
    r"""Steps ``k <= steps`` where ``mode`` dominates the *predicted* loss and the predicted loss
    is above ``floor`` times its initial value (clear of float64 round-off).

    "Dominates": the mode holds at least ``share`` of the predicted loss or, with ``slope_tol``,
    the predicted local slope :math:`\log\bar L_{k+1}-\log\bar L_k` is within ``slope_tol``
    (relative) of the mode's own :math:`2\log|1-h\lambda|`. The second form also covers a
    cluster of nearly equal smallest eigenvalues, none of which ever holds half of the loss but
    which decay together at the smallest one's rate.
    """
    c2 = np.asarray(coeffs0, dtype=float) ** 2
    f = np.abs(1.0 - h * np.asarray(eigenvalues, dtype=float))
    k = np.arange(steps + 1)
    terms = c2[None, :] * f[None, :] ** (2 * k[:, None].astype(float))
    total = terms.sum(1)
    if slope_tol is None:
        dominant = terms[:, mode] >= share * total
    else:
        if f[mode] == 0.0:  # a mode that vanishes in one step sets no rate
            return k[:0]
        rate = 2.0 * math.log(f[mode])
        local = np.append(np.diff(np.log(total)), np.nan)
        dominant = np.abs(local - rate) <= slope_tol * abs(rate)
    ok = dominant & (total >= floor * total[0])
    return k[ok]


@dataclass(frozen=True)
class RateTest:
    """Measured and predicted late-window decay rate of one member's loss (see :func:`rate_test`)."""

    measured: float
    predicted: float
    mode: int
    window: np.ndarray
    eigenvalue: float

    @property
    def ratio(self) -> float:
        """Measured over predicted slope of :math:`\\log\\bar L_k` per step."""
        return self.measured / self.predicted


def rate_test(
    result: LazyGD,
    member: int,
    threshold: float = 1e-10,
    slope_tol: float = 0.01,
    floor: float = 1e-24,
) -> RateTest:
    r"""The late-window test of the linearised rate for one member of a :func:`gd_lazy` run.

    Everything but the measured slope comes from the initial residual and the initial kernel,
    before looking at the trained losses. The relevant eigenvalue is the smallest one whose mode
    holds at least ``threshold`` of the initial residual energy (:func:`relevant_mode`) *and*
    sets the predicted decay, to within ``slope_tol``, on at least 5 steps of the run above the
    round-off ``floor`` (:func:`dominance_window`): a slower mode with so little energy that it
    would take over only below the floor is passed over. The measured rate is the least-squares
    slope of :math:`\log\bar L_k` over that window, the predicted one :math:`2\log|1-h\lambda|`.
    Raises if no mode qualifies (run longer).
    """
    lam, h = result.eigenvalues[member], float(result.h[member])
    c0 = result.modes[member, 0]
    steps = result.losses.shape[1] - 1
    i = relevant_mode(c0, threshold)
    win = np.empty(0, dtype=int)
    while i < lam.size:
        if (c0[i] ** 2) >= threshold * float((c0**2).sum()):
            win = dominance_window(c0, lam, h, i, steps, floor=floor, slope_tol=slope_tol)
            if win.size >= 5:
                break
        i += 1
    if win.size < 5:
        raise ValueError(
            f"member {member}: no mode sets the predicted decay on 5 steps or more; run more steps"
        )
    slope = float(np.polyfit(win, np.log(result.losses[member, win]), 1)[0])
    return RateTest(slope, predicted_log_rate(float(lam[i]), h), i, win, float(lam[i]))
