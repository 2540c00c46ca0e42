r"""Small networks: the SignReLU activation, MLPs, and MLP denoisers with a noise-level embedding.

SignReLU with parameter :math:`a>0` is :math:`\rho(x) = x` for :math:`x\ge 0` and
:math:`a\,x/(1+|x|)` for :math:`x<0`. Its rational branch is what lets constant-depth networks
divide exactly (see the SignReLU chapter).

:class:`MLPDenoiser` follows the k-diffusion convention ``model(x, sigma) -> denoised`` in the SNR
form, with the EDM preconditioning (``"edm"``) or an :math:`\varepsilon`-prediction head (``"eps"``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import check_in, check_positive

__all__ = ["SignReLU", "ACTIVATIONS", "make_activation", "MLP", "MLPDenoiser", "noise_features"]


class SignReLU(nn.Module):
    """SignReLU activation: ``x`` for ``x >= 0``, ``a * x / (1 + |x|)`` for ``x < 0``."""

    def __init__(self, a: float = 1.0) -> None:
        super().__init__()
        self.a = check_positive("a", a)

    def forward(self, x: Tensor) -> Tensor:
        return torch.where(x >= 0, x, self.a * x / (1.0 + x.abs()))

    def extra_repr(self) -> str:
        return f"a={self.a}"


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "signrelu": SignReLU,
}


def make_activation(name: str) -> nn.Module:
    """An activation module by name (see :data:`ACTIVATIONS`)."""
    check_in("activation", name, list(ACTIVATIONS))
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """Fully connected network ``in_dim -> width x depth -> out_dim`` with a named activation.

    Args:
        in_dim, out_dim: input and output sizes.
        width: hidden width; depth: number of hidden layers (>= 1).
        activation: name in :data:`ACTIVATIONS`.
    """

    def __init__(
        self, in_dim: int, out_dim: int, width: int = 64, depth: int = 2, activation: str = "relu"
    ) -> None:
        super().__init__()
        for name, v in [
            ("in_dim", in_dim),
            ("out_dim", out_dim),
            ("width", width),
            ("depth", depth),
        ]:
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), make_activation(activation)]
            d = width
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def noise_features(sigma: Tensor, n_freq: int = 4) -> Tensor:
    r"""Embedding of the noise level: :math:`c = \log(\sigma)/4` and :math:`\sin, \cos(2^k c)`,
    shape ``(n, 1 + 2 n_freq)``."""
    c = torch.log(sigma).unsqueeze(-1) / 4
    freqs = 2.0 ** torch.arange(n_freq, dtype=sigma.dtype, device=sigma.device)
    return torch.cat([c, torch.sin(c * freqs), torch.cos(c * freqs)], dim=-1)


class MLPDenoiser(nn.Module):
    r"""MLP denoiser ``D(x, sigma)`` for data in R^d.

    ``parameterization="edm"``: :math:`D = c_{skip}x + c_{out}F(c_{in}x, \text{emb}(\sigma))` with
    :math:`c_{skip}=\sigma_d^2/(\sigma^2+\sigma_d^2)`, :math:`c_{out}=\sigma\sigma_d/\sqrt{\sigma^2+\sigma_d^2}`,
    :math:`c_{in}=1/\sqrt{\sigma^2+\sigma_d^2}`. ``"eps"``: :math:`D = x - \sigma F(c_{in}x, \text{emb}(\sigma))`.

    Args:
        dim: data dimension d.
        width, depth, activation: of the inner :class:`MLP`.
        sigma_data: data standard deviation used by the preconditioning.
        parameterization: ``"edm"`` or ``"eps"``.
    """

    def __init__(
        self,
        dim: int = 1,
        width: int = 128,
        depth: int = 3,
        activation: str = "silu",
        sigma_data: float = 1.0,
        parameterization: str = "edm",
        n_freq: int = 4,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.sigma_data = check_positive("sigma_data", sigma_data)
        self.parameterization = check_in("parameterization", parameterization, ["edm", "eps"])
        self.n_freq = n_freq
        self.net = MLP(dim + 1 + 2 * n_freq, dim, width, depth, activation)

    def forward(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        s = s.expand(x.shape[0]) if s.ndim == 0 else s
        sd = self.sigma_data
        c_in = 1.0 / torch.sqrt(s**2 + sd**2)
        f = self.net(torch.cat([c_in.unsqueeze(-1) * x, noise_features(s, self.n_freq)], dim=-1))
        s1 = s.unsqueeze(-1)
        if self.parameterization == "eps":
            return x - s1 * f
        c_skip = sd**2 / (s1**2 + sd**2)
        c_out = s1 * sd / torch.sqrt(s1**2 + sd**2)
        return c_skip * x + c_out * f

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def __repr__(self) -> str:
        return (
            f"MLPDenoiser(dim={self.dim}, params={self.n_parameters()}, "
            f"parameterization={self.parameterization!r}, sigma_data={self.sigma_data:g})"
        )
