r"""A natural-image patch prior: a full-covariance Gaussian mixture of 8x8 grayscale patches.

In the style of Zoran and Weiss (2011, "From learning models of natural image patches to whole
image restoration"): a Gaussian mixture with full covariances fitted by EM to 8x8 patches of
natural photographs, here the two photographs that ship inside scikit-learn
(``sklearn.datasets.load_sample_images``: ``china.jpg`` and ``flower.jpg``, 427 x 640 RGB;
nothing is downloaded). As a diffusion target in :math:`\mathbb R^{64}` it has everything in
closed form through :class:`companion.gmm.FullCovarianceMixture`: samples, noised marginals,
the exact score and denoiser at every noise level, and the exact log-density of any point.

Data pipeline (every step deterministic):

* grayscale by the ITU-R BT.601 luma weights (0.299, 0.587, 0.114), the conversion of
  Pillow's ``"L"`` mode, without rounding;
* pixel values scaled from [0, 255] to **[-1, 1]** (``v / 127.5 - 1``), the range the book's
  image targets use (:func:`companion.digits.load_digits`);
* patch positions drawn uniformly over all valid top-left corners with
  ``numpy.random.default_rng(seed)``, half of the patches from each photograph;
* patches are **not mean-removed**. Zoran and Weiss remove each patch's mean (its DC
  component) and model the 63-D remainder with zero-mean components, because their restoration
  algorithm treats the DC separately. A diffusion target needs a density on all of
  :math:`\mathbb R^{64}`: a DC-removed patch lies in a 63-D subspace, and its fitted covariance
  would be singular up to ``reg_covar``, one direction a near point mass that would dominate
  sampler errors at small noise for no reason of image statistics. So the raw patches are
  fitted, the patch brightness is part of the model and the components have free means.

The fit is ``sklearn.mixture.GaussianMixture(covariance_type="full")`` with k-means
initialisation, a fixed ``random_state`` and ``reg_covar`` added to every covariance's diagonal
(default 1e-4, a pixel standard deviation of 0.01, about 1.3 grey levels: above the 8-bit
quantisation noise, whose variance is :math:`(2/255)^2/12 \approx 5\cdot 10^{-6}`, so the
prior does not model quantisation and JPEG artefacts, and every eigenvalue is at least
``reg_covar``). It runs on one BLAS/OpenMP thread so that its result does not depend on the
number of cores.

Fitted parameters are cached deterministically, keyed by a hash of every fitting parameter,
the scikit-learn version and the decoded pixels (:func:`cache_key`). The ``ci`` prior ships with
the package (``companion/data/patch_prior_ci.npz``); other sizes are fitted on first use and
stored in ``$COMPANION_CACHE`` (default ``~/.cache/diffusion-companion``). Use
:func:`load_patch_prior`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .gmm import FullCovarianceMixture

__all__ = [
    "PatchPriorConfig",
    "PATCH_PRIORS",
    "SHIPPED_PRIOR",
    "sample_image_luma",
    "extract_patches",
    "cache_key",
    "cache_dir",
    "fit_patch_prior",
    "load_patch_prior",
    "mixture_from_params",
]

#: Format of the stored parameters; part of the cache key.
FORMAT_VERSION = 1
#: Grayscale weights (ITU-R BT.601 luma).
LUMA = (0.299, 0.587, 0.114)
#: The shipped ``ci`` prior (package data).
SHIPPED_PRIOR = Path(__file__).with_name("data") / "patch_prior_ci.npz"


@dataclass(frozen=True)
class PatchPriorConfig:
    """Every parameter of a patch-prior fit (all of them enter the cache key).

    Parameters
    ----------
    n_components:
        Mixture components K.
    n_patches:
        Training patches, half from each photograph.
    patch_size:
        Side of the square patches (dimension ``patch_size**2``).
    seed:
        Seed of the patch positions and the ``random_state`` of the EM fit.
    reg_covar:
        Added to every covariance's diagonal (pixel units on the [-1, 1] scale, squared).
    max_iter, tol:
        EM stopping rule (scikit-learn's: change of the mean log-likelihood bound below ``tol``).
    """

    n_components: int
    n_patches: int
    patch_size: int = 8
    seed: int = 0
    reg_covar: float = 1e-4
    max_iter: int = 200
    tol: float = 1e-3

    def __post_init__(self) -> None:
        for name in ["n_components", "n_patches", "patch_size", "max_iter"]:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ["reg_covar", "tol"]:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if self.n_patches < 2 * self.n_components:
            raise ValueError(
                f"n_patches must be at least 2 * n_components = {2 * self.n_components}, "
                f"got {self.n_patches}"
            )

    @property
    def dim(self) -> int:
        """Dimension of a patch, ``patch_size**2``."""
        return self.patch_size**2


#: The book's two sizes. ``ci`` (K=16 on 20k patches: 60 EM iterations, 20 s on one core;
#: shipped with the package) and ``full`` (K=64 on 64k patches, 1000 patches per component as
#: in ``ci``: 24 EM iterations, under 3 minutes on one core; fitted once on first use and
#: cached, 2.1 MB). An EM iteration costs about 1.1 microseconds per patch and component on one
#: core (11 s per iteration at K=100 on 100k patches, measured on a busy shared machine); a
#: larger prior is a :class:`PatchPriorConfig` away.
PATCH_PRIORS: dict[str, PatchPriorConfig] = {
    "ci": PatchPriorConfig(n_components=16, n_patches=20_000),
    "full": PatchPriorConfig(n_components=64, n_patches=64_000),
}


def sample_image_luma() -> list[np.ndarray]:
    """The photographs shipped with scikit-learn as float64 luma in [-1, 1], shape ``(427, 640)``.

    ``load_sample_images`` reads files inside the scikit-learn package: nothing is downloaded.
    """
    try:
        from sklearn.datasets import load_sample_images
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ImportError("the patch prior needs scikit-learn (it ships the photographs)") from exc
    images = load_sample_images().images
    return [(im.astype(np.float64) @ np.asarray(LUMA)) / 127.5 - 1.0 for im in images]


def _images_digest() -> str:
    """SHA-256 of the decoded RGB pixels of the sample photographs (the fit's data)."""
    from sklearn.datasets import load_sample_images

    h = hashlib.sha256()
    for im in load_sample_images().images:
        h.update(str(im.shape).encode())
        h.update(np.ascontiguousarray(im, dtype=np.uint8).tobytes())
    return h.hexdigest()


def extract_patches(n: int, seed: int = 0, patch_size: int = 8) -> np.ndarray:
    """``n`` square patches at uniformly drawn positions, half from each photograph.

    Returns float64 of shape ``(n, patch_size**2)`` in [-1, 1], row-major within a patch. The
    positions come from ``numpy.random.default_rng(seed)``: a different seed gives different
    positions, but patches of the same photographs overlap, so they are not held out in the
    pixel sense.
    """
    for name, v in [("n", n), ("patch_size", patch_size)]:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    rng = np.random.default_rng(seed)
    images = sample_image_luma()
    counts = [n // len(images)] * len(images)
    counts[-1] += n - sum(counts)
    offs = np.arange(patch_size)
    out = []
    for img, m in zip(images, counts, strict=True):
        rows = rng.integers(0, img.shape[0] - patch_size + 1, m)
        cols = rng.integers(0, img.shape[1] - patch_size + 1, m)
        patches = img[rows[:, None, None] + offs[None, :, None], cols[:, None, None] + offs]
        out.append(patches.reshape(m, patch_size * patch_size))
    return np.concatenate(out)


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def _key_fields(config: PatchPriorConfig) -> dict[str, Any]:
    return {
        **asdict(config),
        "format": FORMAT_VERSION,
        "estimator": "sklearn.mixture.GaussianMixture(covariance_type='full', init_params='kmeans', n_init=1)",
        "sklearn": _sklearn_version(),
        "images": _images_digest(),
        "pixels": "BT.601 luma, v / 127.5 - 1, not mean-removed",
    }


def cache_key(config: PatchPriorConfig) -> str:
    """Hex SHA-256 (first 16 digits) of every fitting parameter: the configuration, the data
    pipeline, the estimator, the scikit-learn version and the decoded pixels of the photographs."""
    text = json.dumps(_key_fields(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """``$COMPANION_CACHE`` if set, else ``~/.cache/diffusion-companion``."""
    env = os.environ.get("COMPANION_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "diffusion-companion"


def fit_patch_prior(config: PatchPriorConfig) -> dict[str, np.ndarray]:
    """Fit the mixture by EM on one thread to :func:`extract_patches` of ``config``.

    Returns the parameters and the fit's record: ``weights`` ``(K,)``, ``means`` ``(K, d)``,
    ``covariances`` ``(K, d, d)`` (float64), ``config`` (JSON of the fitting parameters),
    ``key`` (:func:`cache_key`), ``n_iter``, ``converged``, ``lower_bound`` (mean
    log-likelihood per patch at the last E-step), ``fit_seconds`` and the versions of
    scikit-learn and numpy.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    patches = extract_patches(config.n_patches, config.seed, config.patch_size)
    gm = GaussianMixture(
        n_components=config.n_components,
        covariance_type="full",
        reg_covar=config.reg_covar,
        max_iter=config.max_iter,
        tol=config.tol,
        init_params="kmeans",
        n_init=1,
        random_state=config.seed,
    )
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        gm.fit(patches)
    seconds = time.perf_counter() - start
    return {
        "weights": np.asarray(gm.weights_, dtype=np.float64),
        "means": np.asarray(gm.means_, dtype=np.float64),
        "covariances": np.asarray(gm.covariances_, dtype=np.float64),
        "config": np.asarray(json.dumps(asdict(config), sort_keys=True)),
        "key": np.asarray(cache_key(config)),
        "n_iter": np.asarray(int(gm.n_iter_)),
        "converged": np.asarray(bool(gm.converged_)),
        "lower_bound": np.asarray(float(gm.lower_bound_)),
        "fit_seconds": np.asarray(seconds),
        "sklearn_version": np.asarray(_sklearn_version()),
        "numpy_version": np.asarray(np.__version__),
    }


def mixture_from_params(params: Any, device: Any = None) -> FullCovarianceMixture:
    """The :class:`~companion.gmm.FullCovarianceMixture` of stored parameters (a mapping with
    ``weights``, ``means`` and ``covariances``)."""
    w, m, c = (torch.as_tensor(np.asarray(params[k])) for k in ["weights", "means", "covariances"])
    return FullCovarianceMixture(w, m, c, device=device)


def _read(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """Stored parameters at ``path`` if the file exists and holds ``key``."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        if str(f["key"]) != key:
            return None
        return {name: f[name] for name in f.files}


def _write(path: Path, params: dict[str, np.ndarray]) -> None:
    """Store atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **params)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_patch_prior(
    config: str | PatchPriorConfig = "ci",
    device: Any = None,
    refit: bool = False,
) -> FullCovarianceMixture:
    """The patch prior of a profile name (``"ci"``, ``"full"``) or a configuration.

    Looks for the parameters whose :func:`cache_key` matches, first in the file shipped with the
    package, then in :func:`cache_dir`; on a miss (or with ``refit=True``) fits them with
    :func:`fit_patch_prior`, with a note on stderr, and stores them in :func:`cache_dir` as
    ``patch_prior_<key>.npz``.
    """
    if isinstance(config, str):
        if config not in PATCH_PRIORS:
            raise ValueError(
                f"unknown patch prior {config!r}; expected one of {sorted(PATCH_PRIORS)}"
            )
        config = PATCH_PRIORS[config]
    if not isinstance(config, PatchPriorConfig):
        raise TypeError(f"config must be a profile name or a PatchPriorConfig, got {config!r}")
    key = cache_key(config)
    path = cache_dir() / f"patch_prior_{key}.npz"
    params = None if refit else (_read(SHIPPED_PRIOR, key) or _read(path, key))
    if params is None:
        print(
            f"Fitting the patch prior (K={config.n_components}, {config.n_patches} patches of "
            f"{config.patch_size}x{config.patch_size}, key {key}) on one core; it is cached "
            f"in {path}",
            file=sys.stderr,
            flush=True,
        )
        params = fit_patch_prior(config)
        _write(path, params)
        print(
            f"Patch prior fitted in {float(params['fit_seconds']):.1f} s "
            f"({int(params['n_iter'])} EM iterations, converged: {bool(params['converged'])})",
            file=sys.stderr,
            flush=True,
        )
    return mixture_from_params(params, device)


if __name__ == "__main__":  # pragma: no cover - regenerates the shipped file
    # python -m companion.patch_prior: fit the ci prior and write companion/data/patch_prior_ci.npz
    _write(SHIPPED_PRIOR, fit_patch_prior(PATCH_PRIORS["ci"]))
    print(f"wrote {SHIPPED_PRIOR} ({SHIPPED_PRIOR.stat().st_size} bytes)")
