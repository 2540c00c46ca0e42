r"""The scikit-learn 8x8 digits as a small image data set, with a feature space to compare samples.

* :func:`load_digits`: the 1797 bundled images (no download), scaled to :math:`[-1, 1]`;
* :class:`DigitsClassifier` and :func:`train_digits_classifier`: a small MLP classifier whose
  last hidden layer is a feature map;
* :func:`digits_fd`: the Frechet distance of Gaussian fits in that feature space (the FID recipe
  with a digits classifier in place of Inception);
* :func:`digit_grid`: tile images into one array for ``imshow``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .metrics import frechet_distance
from .training import optimise

__all__ = ["load_digits", "DigitsClassifier", "train_digits_classifier", "digits_fd", "digit_grid"]

#: Pixels per image (8 x 8).
N_PIXELS = 64


def load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits (1797 images, no download), scaled to ``[-1, 1]``.

    Returns
    -------
    tuple of Tensor
        ``(images, labels)``: float64 of shape ``(1797, 64)`` and int64 of shape ``(1797,)``.
    """
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ImportError("load_digits needs scikit-learn (it ships the digits data)") from exc
    d = _load()
    x = torch.as_tensor(d.data, dtype=torch.float64) / 8.0 - 1.0
    return x, torch.as_tensor(d.target, dtype=torch.int64)


class DigitsClassifier(nn.Module):
    """Small MLP classifier of 8x8 digits; :meth:`features` is its last hidden layer.

    Parameters
    ----------
    width
        Units of the first hidden layer.
    feature_dim
        Units of the second hidden layer (the feature space).
    """

    def __init__(self, width: int = 128, feature_dim: int = 32) -> None:
        super().__init__()
        for name, v in [("width", width), ("feature_dim", feature_dim)]:
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.body = nn.Sequential(
            nn.Linear(N_PIXELS, width), nn.SiLU(), nn.Linear(width, feature_dim), nn.SiLU()
        )
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: Tensor) -> Tensor:
        """Feature vectors, shape ``(n, feature_dim)``."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, shape ``(n, 10)``."""
        return self.head(self.body(x))


def train_digits_classifier(
    x: Tensor,
    y: Tensor,
    steps: int = 500,
    width: int = 128,
    feature_dim: int = 32,
    lr: float = 3e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[DigitsClassifier, float]:
    """Train :class:`DigitsClassifier` by Adam (constant step) on cross-entropy (float32, CPU).

    Parameters
    ----------
    x
        Images, shape ``(n, 64)``.
    y
        Labels, shape ``(n,)``.
    steps, width, feature_dim, lr, batch_size
        Training settings (``batch_size`` images drawn with replacement per step).
    seed
        Seeds the initialisation and the batches.

    Returns
    -------
    tuple of DigitsClassifier and float
        ``(model, accuracy)`` with the accuracy on the training data itself.
    """
    if x.ndim != 2 or x.shape[1] != N_PIXELS or y.shape != (x.shape[0],):
        raise ValueError(f"x must be (n, 64) and y (n,), got {tuple(x.shape)} and {tuple(y.shape)}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitsClassifier(width, feature_dim)
    xf = x.float()

    def loss() -> Tensor:
        idx = torch.randint(x.shape[0], (batch_size,), generator=gen)
        return nn.functional.cross_entropy(model(xf[idx]), y[idx])

    optimise(model.parameters(), loss, steps, lr)
    model.eval()
    with torch.no_grad():
        acc = float((model(xf).argmax(-1) == y).double().mean())
    return model, acc


def digits_fd(classifier: DigitsClassifier, x: Tensor, y: Tensor) -> float:
    """ "Digits-FD": Frechet distance of Gaussian fits in the classifier's feature space.

    The FID recipe with a digits classifier instead of Inception; ``x`` and ``y`` are images of
    shape ``(n, 64)``, clamped to ``[-1, 1]`` before the features are taken.
    """
    with torch.no_grad():
        fx = classifier.features(x.float().clamp(-1, 1))
        fy = classifier.features(y.float().clamp(-1, 1))
    return frechet_distance(fx.double(), fy.double())


def digit_grid(images: Tensor, nrow: int = 4, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """Tile the first ``nrow*ncol`` 8x8 images (shape ``(n, 64)``, values in [-1, 1]) into one
    array for ``imshow``, with ``pad`` pixels of background between tiles."""
    k = nrow * ncol
    if images.ndim != 2 or images.shape[1] != N_PIXELS or images.shape[0] < k:
        raise ValueError(f"images must have shape (>= {k}, 64), got {tuple(images.shape)}")
    im = images[:k].detach().double().clamp(-1, 1).cpu().numpy().reshape(nrow, ncol, 8, 8)
    size = 8 + pad
    out = np.full((nrow * size + pad, ncol * size + pad), -1.0)
    for i in range(nrow):
        for j in range(ncol):
            out[pad + i * size : pad + i * size + 8, pad + j * size : pad + j * size + 8] = im[i, j]
    return out
