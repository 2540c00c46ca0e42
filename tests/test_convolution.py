import numpy as np
import pytest
import torch

from companion.convolution import convolution_truth, relative_discrepancy
from companion.gmm import GaussianMixture


def test_single_gaussian_matches_textbook_posterior():
    m, v, s = 0.7, 0.3, 0.4
    y = np.linspace(-2.0, 3.0, 11)[:, None]
    out = convolution_truth([1.0], [[m]], [[v]], y, s)
    tot = v + s**2
    dens = np.exp(-0.5 * (y[:, 0] - m) ** 2 / tot) / np.sqrt(2 * np.pi * tot)
    post_mean = m + v / tot * (y[:, 0] - m)
    np.testing.assert_allclose(out.density, dens, rtol=1e-12)
    np.testing.assert_allclose(out.denoiser[:, 0], post_mean, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(out.score[:, 0], -(y[:, 0] - m) / tot, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.posterior_cov[:, 0, 0], v * s**2 / tot, rtol=1e-10)


def test_diagonal_mixture_matches_closed_forms_in_2d():
    w = [0.2, 0.5, 0.3]
    m = [[-2.0, 0.5], [1.0, 1.0], [0.5, -1.5]]
    v = [[0.3, 0.1], [0.05, 0.2], [0.4, 0.4]]
    g = GaussianMixture(w, m, v)
    y = np.random.default_rng(0).normal(size=(25, 2)) * 1.5
    for s in [0.05, 0.5, 5.0]:
        out = convolution_truth(w, m, v, y, s)
        yt = torch.tensor(y)
        assert relative_discrepancy(out.density, g.prob(yt, s).numpy()) < 1e-10
        assert relative_discrepancy(out.score, g.score(yt, s).numpy()) < 1e-10
        assert relative_discrepancy(out.denoiser, g.denoise(yt, s).numpy()) < 1e-10
        assert relative_discrepancy(out.posterior_cov, g.posterior_cov(yt, s).numpy()) < 1e-9
        # a wrong noised variance (v + sigma instead of v + sigma^2) is far away
        wrong = GaussianMixture(w, m, (np.asarray(v) + s).tolist())
        assert relative_discrepancy(out.density, wrong.prob(yt, 0.0).numpy()) > 1e-3


def test_unresolved_kernel_shows_under_refinement():
    y = np.linspace(-1.0, 1.0, 7)[:, None]
    coarse = convolution_truth([1.0], [[0.0]], [[1.0]], y, 0.01, n_nodes=101)
    fine = convolution_truth([1.0], [[0.0]], [[1.0]], y, 0.01, n_nodes=6401)
    assert relative_discrepancy(coarse.density, fine.density) > 1e-3
    exact = np.exp(-0.5 * y[:, 0] ** 2 / 1.0001) / np.sqrt(2 * np.pi * 1.0001)
    np.testing.assert_allclose(fine.density, exact, rtol=1e-12)


def test_relative_discrepancy_and_bad_inputs():
    assert relative_discrepancy([[3.0, 4.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 10.0]]) == (
        pytest.approx(10.0 / np.sqrt(50.0))
    )
    with pytest.raises(ValueError, match="equal shapes"):
        relative_discrepancy([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="identically zero"):
        relative_discrepancy([1.0], [0.0])
    y = np.zeros((3, 1))
    with pytest.raises(ValueError, match="sigma"):
        convolution_truth([1.0], [[0.0]], [[1.0]], y, 0.0)
    with pytest.raises(ValueError, match="weights"):
        convolution_truth([0.5], [[0.0]], [[1.0]], y, 1.0)
    with pytest.raises(ValueError, match="shapes"):
        convolution_truth([1.0], [[0.0, 1.0]], [[1.0, 1.0]], y, 1.0)
    with pytest.raises(ValueError, match="n_nodes"):
        convolution_truth([1.0], [[0.0]], [[1.0]], y, 1.0, n_nodes=2)
