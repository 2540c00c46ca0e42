"""The natural-image patch prior: data pipeline, deterministic fit and cache, the shipped file."""

import json
import math
import os
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

import companion.patch_prior as pp
from companion.gmm import FullCovarianceMixture
from companion.patch_prior import (
    PATCH_PRIORS,
    SHIPPED_PRIOR,
    PatchPriorConfig,
    cache_key,
    extract_patches,
    fit_patch_prior,
    load_patch_prior,
)

TINY = PatchPriorConfig(n_components=3, n_patches=600, max_iter=30, seed=5)


@pytest.fixture(scope="module")
def shipped() -> dict[str, np.ndarray]:
    with np.load(SHIPPED_PRIOR, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def prior() -> FullCovarianceMixture:
    return load_patch_prior("ci")


def test_config_validation():
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        PatchPriorConfig(n_components=0, n_patches=100)
    with pytest.raises(ValueError, match="reg_covar must be a finite number > 0"):
        PatchPriorConfig(n_components=2, n_patches=100, reg_covar=0.0)
    with pytest.raises(ValueError, match="n_patches must be at least 2 \\* n_components"):
        PatchPriorConfig(n_components=10, n_patches=15)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        PatchPriorConfig(n_components=2, n_patches=100, seed=-1)
    with pytest.raises(ValueError, match="unknown patch prior 'huge'"):
        load_patch_prior("huge")


def test_patches_are_deterministic_scaled_luma_crops():
    a, b = extract_patches(50, seed=3), extract_patches(50, seed=3)
    assert a.shape == (50, 64) and a.dtype == np.float64 and np.array_equal(a, b)
    assert not np.array_equal(a, extract_patches(50, seed=4))
    assert a.min() >= -1.0 and a.max() <= 1.0
    # Independent check of the luma and the scaling: Pillow's "L" conversion (BT.601, rounded).
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rgb = load_sample_images().images[0]
    pil_l = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64)
    ours = (pp.sample_image_luma()[0] + 1.0) * 127.5
    assert np.abs(ours - pil_l).max() <= 0.5 + 1e-9
    # every patch is a crop of one of the photographs
    luma = pp.sample_image_luma()
    first = a[0].reshape(8, 8)
    windows = np.lib.stride_tricks.sliding_window_view(luma[0], (8, 8))
    assert (np.abs(windows - first).max(axis=(-2, -1)) == 0).any()


def test_tiny_fit_is_bitwise_reproducible_and_keyed():
    one, two = fit_patch_prior(TINY), fit_patch_prior(TINY)
    for name in ["weights", "means", "covariances"]:
        assert one[name].dtype == np.float64
        assert np.array_equal(one[name], two[name]), name
    assert str(one["key"]) == cache_key(TINY) == str(two["key"])
    # every fitting parameter moves the key
    keys = {
        cache_key(replace(TINY, **{f: v}))
        for f, v in [
            ("n_components", 4),
            ("n_patches", 601),
            ("patch_size", 7),
            ("seed", 6),
            ("reg_covar", 2e-4),
            ("max_iter", 31),
            ("tol", 2e-3),
        ]
    }
    assert len(keys | {cache_key(TINY)}) == 8


def test_shipped_file_records_its_fit(shipped):
    config = PATCH_PRIORS["ci"]
    assert SHIPPED_PRIOR.stat().st_size < 2_000_000
    assert json.loads(str(shipped["config"])) == asdict(config)
    assert str(shipped["key"]) == cache_key(config)
    assert str(shipped["sklearn_version"]) == pp._sklearn_version()
    assert bool(shipped["converged"])
    K, d = config.n_components, config.dim
    assert shipped["weights"].shape == (K,) and shipped["means"].shape == (K, d)
    assert shipped["covariances"].shape == (K, d, d)
    assert all(shipped[n].dtype == np.float64 for n in ["weights", "means", "covariances"])
    # every eigenvalue is at least reg_covar (to round-off): the regularisation is in place
    assert np.linalg.eigvalsh(shipped["covariances"]).min() > config.reg_covar * (1 - 1e-6)


def test_shipped_prior_is_an_em_fixed_point_of_its_patches(shipped, prior):
    # The exact log-likelihood of the ci patches under the shipped prior (our closed form,
    # not scikit-learn's) is the bound EM stopped at plus the last M-step's small gain (EM is
    # monotone), and one more EM step barely moves it: the file is this fit of these patches
    # (another file or another extraction is off by nats).
    from sklearn.mixture import GaussianMixture

    config = PATCH_PRIORS["ci"]
    x = extract_patches(config.n_patches, config.seed)
    mean_ll = float(prior.log_prob(torch.from_numpy(x)).mean())
    assert 0 <= mean_ll - float(shipped["lower_bound"]) < 3 * config.tol
    gm = GaussianMixture(
        config.n_components,
        covariance_type="full",
        reg_covar=config.reg_covar,
        max_iter=1,
        weights_init=shipped["weights"],
        means_init=shipped["means"],
        precisions_init=np.linalg.inv(shipped["covariances"]),
    )
    with pytest.warns(Warning):  # one iteration does not "converge"
        gm.fit(x)
    step = float(gm.score(x)) - mean_ll
    assert 0 <= step < 3 * config.tol  # EM gains near its stopping point fluctuate around tol


@pytest.mark.skipif(
    os.environ.get("COMPANION_REFIT") != "1",
    reason="refits the ci prior (about 20 s of one core; a minute on a busy machine): "
    "set COMPANION_REFIT=1",
)
def test_shipped_prior_is_what_the_fit_gives(shipped):
    refit = fit_patch_prior(PATCH_PRIORS["ci"])
    assert int(refit["n_iter"]) == int(shipped["n_iter"])
    for name in ["weights", "means", "covariances"]:
        np.testing.assert_allclose(refit[name], shipped[name], rtol=1e-9, atol=1e-12)


def test_cache_miss_fits_and_stores_then_hits(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path))
    first = load_patch_prior(TINY)
    note = capsys.readouterr().err
    assert "Fitting the patch prior" in note and cache_key(TINY) in note
    stored = tmp_path / f"patch_prior_{cache_key(TINY)}.npz"
    assert stored.is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit must not fit")

    monkeypatch.setattr(pp, "fit_patch_prior", refuse)
    second = load_patch_prior(TINY)
    assert capsys.readouterr().err == ""
    assert torch.equal(first.means, second.means)
    assert torch.equal(first.eigenvalues, second.eigenvalues)
    with pytest.raises(AssertionError, match="must not fit"):
        load_patch_prior(TINY, refit=True)


def test_ci_prior_loads_without_fitting(monkeypatch, tmp_path, shipped, prior):
    monkeypatch.setenv("COMPANION_CACHE", str(tmp_path))
    monkeypatch.setattr(pp, "fit_patch_prior", lambda *a, **k: pytest.fail("fitted"))
    p = load_patch_prior("ci")
    assert isinstance(p, FullCovarianceMixture) and (p.n_components, p.dim) == (16, 64)
    assert np.allclose(p.covariances.numpy(), shipped["covariances"], rtol=1e-12, atol=1e-15)
    assert not any(tmp_path.iterdir())


def test_entropy_two_estimators(prior):
    # H = E[-log p(x)] (plain Monte Carlo with the exact log-density) against the decomposition
    # H = sum_k w_k H_k + H(w) - E[H(K | x)], with closed-form Gaussian entropies H_k: a wrong
    # normalisation of log_prob or a wrong law in sample() separates them.
    gen = torch.Generator().manual_seed(0)
    n = 20_000
    x = prior.sample(n, gen)
    neg_logp = -prior.log_prob(x)
    r = prior.responsibilities(x)
    h_post = -(r * torch.log(r.clamp_min(1e-300))).sum(-1)
    h_k = 0.5 * (prior.dim * (1 + math.log(2 * math.pi)) + torch.log(prior.eigenvalues).sum(-1))
    within = float(prior.weights @ h_k)
    h_w = float(-(prior.weights * prior.log_w).sum())
    decomposed = within + h_w - h_post
    diff = neg_logp - decomposed  # paired: same samples
    z = float(diff.mean() / (diff.std() / math.sqrt(n)))
    assert abs(z) < 4.5, z
    plain, se = float(neg_logp.mean()), float(neg_logp.std()) / math.sqrt(n)
    assert within - 4 * se <= plain <= within + h_w + 4 * se
    assert se < 1.0  # -log p spreads over tens of nats (smooth vs textured patches)


def test_prior_is_finite_from_1e_minus_4_to_1e4(prior):
    gen = torch.Generator().manual_seed(1)
    x0 = torch.cat([prior.sample(32, gen), torch.from_numpy(extract_patches(32, seed=9))])
    for sigma in torch.logspace(-4, 4, 9, dtype=torch.float64).tolist():
        z = x0 + sigma * torch.randn(x0.shape, dtype=torch.float64, generator=gen)
        for name in ["log_prob", "score", "denoise"]:
            out = getattr(prior, name)(z, sigma)
            assert torch.isfinite(out).all(), (name, sigma)
    s = torch.logspace(-4, 4, x0.shape[0], dtype=torch.float64)
    assert torch.isfinite(prior.score(x0, s)).all()
