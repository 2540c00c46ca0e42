r"""Explicit constant-depth SignReLU networks that divide, square and multiply exactly.

SignReLU with parameter :math:`a>0` is :math:`\rho(x)=x` for :math:`x\ge 0` and
:math:`a\,x/(1+|x|)` for :math:`x<0` (:class:`companion.nets.SignReLU`). Its rational branch
gives an exact one-neuron reciprocal: for :math:`u\ge 0`, :math:`1+\rho(-u)/a = 1/(1+u)`, so

.. math:: \frac1x = \frac1c\Big(1 + \frac1a\,\rho\big(1 - x/c\big)\Big),\qquad x\ge c>0 .

From it (our constructions, exact in exact arithmetic):

* square on :math:`[l, h]`, :math:`l>0`, with a shift :math:`s>0`:
  :math:`1/x - 1/(x+s) = s/(x(x+s))`, one more reciprocal gives :math:`x(x+s)`, and
  :math:`x^2 = x(x+s) - s x` (depth 2, width 3);
* product of positive numbers by polarisation, :math:`uv = ((u+v)^2-u^2-v^2)/2` (depth 2, width 9);
* ratio :math:`a/b` on :math:`[0,A]\times[\delta,B]` as :math:`(a+1)\cdot(1/b) - 1/b`
  (depth 3, width 10).

Positive intermediate values pass through a layer unchanged because :math:`\rho(x)=x` for
:math:`x\ge0`. All gadgets are :class:`SignReLUNetwork` modules: ordinary ``nn.Linear`` layers with
explicit weights and SignReLU activations, which report their depth, width and largest weight
and refuse inputs outside the domain on which they are exact.

The price of exact division near a vanishing denominator is the weight size: the ratio gadget's
largest weight grows like :math:`\delta^{-2}`. The shift ``"unit"`` (:math:`s=1`) is the textbook
construction; ``"scaled"`` (:math:`s=h`) computes the same function with far less cancellation
in floating point.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._checks import check_finite, check_in, check_positive
from .nets import MLP, SignReLU
from .training import optimise

__all__ = [
    "SignReLUNetwork",
    "reciprocal_network",
    "square_network",
    "product_network",
    "ratio_network",
    "relu_emulation",
    "relu_emulation_sup_error",
    "ratio_grid",
    "ratio_errors",
    "fit_ratio_mlp",
    "reciprocal_knots",
    "relu_reciprocal_network",
    "relu_reciprocal_sup_error",
    "ReLUNetwork",
    "relu_square_network",
    "relu_product_network",
    "reciprocal_relative_error",
    "relu_ratio_network",
    "hinge_network",
    "ratio_approximant",
    "hinge_exact",
    "hinge_magnitude",
    "ratio_approximant_exact",
    "bounded_ratio_grid",
    "DivisionConditioning",
    "division_conditioning",
]

Layer = tuple[Tensor, Tensor]  # (W (out, in), b (out,)), float64


# --------------------------------------------------------------------------------------------
# Affine chains: lists of layers with a SignReLU between consecutive layers
# --------------------------------------------------------------------------------------------
@dataclass
class _Chain:
    """``layers[0] -> rho -> layers[1] -> ... -> layers[-1]`` with exact output ranges."""

    layers: list[Layer]
    out_lo: Tensor  # lower bound of each output on the domain (exact arithmetic)
    out_hi: Tensor

    @property
    def depth(self) -> int:
        return len(self.layers) - 1

    @property
    def in_dim(self) -> int:
        return int(self.layers[0][0].shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.layers[-1][0].shape[0])


def _t(x: Sequence[Sequence[float]] | Sequence[float]) -> Tensor:
    return torch.tensor(x, dtype=torch.float64)


def _identity(lo: Tensor, hi: Tensor, depth: int) -> _Chain:
    """Pass values in ``[lo, hi]`` through ``depth`` SignReLU layers exactly (shifted to be >= 0)."""
    k = lo.numel()
    shift = torch.clamp(-lo, min=0.0)
    eye = torch.eye(k, dtype=torch.float64)
    if depth == 0:
        return _Chain([(eye, torch.zeros(k, dtype=torch.float64))], lo.clone(), hi.clone())
    layers: list[Layer] = [(eye, shift.clone())]
    layers += [(eye.clone(), torch.zeros(k, dtype=torch.float64)) for _ in range(depth - 1)]
    layers.append((eye.clone(), -shift))
    return _Chain(layers, lo.clone(), hi.clone())


def _pad(c: _Chain, depth: int) -> _Chain:
    """Deepen ``c`` to ``depth`` hidden layers by passing its outputs through identity layers."""
    if c.depth >= depth:
        return c
    return _compose(_identity(c.out_lo, c.out_hi, depth - c.depth), c)


def _compose(outer: _Chain, inner: _Chain) -> _Chain:
    """``outer`` after ``inner``: the last affine map of ``inner`` merges into the first of ``outer``."""
    (w_in, b_in), (w_out, b_out) = inner.layers[-1], outer.layers[0]
    merged = (w_out @ w_in, w_out @ b_in + b_out)
    return _Chain(inner.layers[:-1] + [merged] + outer.layers[1:], outer.out_lo, outer.out_hi)


def _pre(c: _Chain, w: Tensor, b: Tensor) -> _Chain:
    """``c`` applied to the affine map ``x -> w x + b`` of the input."""
    w0, b0 = c.layers[0]
    return _Chain([(w0 @ w, w0 @ b + b0)] + c.layers[1:], c.out_lo, c.out_hi)


def _post(c: _Chain, w: Tensor, b: Tensor, lo: Tensor, hi: Tensor) -> _Chain:
    """The affine map ``y -> w y + b`` applied to the output of ``c`` (new range ``[lo, hi]``)."""
    wl, bl = c.layers[-1]
    return _Chain(c.layers[:-1] + [(w @ wl, w @ bl + b)], lo, hi)


def _parallel(chains: list[_Chain]) -> _Chain:
    """Chains on the same input, run side by side; outputs concatenated."""
    depth = max(c.depth for c in chains)
    chains = [_pad(c, depth) for c in chains]
    layers: list[Layer] = []
    for i in range(depth + 1):
        ws = [c.layers[i][0] for c in chains]
        bs = [c.layers[i][1] for c in chains]
        w = torch.cat(ws, 0) if i == 0 else torch.block_diag(*ws)
        layers.append((w, torch.cat(bs)))
    return _Chain(
        layers, torch.cat([c.out_lo for c in chains]), torch.cat([c.out_hi for c in chains])
    )


# --------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------
class SignReLUNetwork(nn.Module):
    r"""A fully connected SignReLU network with explicit weights and a validated input domain.

    ``forward(x)`` computes ``L_D(rho(... rho(L_0 x)))`` with ``nn.Linear`` layers ``L_i``.

    Args:
        layers: ``[(W_0, b_0), ..., (W_D, b_D)]`` with ``W_i`` of shape ``(out, in)``.
        a: SignReLU parameter.
        domain: ``(lo, hi)``, each of shape ``(in_dim,)``: the box on which the network computes
            its target exactly; entries may be infinite.
        name: a label used in reports.

    The properties :attr:`depth`, :attr:`width`, :attr:`max_weight` and :attr:`n_parameters`
    describe the architecture.
    """

    domain_lo: Tensor
    domain_hi: Tensor

    def __init__(
        self,
        layers: list[Layer],
        a: float = 1.0,
        domain: tuple[Tensor, Tensor] | None = None,
        name: str = "signrelu-net",
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("layers must hold at least one (W, b) pair")
        self.a = check_positive("a", a)
        self.name = name
        mods = []
        for i, (w, b) in enumerate(layers):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(
                    f"layer {i}: W must be (out, in) and b (out,), got {tuple(w.shape)} "
                    f"and {tuple(b.shape)}"
                )
            if i > 0 and w.shape[1] != layers[i - 1][0].shape[0]:
                raise ValueError(
                    f"layer {i}: input size {w.shape[1]} does not match the previous "
                    f"output size {layers[i - 1][0].shape[0]}"
                )
            lin = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            lin.requires_grad_(False)
            mods.append(lin)
        self.layers = nn.ModuleList(mods)
        self._linears: list[nn.Linear] = mods
        self.act: nn.Module = SignReLU(self.a)
        in_dim = int(layers[0][0].shape[1])
        if domain is None:
            inf = torch.full((in_dim,), math.inf, dtype=torch.float64)
            domain = (-inf, inf)
        lo, hi = (torch.as_tensor(d, dtype=torch.float64).reshape(in_dim) for d in domain)
        self.register_buffer("domain_lo", lo, persistent=False)
        self.register_buffer("domain_hi", hi, persistent=False)

    @property
    def in_dim(self) -> int:
        """Input size."""
        return int(self._linears[0].in_features)

    @property
    def depth(self) -> int:
        """Number of hidden layers (each followed by SignReLU)."""
        return len(self.layers) - 1

    @property
    def width(self) -> int:
        """Largest hidden width (0 for a network without hidden layer)."""
        return max((int(lin.out_features) for lin in self._linears[:-1]), default=0)

    @property
    def max_weight(self) -> float:
        """Largest absolute weight or bias."""
        return max(
            float(torch.cat([lin.weight.abs().flatten(), lin.bias.abs()]).max())
            for lin in self._linears
        )

    @property
    def n_parameters(self) -> int:
        """Number of non-zero weights and biases."""
        return sum(
            int((lin.weight != 0).sum()) + int((lin.bias != 0).sum()) for lin in self._linears
        )

    def summary(self) -> dict[str, float | int | str]:
        """Depth, width, largest weight and non-zero parameter count as a dict."""
        return {
            "network": self.name,
            "depth": self.depth,
            "width": self.width,
            "max_weight": self.max_weight,
            "n_parameters": self.n_parameters,
        }

    def check_domain(self, x: Tensor) -> None:
        """Raise ``ValueError`` if ``x`` (shape ``(n, in_dim)``) leaves the network's domain."""
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (n, {self.in_dim}), got {tuple(x.shape)}")
        lo, hi = self.domain_lo.to(x), self.domain_hi.to(x)
        tol = 1e-9 * torch.clamp(torch.maximum(lo.abs(), hi.abs()), min=1.0)
        tol = torch.where(torch.isfinite(tol), tol, torch.zeros_like(tol))
        bad = (x < lo - tol) | (x > hi + tol)
        if bool(bad.any()):
            j = int(torch.nonzero(bad.any(0))[0])
            raise ValueError(
                f"x[:, {j}] must lie in [{float(lo[j]):.6g}, {float(hi[j]):.6g}] (the domain on which "
                f"{self.name} is exact); got values in [{float(x[:, j].min()):.6g}, "
                f"{float(x[:, j].max()):.6g}]"
            )

    def forward(self, x: Tensor, check: bool = True) -> Tensor:
        """Evaluate on ``x`` of shape ``(n, in_dim)``; ``check`` validates the domain first."""
        if check:
            self.check_domain(x)
        h = x
        for lin in self._linears[:-1]:
            h = self.act(lin(h))
        return self._linears[-1](h)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, depth={self.depth}, width={self.width}, max_weight={self.max_weight:.3g}"


def _module(
    c: _Chain, a: float, lo: Sequence[float], hi: Sequence[float], name: str
) -> SignReLUNetwork:
    return SignReLUNetwork(c.layers, a=a, domain=(_t(lo), _t(hi)), name=name)


# --------------------------------------------------------------------------------------------
# Gadgets
# --------------------------------------------------------------------------------------------
def _reciprocal(c: float, a: float, hi: float = math.inf) -> _Chain:
    return _Chain(
        [(_t([[-1.0 / c]]), _t([1.0])), (_t([[1.0 / (a * c)]]), _t([1.0 / c]))],
        _t([1.0 / hi if math.isfinite(hi) else 0.0]),
        _t([1.0 / c]),
    )


def reciprocal_network(c: float, a: float = 1.0) -> SignReLUNetwork:
    r"""Exact :math:`1/x` on :math:`[c,\infty)` with one SignReLU neuron:
    :math:`1/x = (1/c)(1 + \rho(1-x/c)/a)`. Depth 1, width 1, largest weight :math:`\max(1/c, 1/(ac))`."""
    c = check_positive("c", c)
    a = check_positive("a", a)
    return _module(_reciprocal(c, a), a, [c], [math.inf], f"reciprocal[c={c:g}]")


def _shift(lo: float, hi: float, shift: str | float) -> float:
    if isinstance(shift, str):
        check_in("shift", shift, ["unit", "scaled"])
        return 1.0 if shift == "unit" else hi
    return check_positive("shift", shift)


def _square(lo: float, hi: float, shift: str | float, a: float) -> _Chain:
    s = _shift(lo, hi, shift)
    c2 = s / (hi * (hi + s))  # floor of y = 1/x - 1/(x+s) on [lo, hi]
    w0 = _t([[-1.0 / lo], [-1.0 / (lo + s)], [1.0]])
    b0 = _t([1.0, lo / (lo + s), 0.0])
    # y = (1 + n1/a)/lo - (1 + n2/a)/(lo + s); hidden 2: m1 = rho(1 - y/c2), m2 = rho(x) = x
    w1 = _t([[-1.0 / (a * lo * c2), 1.0 / (a * (lo + s) * c2), 0.0], [0.0, 0.0, 1.0]])
    b1 = _t([1.0 - (1.0 / lo - 1.0 / (lo + s)) / c2, 0.0])
    # x(x+s) = s/y = (s/c2)(1 + m1/a);  x^2 = x(x+s) - s x
    w2 = _t([[s / (a * c2), -s]])
    b2 = _t([s / c2])
    return _Chain([(w0, b0), (w1, b1), (w2, b2)], _t([lo**2]), _t([hi**2]))


def _check_interval(name: str, lo: float, hi: float) -> tuple[float, float]:
    lo = check_positive(f"{name} lower end", lo)
    hi = check_positive(f"{name} upper end", hi)
    if not math.isfinite(hi) or hi <= lo:
        raise ValueError(
            f"{name} must be a finite interval [lo, hi] with 0 < lo < hi, got [{lo}, {hi}]"
        )
    return lo, hi


def square_network(
    lo: float, hi: float, shift: str | float = "scaled", a: float = 1.0
) -> SignReLUNetwork:
    r"""Exact :math:`x^2` on :math:`[lo, hi]`, :math:`lo>0`: two reciprocal layers.

    :math:`y = 1/x - 1/(x+s) = s/(x(x+s))` (layer 1, three neurons: two reciprocals and a
    pass-through of :math:`x`), then :math:`x^2 = s/y - s x` (layer 2, one reciprocal with floor
    :math:`s/(hi(hi+s))` and the pass-through). ``shift``: ``"unit"`` (:math:`s=1`),
    ``"scaled"`` (:math:`s=hi`, much less cancellation) or a positive number.
    """
    lo, hi = _check_interval("square domain", lo, hi)
    a = check_positive("a", a)
    return _module(_square(lo, hi, shift, a), a, [lo], [hi], f"square[{lo:g},{hi:g}]")


def _product(
    u: tuple[float, float], v: tuple[float, float], shift: str | float, a: float
) -> _Chain:
    s_uv = _pre(_square(u[0] + v[0], u[1] + v[1], shift, a), _t([[1.0, 1.0]]), _t([0.0]))
    s_u = _pre(_square(u[0], u[1], shift, a), _t([[1.0, 0.0]]), _t([0.0]))
    s_v = _pre(_square(v[0], v[1], shift, a), _t([[0.0, 1.0]]), _t([0.0]))
    par = _parallel([s_uv, s_u, s_v])
    return _post(par, _t([[0.5, -0.5, -0.5]]), _t([0.0]), _t([u[0] * v[0]]), _t([u[1] * v[1]]))


def product_network(
    u_range: tuple[float, float],
    v_range: tuple[float, float],
    shift: str | float = "scaled",
    a: float = 1.0,
) -> SignReLUNetwork:
    r"""Exact :math:`uv` for :math:`u, v` in positive intervals, by polarisation
    :math:`uv = ((u+v)^2 - u^2 - v^2)/2` with three :func:`square_network` blocks in parallel
    (depth 2, width 9)."""
    u = _check_interval("u_range", *u_range)
    v = _check_interval("v_range", *v_range)
    a = check_positive("a", a)
    return _module(_product(u, v, shift, a), a, [u[0], v[0]], [u[1], v[1]], "product")


def ratio_network(
    delta: float,
    a_max: float = 1.0,
    b_max: float = 1.0,
    shift: str | float = "scaled",
    a: float = 1.0,
    scale: str = "raw",
) -> SignReLUNetwork:
    r"""Exact :math:`p/q` on :math:`[0, A]\times[\delta, B]` as :math:`(p+1)\cdot(1/q) - 1/q`.

    Layer 1 computes :math:`u = p+1` (pass-through) and :math:`v = 1/q` (one reciprocal neuron
    with floor :math:`\delta`); layers 2-3 are the product gadget on
    :math:`[1, A+1]\times[1/B, 1/\delta]` next to a pass-through of :math:`v`. Depth 3, width 10.

    Args:
        delta: floor of the denominator, ``0 < delta < b_max``.
        a_max, b_max: upper ends of the numerator and denominator ranges.
        shift: shift of the square gadgets (see :func:`square_network`).
        a: SignReLU parameter.
        scale: ``"raw"`` multiplies :math:`p+1` by :math:`v=1/q\le 1/\delta`, so the square of
            :math:`u+v` lives on an interval of length :math:`\approx 1/\delta` and the largest
            weight grows like :math:`\delta^{-2}`; ``"normalised"`` multiplies by
            :math:`v=\delta/q\in[\delta/B, 1]` and divides by :math:`\delta` in the last affine
            map: every square stays on an :math:`O(1)` interval and the largest weight grows
            like :math:`\delta^{-1}` only.
    """
    delta = check_positive("delta", delta)
    a_max = check_positive("a_max", a_max)
    b_max = check_positive("b_max", b_max)
    a = check_positive("a", a)
    if delta >= b_max:
        raise ValueError(f"delta must be < b_max, got delta={delta}, b_max={b_max}")
    if isinstance(scale, str):
        check_in("scale", scale, ["raw", "normalised"])
    else:
        raise ValueError(f"scale must be 'raw' or 'normalised', got {scale!r}")
    return _module(
        _ratio_chain(delta, a_max, b_max, shift, a, scale),
        a,
        [0.0, delta],
        [a_max, b_max],
        f"ratio[delta={delta:g}]" + ("" if scale == "raw" else ",normalised"),
    )


def _ratio_chain(
    delta: float, a_max: float, b_max: float, shift: str | float, a: float, scale: str = "raw"
) -> _Chain:
    # "normalised": v = delta/q in [delta/B, 1] keeps every square on an O(1) interval; the
    # product is multiplied by 1/delta only in the last affine map.
    k = delta if scale == "normalised" else 1.0
    # stage 1: (p, q) -> (p + 1, k/q)
    u = _pre(
        _post(
            _identity(_t([0.0]), _t([a_max]), 1),
            _t([[1.0]]),
            _t([1.0]),
            _t([1.0]),
            _t([a_max + 1.0]),
        ),
        _t([[1.0, 0.0]]),
        _t([0.0]),
    )
    rec = _reciprocal(delta, a, b_max)
    rec = _post(rec, _t([[k]]), _t([0.0]), k * rec.out_lo, k * rec.out_hi)
    v = _pre(rec, _t([[0.0, 1.0]]), _t([0.0]))
    stage1 = _parallel([u, v])
    # stage 2: (u, v) -> (u v, v) -> (u v - v)/k
    prod = _product((1.0, a_max + 1.0), (k / b_max, k / delta), shift, a)
    keep_v = _pre(_identity(_t([k / b_max]), _t([k / delta]), 0), _t([[0.0, 1.0]]), _t([0.0]))
    stage2 = _post(
        _parallel([prod, keep_v]),
        _t([[1.0 / k, -1.0 / k]]),
        _t([0.0]),
        _t([0.0]),
        _t([a_max / delta]),
    )
    return _compose(stage2, stage1)


def relu_emulation(M: float, a: float = 1.0) -> SignReLUNetwork:
    r"""The one-neuron network :math:`x \mapsto \rho(Mx)/M`, which equals ReLU for :math:`x\ge0` and
    is :math:`a x/(1+M|x|)` for :math:`x<0` (sup error :math:`a/M` on the real line)."""
    M = check_positive("M", M)
    a = check_positive("a", a)
    return SignReLUNetwork(
        [(_t([[M]]), _t([0.0])), (_t([[1.0 / M]]), _t([0.0]))], a=a, name=f"relu-emulation[M={M:g}]"
    )


def relu_emulation_sup_error(M: float, R: float, a: float = 1.0) -> float:
    r"""Closed form :math:`\sup_{|x|\le R}|\rho(Mx)/M - \max(x,0)| = aR/(1+MR)` (:math:`\to a/M`)."""
    M, R, a = check_positive("M", M), check_positive("R", R), check_positive("a", a)
    return a * R / (1.0 + M * R)


# --------------------------------------------------------------------------------------------
# Evaluation and trained baselines
# --------------------------------------------------------------------------------------------
def ratio_grid(delta: float, n: int = 201, b_max: float = 1.0) -> Tensor:
    """Evaluation points on :math:`[0,1]\\times[\\delta, B]`: ``n`` uniform numerators times ``n``
    log-spaced denominators, shape ``(n*n, 2)``, float64."""
    delta = check_positive("delta", delta)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    p = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    q = torch.exp(torch.linspace(math.log(delta), math.log(b_max), n, dtype=torch.float64))
    q[0], q[-1] = delta, b_max
    pp, qq = torch.meshgrid(p, q, indexing="ij")
    return torch.stack([pp.flatten(), qq.flatten()], dim=-1)


def ratio_errors(pred: Tensor, x: Tensor) -> dict[str, float]:
    r"""Errors of a prediction of :math:`p/q` at points ``x`` (shape ``(n, 2)``), in float64.

    Returns ``sup`` and ``rms`` errors normalised by :math:`\sup|p/q|`, and the ``sup_rel``
    pointwise relative error where :math:`p/q \ge 0.1\sup|p/q|`.
    """
    target = x[:, 0] / x[:, 1]
    err = (pred.reshape(-1).to(torch.float64) - target).abs()
    scale = float(target.abs().max())
    big = target >= 0.1 * scale
    return {
        "sup": float(err.max()) / scale,
        "rms": float(err.pow(2).mean().sqrt()) / scale,
        "sup_rel": float((err[big] / target[big]).max()),
    }


def fit_ratio_mlp(
    delta: float,
    activation: str = "relu",
    width: int = 64,
    depth: int = 3,
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 1024,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> MLP:
    r"""Train an MLP on :math:`(p, q) \mapsto p/q` over :math:`[0,1]\times[\delta,1]` (the baseline).

    Denominators are drawn log-uniformly (so small ones are seen), numerators uniformly; the
    inputs given to the network are :math:`(p, q)` themselves. The loss is the squared error
    normalised by :math:`\delta^{-2}` (the target's scale); Adam with cosine decay
    (:func:`companion.training.optimise`), float32.
    The initialisation is seeded by ``seed``.
    """
    delta = check_positive("delta", delta)
    if delta >= 1:
        raise ValueError(f"delta must be < 1, got {delta}")
    torch.manual_seed(seed)
    net = MLP(2, 1, width, depth, activation).to(device)
    gen = torch.Generator().manual_seed(seed)

    def loss() -> Tensor:
        p = torch.rand(batch_size, generator=gen)
        q = torch.exp(math.log(delta) * torch.rand(batch_size, generator=gen))
        x = torch.stack([p, q], -1).to(device)
        return ((net(x).squeeze(-1) - x[:, 0] / x[:, 1]) * delta).pow(2).mean()

    optimise(net.parameters(), loss, steps, lr, cosine=True)
    return net.eval()


# --------------------------------------------------------------------------------------------
# The ReLU rival in its best known form: piecewise-linear reciprocals (training-free)
# --------------------------------------------------------------------------------------------
def reciprocal_knots(delta: float, K: int, b_max: float = 1.0, placement: str = "free") -> Tensor:
    r"""``K + 1`` increasing knots on :math:`[\delta, B]` for a piecewise-linear :math:`1/b`.

    ``placement``: ``"free"`` (uniform in :math:`b^{-1/2}`: every piece of the interpolant then
    has the same sup error, the best free-knot interpolant of the convex :math:`1/b`),
    ``"geometric"`` (uniform in :math:`\log b`) or ``"uniform"`` (uniform in :math:`b`).
    """
    delta = check_positive("delta", delta)
    b_max = check_positive("b_max", b_max)
    if delta >= b_max:
        raise ValueError(f"delta must be < b_max, got delta={delta}, b_max={b_max}")
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    check_in("placement", placement, ["free", "geometric", "uniform"])
    s = torch.linspace(0.0, 1.0, K + 1, dtype=torch.float64)
    if placement == "free":
        r0, r1 = delta**-0.5, b_max**-0.5
        knots = (r0 + (r1 - r0) * s) ** -2
    elif placement == "geometric":
        knots = torch.exp(math.log(delta) + (math.log(b_max) - math.log(delta)) * s)
    else:
        knots = delta + (b_max - delta) * s
    knots[0], knots[-1] = delta, b_max
    return knots


def _piece_errors(knots: Tensor) -> Tensor:
    # sup of (chord - 1/b) on [u, v]: attained at sqrt(uv), equal to (u^-1/2 - v^-1/2)^2
    return (knots[:-1].rsqrt() - knots[1:].rsqrt()) ** 2


def relu_reciprocal_network(
    delta: float, K: int, b_max: float = 1.0, placement: str = "free"
) -> nn.Sequential:
    r"""A one-hidden-layer ReLU network of width ``K`` approximating :math:`1/b` on :math:`[\delta, B]`.

    It is the piecewise-linear interpolant of :math:`1/b` at :func:`reciprocal_knots`, written
    exactly as :math:`f(b_0) - e/2 + \sum_{j<K} c_j\,\mathrm{ReLU}(b - b_j)` (:math:`c_0` the
    first slope, :math:`c_j` the slope changes), shifted down by half the largest piece error
    :math:`e` so that the error has both signs. Its sup error is :math:`e/2`
    (:func:`relu_reciprocal_sup_error`). Float64.
    """
    knots = reciprocal_knots(delta, K, b_max, placement)
    vals = 1.0 / knots
    slopes = (vals[1:] - vals[:-1]) / (knots[1:] - knots[:-1])
    coef = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])
    hidden = nn.Linear(1, K, dtype=torch.float64)
    out = nn.Linear(K, 1, dtype=torch.float64)
    with torch.no_grad():
        hidden.weight.copy_(torch.ones(K, 1, dtype=torch.float64))
        hidden.bias.copy_(-knots[:-1])
        out.weight.copy_(coef[None, :])
        out.bias.copy_(vals[:1] - 0.5 * _piece_errors(knots).max())
    return nn.Sequential(hidden, nn.ReLU(), out).requires_grad_(False)


def relu_reciprocal_sup_error(
    delta: float, K: int, b_max: float = 1.0, placement: str = "free"
) -> float:
    r"""Sup error of :func:`relu_reciprocal_network` on :math:`[\delta, B]`: half the largest
    :math:`(b_j^{-1/2} - b_{j+1}^{-1/2})^2`; for free knots
    :math:`(\delta^{-1/2} - B^{-1/2})^2/(2K^2)`, i.e. relative to :math:`\sup 1/b = 1/\delta`,
    :math:`(1-\sqrt{\delta/B})^2/(2K^2) < 1/(2K^2)` for every :math:`\delta`."""
    return 0.5 * float(_piece_errors(reciprocal_knots(delta, K, b_max, placement)).max())


# --------------------------------------------------------------------------------------------
# Deep ReLU rivals (training-free): Yarotsky's sawtooth square, product and a ReLU division
# --------------------------------------------------------------------------------------------
class ReLUNetwork(SignReLUNetwork):
    """A :class:`SignReLUNetwork` with ReLU activations instead (same layers, domain and report)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.act = nn.ReLU()


def _relu_square(m: int) -> _Chain:
    # Yarotsky (2017): x^2 ~ f_m(x) = x - sum_{s<=m} g_s(x)/4^s on [0, 1], g_s the s-fold
    # composition of the hat g(x) = 2x - 4 ReLU(x - 1/2); 0 <= f_m - x^2 <= 4^-(m+1).
    # Hidden layer k holds ReLU(g_{k-1}), ReLU(g_{k-1} - 1/2), ReLU(acc_{k-1}), all >= 0.
    first = (_t([[1.0], [1.0], [1.0]]), _t([0.0, -0.5, 0.0]))
    spread = _t([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # (g, acc) -> (g, g, acc)
    layers: list[Layer] = [first]
    for k in range(1, m + 1):
        to_state = _t([[2.0, -4.0, 0.0], [-2.0 / 4**k, 4.0 / 4**k, 1.0]])  # (g_k, acc_k)
        if k < m:
            layers.append((spread @ to_state, _t([0.0, -0.5, 0.0])))
        else:
            layers.append((to_state[1:], _t([0.0])))
    return _Chain(layers, _t([0.0]), _t([1.0]))


def _check_levels(m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"m (sawtooth levels) must be a positive integer, got {m!r}")
    return m


def relu_square_network(m: int) -> ReLUNetwork:
    r"""Yarotsky's deep ReLU square on :math:`[0,1]`: depth ``m``, width 3, error
    :math:`0\le f_m(x)-x^2\le 4^{-m-1}`."""
    m = _check_levels(m)
    return ReLUNetwork(
        _relu_square(m).layers, domain=(_t([0.0]), _t([1.0])), name=f"relu-square[m={m}]"
    )


def _relu_product(m: int) -> _Chain:
    sq = [
        _pre(_relu_square(m), _t([[0.5, 0.5]]), _t([0.0])),
        _pre(_relu_square(m), _t([[1.0, 0.0]]), _t([0.0])),
        _pre(_relu_square(m), _t([[0.0, 1.0]]), _t([0.0])),
    ]
    # uv = 2((u+v)/2)^2 - u^2/2 - v^2/2; error in [-4^-(m+1), 2 * 4^-(m+1)]
    return _post(_parallel(sq), _t([[2.0, -0.5, -0.5]]), _t([0.0]), _t([0.0]), _t([1.0]))


def relu_product_network(m: int) -> ReLUNetwork:
    r"""Deep ReLU product :math:`uv` on :math:`[0,1]^2` by polarisation of three Yarotsky squares:
    depth ``m``, width 9, sup error at most :math:`2\cdot4^{-m-1}`."""
    m = _check_levels(m)
    return ReLUNetwork(
        _relu_product(m).layers,
        domain=(_t([0.0, 0.0]), _t([1.0, 1.0])),
        name=f"relu-product[m={m}]",
    )


def reciprocal_relative_error(delta: float, K: int, b_max: float = 1.0) -> float:
    r"""Sup *relative* error of the rescaled geometric-knot interpolant of :math:`1/b` used by
    :func:`relu_ratio_network`: with ratio :math:`r=(B/\delta)^{1/K}` between knots the chord
    exceeds :math:`1/b` by at most a factor :math:`1+e`, :math:`e=(r-1)^2/(4r)`, and scaling by
    :math:`1/(1+e/2)` balances the error to :math:`(e/2)/(1+e/2)\approx\log^2(B/\delta)/(8K^2)`."""
    knots = reciprocal_knots(delta, K, b_max, "geometric")
    r = float(knots[1] / knots[0])
    e = (r - 1.0) ** 2 / (4.0 * r)
    return (e / 2.0) / (1.0 + e / 2.0)


def relu_ratio_network(
    delta: float, K: int, m: int, b_max: float = 1.0, clip: float | None = None
) -> ReLUNetwork:
    r"""A deep ReLU network for :math:`p/q` on :math:`[0,1]\times[\delta,B]` (training-free).

    Layer 1: :math:`v=\delta\,c\,\hat r(q)`, with :math:`\hat r` the piecewise-linear interpolant
    of :math:`1/q` at ``K + 1`` geometric knots (the best placement for *relative* error) and
    :math:`c=1/(1+e/2)` balancing its relative error (:func:`reciprocal_relative_error`), next to
    a pass-through of :math:`p`; then :math:`v` and :math:`p` pass one ReLU layer and enter the
    Yarotsky product with ``m`` levels (:func:`relu_product_network`); the last affine map
    divides by :math:`\delta`. On :math:`\{p\le Cq\}` the error is at most
    :math:`C\,\epsilon_{\rm rel}(K) + 2\cdot4^{-m-1}/\delta`. Depth ``m + 2``, width
    ``max(K + 1, 9)``.

    ``clip=C`` appends one hidden layer of two ReLUs, :math:`y\mapsto\mathrm{ReLU}(y)-
    \mathrm{ReLU}(y-C)`, which clips the output to the known range :math:`[0, C]` of the
    ratio on :math:`\{p\le Cq\}` (depth ``m + 3``); it can only reduce the error there.
    """
    delta = check_positive("delta", delta)
    b_max = check_positive("b_max", b_max)
    m = _check_levels(m)
    knots = reciprocal_knots(delta, K, b_max, "geometric")
    vals = 1.0 / knots
    slopes = (vals[1:] - vals[:-1]) / (knots[1:] - knots[:-1])
    coef = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])
    c = 1.0 - reciprocal_relative_error(delta, K, b_max)  # = 1/(1 + e/2)
    # hidden 1: ReLU(p), ReLU(q - b_j) for j < K
    w0 = torch.zeros(K + 1, 2, dtype=torch.float64)
    w0[0, 0] = 1.0
    w0[1:, 1] = 1.0
    b0 = torch.cat([_t([0.0]), -knots[:-1]])
    # to (p, v) with v = delta c (1/delta + sum_j coef_j ReLU(q - b_j)) in [0, 1]
    w1 = torch.zeros(2, K + 1, dtype=torch.float64)
    w1[0, 0] = 1.0
    w1[1, 1:] = delta * c * coef
    b1 = _t([0.0, c])  # delta * c * (1/delta)
    stage1 = _Chain([(w0, b0), (w1, b1)], _t([0.0, 0.0]), _t([1.0, 1.0]))
    # one pass-through layer keeps (p, v) as two neurons, so the product does not densify
    stage1 = _compose(_identity(_t([0.0, 0.0]), _t([1.0, 1.0]), 1), stage1)
    prod = _post(_relu_product(m), _t([[1.0 / delta]]), _t([0.0]), _t([0.0]), _t([1.0 / delta]))
    chain = _compose(prod, stage1)
    name = f"relu-ratio[K={K},m={m}]"
    if clip is not None:
        clip = check_positive("clip", clip)
        lo, hi = chain.out_lo, chain.out_hi
        clipper = _Chain(
            [(_t([[1.0], [1.0]]), _t([0.0, -clip])), (_t([[1.0, -1.0]]), _t([0.0]))],
            torch.zeros_like(lo),
            torch.full_like(hi, clip),
        )
        chain = _compose(clipper, chain)
        name = f"relu-ratio[K={K},m={m},clip={clip:g}]"
    return ReLUNetwork(chain.layers, domain=(_t([0.0, delta]), _t([1.0, b_max])), name=name)


# --------------------------------------------------------------------------------------------
# Hinge approximants and the training-free ratio approximant
# --------------------------------------------------------------------------------------------
def _hinge_chain(knots: Tensor, values: Tensor, M: float | None, a: float) -> _Chain:
    # f_0 + sum_j c_j phi(x - x_j), phi = ReLU (M None) or rho(M .)/M; neuron 0 sees x - x_0 >= 0
    x = torch.as_tensor(knots, dtype=torch.float64).reshape(-1)
    f = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if x.numel() < 2 or f.shape != x.shape:
        raise ValueError(
            f"knots and values must be 1-D of equal length >= 2, got {tuple(x.shape)}, {tuple(f.shape)}"
        )
    if not bool((x[1:] > x[:-1]).all()):
        raise ValueError("knots must be strictly increasing")
    if not bool(torch.isfinite(f).all()):
        raise ValueError("values must be finite")
    s = (f[1:] - f[:-1]) / (x[1:] - x[:-1])
    coef = torch.cat([s[:1], s[1:] - s[:-1]])
    g = 1.0 if M is None else M
    w0 = torch.full((x.numel() - 1, 1), g, dtype=torch.float64)
    b0 = -g * x[:-1]
    w1 = (coef / g)[None, :]
    b1 = f[:1].clone()
    return _Chain([(w0, b0), (w1, b1)], f.min().reshape(1), f.max().reshape(1))


def hinge_network(
    knots: Tensor, values: Tensor, M: float | None = None, a: float = 1.0
) -> SignReLUNetwork:
    r"""One hidden layer of width ``n`` (``n + 1`` knots) for the piecewise-linear interpolant of
    ``values`` at ``knots``: :math:`f_0+\sum_{j<n}c_j\,\phi(x-x_j)` with :math:`c_j` the slope
    changes.

    ``M=None`` gives a :class:`ReLUNetwork` with :math:`\phi=\mathrm{ReLU}` (the interpolant,
    exactly); a number ``M`` gives a SignReLU network with :math:`\phi(z)=\rho(Mz)/M`, which
    equals :math:`z` for :math:`z\ge0` and lies in :math:`(-a/M, 0]` for :math:`z<0`, so it
    differs from the interpolant by at most :math:`(a/M)\sum_{j\ge1}|c_j|`. Domain
    :math:`[x_0, x_n]`.
    """
    if M is not None:
        M = check_positive("M", M)
    a = check_positive("a", a)
    c = _hinge_chain(knots, values, M, a)
    x = torch.as_tensor(knots, dtype=torch.float64).reshape(-1)
    cls = ReLUNetwork if M is None else SignReLUNetwork
    net = cls(c.layers, a=a, domain=(x[:1], x[-1:]), name=f"hinge[n={x.numel() - 1}]")
    return net


def ratio_approximant(
    knots: Tensor,
    f1_values: Tensor,
    f2_values: Tensor,
    M: float,
    delta: float,
    a_max: float,
    b_max: float,
    a: float = 1.0,
) -> SignReLUNetwork:
    r"""A single SignReLU network for :math:`f_1/f_2` on :math:`[x_0, x_n]`, without training.

    Layer 1: the hinge approximants :math:`\hat f_1,\hat f_2` (:func:`hinge_network` with
    emulation parameter ``M``, width ``2n``). Layer 2 clips them into the division network's
    domain with :math:`c+\rho(M(\cdot-c))/M` at :math:`c=\mathrm{lo}+a/M` (lo is 0 for
    :math:`\hat f_1`, ``delta`` for :math:`\hat f_2`): its output is at least lo everywhere
    and equals its input exactly wherever the input is at least :math:`c`, so an input in range
    passes with no offset (an earlier version added :math:`a/M` to both inputs everywhere, a
    bias the division amplified by :math:`1/f_2`); below :math:`c` it moves by less than
    :math:`a/M`. Layers 3-5: the exact division network (``scale="normalised"``) on
    :math:`[0, A]\times[\delta, B]`. Depth 5, width ``max(2n, 10)``.

    Needs :math:`f_1\ge0` (shift the numerator first; keep it above :math:`a/M` for an exact
    pass-through; likewise :math:`\hat f_2\ge` ``delta`` :math:`+a/M`, automatic once
    :math:`a/M` is below ``delta``) and ``delta`` below :math:`\inf f_2`; the
    upper ends ``a_max`` and ``b_max`` must bound the approximants (checked on evaluation only
    through the final output's exactness, so give them a margin).
    """
    M = check_positive("M", M)
    a = check_positive("a", a)
    delta = check_positive("delta", delta)
    a_max = check_positive("a_max", a_max)
    b_max = check_positive("b_max", b_max)
    if float(torch.as_tensor(f1_values).min()) < 0:
        raise ValueError("f1_values must be >= 0 (shift the numerator first)")
    if float(torch.as_tensor(f2_values).min()) <= delta:
        raise ValueError(f"f2_values must exceed delta={delta} at every knot")
    if (
        float(torch.as_tensor(f1_values).max()) >= a_max
        or float(torch.as_tensor(f2_values).max()) >= b_max
    ):
        raise ValueError("a_max and b_max must exceed the largest f1 and f2 values")
    h = _parallel([_hinge_chain(knots, f1_values, M, a), _hinge_chain(knots, f2_values, M, a)])
    lo = _t([0.0, delta])
    # c + rho(M(x - c))/M with c = lo + a/M: equals x for x >= c (no offset there) and lies in
    # (lo, c) below c, so the division network's domain is respected
    c = lo + a / M
    clip = _Chain(
        [
            (torch.diag(_t([M, M])), -M * c),
            (torch.diag(_t([1.0 / M, 1.0 / M])), c),
        ],
        lo,
        _t([a_max, b_max]),
    )
    div = _ratio_chain(delta, a_max, b_max, "scaled", a, "normalised")
    chain = _compose(div, _compose(clip, h))
    x = torch.as_tensor(knots, dtype=torch.float64).reshape(-1)
    return SignReLUNetwork(
        chain.layers,
        a=a,
        domain=(x[:1], x[-1:]),
        name=f"ratio-approximant[n={x.numel() - 1},M={M:g}]",
    )


def _hinge_coefficients(knots: Tensor, values: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Validated knots, values and slope changes ``c_j`` of the hinge network (see
    :func:`hinge_network`)."""
    _hinge_chain(knots, values, None, 1.0)  # validation only
    x = torch.as_tensor(knots, dtype=torch.float64).reshape(-1)
    f = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    s = (f[1:] - f[:-1]) / (x[1:] - x[:-1])
    return x, f, torch.cat([s[:1], s[1:] - s[:-1]])


def _eval_points(x: Tensor, lo: float, hi: float) -> Tensor:
    xe = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    check_finite("x", xe)
    tol = 1e-9 * max(1.0, abs(lo), abs(hi))
    if bool((xe < lo - tol).any()) or bool((xe > hi + tol).any()):
        raise ValueError(f"x must lie in the knots' range [{lo:.6g}, {hi:.6g}]")
    return xe


def hinge_exact(
    knots: Tensor, values: Tensor, x: Tensor, M: float | None = None, a: float = 1.0
) -> Tensor:
    r"""The function that :func:`hinge_network` ``(knots, values, M, a)`` computes, evaluated at
    ``x`` as in exact arithmetic (to a few units of round-off relative to its value).

    The network sums :math:`f_0+\sum_j c_j\phi(x-x_j)`, terms far larger than the result where
    the values are small (its float round-off is of order :math:`\epsilon` times
    :func:`hinge_magnitude`). Here the same function is written without that cancellation: the
    piecewise-linear interpolant on the knot interval of ``x``, :math:`(1-w)f_j+wf_{j+1}`, plus
    the emulation term :math:`\sum_{x_j>x}c_j\,a(x-x_j)/(1+M|x-x_j|)` (the neurons right of
    ``x``, whose outputs :math:`\rho(Mz)/M` are not zero; absent for ``M=None``), which is at
    most :math:`(a/M)\sum_j|c_j|` in size. ``x`` must lie in ``[x_0, x_n]``.
    """
    if M is not None:
        M = check_positive("M", M)
    a = check_positive("a", a)
    xk, f, coef = _hinge_coefficients(knots, values)
    xe = _eval_points(x, float(xk[0]), float(xk[-1]))
    n = xk.numel() - 1
    j = torch.clamp(torch.searchsorted(xk, xe, right=True) - 1, 0, n - 1)
    w = ((xe - xk[j]) / (xk[j + 1] - xk[j])).clamp(0.0, 1.0)
    out = (1 - w) * f[j] + w * f[j + 1]
    if M is None:
        return out
    em = torch.empty_like(xe)
    for s in range(0, xe.numel(), 1024):  # chunks keep the (points x knots) matrix small
        z = xe[s : s + 1024, None] - xk[None, :-1]
        phi = torch.where(z < 0, a * z / (1 + M * z.abs()), torch.zeros_like(z))
        em[s : s + 1024] = phi @ coef
    return out + em


def hinge_magnitude(knots: Tensor, values: Tensor, x: Tensor) -> Tensor:
    r"""The size of the terms :func:`hinge_network` sums at ``x``,
    :math:`|f_0|+\sum_j|c_j|\,(x-x_j)_+`: its float round-off is of order the machine epsilon
    times this, whatever the size of the result."""
    xk, f, coef = _hinge_coefficients(knots, values)
    xe = _eval_points(x, float(xk[0]), float(xk[-1]))
    out = torch.empty_like(xe)
    for s in range(0, xe.numel(), 1024):
        z = (xe[s : s + 1024, None] - xk[None, :-1]).clamp(min=0.0)
        out[s : s + 1024] = f[0].abs() + z @ coef.abs()
    return out


def ratio_approximant_exact(
    knots: Tensor,
    f1_values: Tensor,
    f2_values: Tensor,
    M: float,
    delta: float,
    x: Tensor,
    a: float = 1.0,
) -> Tensor:
    r"""The function that :func:`ratio_approximant` computes, evaluated at ``x`` as in exact
    arithmetic: the hinge outputs by :func:`hinge_exact`, the clipping layer
    :math:`c+\rho(M(h-c))/M` in closed form, and the division network replaced by the division
    it computes exactly on its domain, by construction (the chapter's E1.1a checks the float64
    network against that division to within its round-off scale). What the
    float64 network adds to this is its own round-off and the rounding of its weights.
    """
    M = check_positive("M", M)
    a = check_positive("a", a)
    delta = check_positive("delta", delta)
    h1 = hinge_exact(knots, f1_values, x, M, a)
    h2 = hinge_exact(knots, f2_values, x, M, a)

    def clip(h: Tensor, lo: float) -> Tensor:
        c = lo + a / M
        z = M * (h - c)
        return c + torch.where(z >= 0, z, a * z / (1 + z.abs())) / M

    return clip(h1, 0.0) / clip(h2, delta)


def bounded_ratio_grid(delta: float, n_b: int = 801, n_s: int = 21, c: float = 1.0) -> Tensor:
    r"""Points of :math:`\{(a, b): 0\le a\le c\,b,\ \delta\le b\le 1\}`, where :math:`a/b\in[0,c]`:
    ``n_b`` log-spaced denominators times ``n_s`` uniform fractions :math:`a/(cb)`, shape
    ``(n_b*n_s, 2)``, float64."""
    delta = check_positive("delta", delta)
    c = check_positive("c", c)
    if delta >= 1:
        raise ValueError(f"delta must be < 1, got {delta}")
    b = torch.exp(torch.linspace(math.log(delta), 0.0, n_b, dtype=torch.float64))
    b[0], b[-1] = delta, 1.0
    s = torch.linspace(0.0, 1.0, n_s, dtype=torch.float64)
    bb, ss = torch.meshgrid(b, s, indexing="ij")
    return torch.stack([(c * bb * ss).flatten(), bb.flatten()], dim=-1).clamp(max=1.0)


# --------------------------------------------------------------------------------------------
# Conditioning of the exact division under perturbed inputs (training-free)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DivisionConditioning:
    r"""Errors of a division network fed perturbed inputs, per point (all float64 tensors):
    ``error`` :math:`=|N(f_1+e_1, f_2+e_2) - f_1/f_2|`, the network's error on the perturbed input
    (the network evaluated in the requested precision); ``exact``
    :math:`=|(f_1+e_1)/(f_2+e_2) - f_1/f_2|`, the error of an exact division; ``bound``, the
    first-order conditioning bound :math:`(|e_1| + |f_1/f_2|\,|e_2|)/f_2`; ``bound2``, the bound
    with its second-order remainder, :math:`(|e_1| + |f_1/f_2|\,|e_2|)/(f_2-|e_2|)`, which the exact
    error never exceeds; ``roundoff`` :math:`=|N(f_1+e_1, f_2+e_2) - (f_1+e_1)/(f_2+e_2)|`, the
    network's own error."""

    error: Tensor
    exact: Tensor
    bound: Tensor
    bound2: Tensor
    roundoff: Tensor


def division_conditioning(
    net: SignReLUNetwork,
    f1: Tensor,
    f2: Tensor,
    e1: Tensor,
    e2: Tensor,
    dtype: torch.dtype = torch.float64,
) -> DivisionConditioning:
    r"""Feed :math:`(f_1+e_1, f_2+e_2)` into the division network ``net`` and compare its error
    with the intrinsic conditioning of :math:`f_1/f_2`.

    Exact division turns input errors into :math:`|e_1 - r e_2|/(f_2+e_2)` with :math:`r=f_1/f_2`,
    at most :math:`(|e_1|+|r||e_2|)/(f_2-|e_2|)`: to first order the conditioning bound
    :math:`(|e_1|+|r||e_2|)/f_2` of the problem itself. A division network adds no instability
    beyond it when its error over that bound stays of order one; its own round-off is
    ``roundoff``.

    Args:
        net: a two-input division network, e.g. :func:`ratio_network`; the perturbed inputs must
            lie in its domain.
        f1, f2: unperturbed numerators and denominators, shape ``(n,)``, ``f2 > 0``.
        e1, e2: perturbations, shape ``(n,)``, with ``|e2| < f2``.
        dtype: precision in which the network is evaluated (``torch.float64`` or ``torch.float32``);
            the reference quantities are float64.
    """
    if net.in_dim != 2:
        raise ValueError(f"net must take two inputs (numerator, denominator), got {net.in_dim}")
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32, got {dtype}")
    f1, f2, e1, e2 = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (f1, f2, e1, e2))
    if not f1.shape == f2.shape == e1.shape == e2.shape:
        raise ValueError(
            f"f1, f2, e1, e2 must have one shape, got {[tuple(v.shape) for v in (f1, f2, e1, e2)]}"
        )
    for name, v in (("f1", f1), ("f2", f2), ("e1", e1), ("e2", e2)):
        check_finite(name, v)
    if bool((f2 <= 0).any()):
        raise ValueError(f"f2 must be > 0, got min {float(f2.min()):.3g}")
    if bool((e2.abs() >= f2).any()):
        raise ValueError("|e2| must be < f2 at every point (the perturbed denominator stays > 0)")
    x = torch.stack([f1 + e1, f2 + e2], -1)
    net.check_domain(x)
    m = net if dtype == torch.float64 else copy.deepcopy(net).to(dtype)
    with torch.no_grad():
        out = m(x.to(dtype), check=False)[:, 0].to(torch.float64)
    r = f1 / f2
    rp = (f1 + e1) / (f2 + e2)
    num = e1.abs() + r.abs() * e2.abs()
    return DivisionConditioning(
        error=(out - r).abs(),
        exact=(rp - r).abs(),
        bound=num / f2,
        bound2=num / (f2 - e2.abs()),
        roundoff=(out - rp).abs(),
    )
