"""Tests of companion.ntk: the empirical NTK, lazy-regime GD and its linearised prediction."""

import math

import numpy as np
import pytest
import torch

from companion import ntk


def _problem(n=3, levels=(5.0, 1.0, 0.2), omega=None, seed=0):
    data = torch.linspace(-1.0, 2.0, n, dtype=torch.float64).unsqueeze(1)
    return ntk.dsm_problem(data, torch.tensor(levels, dtype=torch.float64), omega, seed=seed)


def test_ntk_of_one_hidden_layer_matches_the_hand_derived_closed_form():
    # f(z) = a . relu(W z / sqrt(d) + beta b) / sqrt(m) + beta c: the gradients are
    # relu(h_j)/sqrt(m) (a_j), a_j 1[h_j > 0] z/sqrt(m d) (W_j), beta a_j 1[h_j > 0]/sqrt(m) (b_j)
    # and beta (c), so K(z, z') = (1/m) sum_j [relu(h_j) relu(h'_j)
    #     + a_j^2 1[h_j>0] 1[h'_j>0] (z.z'/d + beta^2)] + beta^2.
    beta, m = 0.7, 32
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    net = ntk.NTKMLP(3, 1, m, depth=1, beta=beta, seed=4)
    w, b = net.weights[0].detach(), net.biases[0].detach()
    a = net.weights[1].detach()[0]
    h = z @ w.T / math.sqrt(3) + beta * b
    act, on = torch.relu(h), (h > 0).double()
    closed = (
        act @ act.T / m
        + ((on * a**2) @ on.T) * (z @ z.T / 3 + beta**2) / m
        + beta**2 * torch.ones(6, 6, dtype=torch.float64)
    )
    got = ntk.empirical_ntk(net, z)  # torch.func Jacobians
    assert torch.allclose(got, closed, rtol=1e-12, atol=1e-12)
    ens = ntk.NTKEnsemble(3, 1, m, depth=1, beta=beta, seeds=[4])  # explicit back-propagation
    assert torch.allclose(ens.ntk(z)[0], closed, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth,d_out", [(2, 1), (3, 2)])
def test_ensemble_kernel_and_gradient_match_autograd(depth, d_out):
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    target = torch.randn(5, d_out, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    weight = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0], dtype=torch.float64)
    ens = ntk.NTKEnsemble(4, d_out, 16, depth=depth, beta=0.5, seeds=[0, 7])
    kernels = ens.ntk(z)
    loss, gw, gb = ens.grad(z, target, weight)
    for i in range(2):
        net = ens.member(i)
        assert torch.allclose(kernels[i], ntk.empirical_ntk(net, z), rtol=1e-10, atol=1e-12)
        ref = (weight[:, None] * (net(z) - target) ** 2).sum() / 5
        grads = torch.autograd.grad(ref, list(net.parameters()))
        assert float(loss[i]) == pytest.approx(float(ref.detach()), rel=1e-12)
        mine = [g[i] for g in gw] + [g[i] for g in gb]
        for g_ref, g_mine in zip(grads, mine, strict=True):
            assert torch.allclose(g_ref, g_mine, rtol=1e-10, atol=1e-12)


def test_linear_model_residual_modes_decay_exactly_as_one_minus_h_lambda_to_the_k():
    # depth 0: the kernel is constant, so the linearised dynamics are exact. A step of 1/lambda_max
    # with the kernel missing the factor 2/(nN) of the loss would decay at another rate.
    prob = _problem(omega=[1.0, 3.0, 0.5])
    z = ntk.fourier_embedding(prob.z, 16, 0.5)
    prob = ntk.DSMProblem(z, prob.xi, prob.omega)
    ens = ntk.NTKEnsemble(16, 1, 8, depth=0, beta=1.0, seeds=[0, 1])
    res = ntk.gd_lazy(ens, prob, 40, c=1.0)
    for s in range(2):
        lam, h, c0 = res.eigenvalues[s], res.h[s], res.modes[s, 0]
        assert h == pytest.approx(1.0 / lam[-1])
        k = res.steps_kept[:, None]
        pred = c0[None, :] * (1.0 - h * lam[None, :]) ** k
        scale = np.abs(c0).max()
        assert np.max(np.abs(res.modes[s] - pred)) < 1e-10 * scale
        loss_pred = ntk.predicted_loss(c0, lam, h, res.n_rows, res.steps_kept)
        assert np.allclose(res.losses[s], loss_pred, rtol=1e-9, atol=1e-14 * res.losses[s, 0])
    assert np.all(res.kernel_change < 1e-12)


def test_wide_network_is_lazy_and_follows_the_linearised_rate():
    prob = _problem(n=3, omega=[1.0, 2.0, 0.5])
    prob = ntk.DSMProblem(ntk.fourier_embedding(prob.z, 32, 0.2), prob.xi, prob.omega)
    ens = ntk.NTKEnsemble(32, 1, 1024, depth=1, beta=0.0, seeds=[0])
    res = ntk.gd_lazy(ens, prob, 300)
    lam, h, c0 = res.eigenvalues[0], res.h[0], res.modes[0, 0]
    assert res.kernel_change[0] < 0.05
    i = ntk.relevant_mode(c0)
    win = ntk.dominance_window(c0, lam, h, i, 300)
    assert win.size >= 5
    slope = np.polyfit(win, np.log(res.losses[0, win]), 1)[0]
    assert slope / ntk.predicted_log_rate(lam[i], h) == pytest.approx(1.0, abs=0.1)
    rt = ntk.rate_test(res, 0)
    assert rt.mode >= i and rt.window.size >= 5
    assert rt.ratio == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ValueError, match="run more steps"):
        ntk.rate_test(res, 0, slope_tol=0.0)
    assert res.losses[0, -1] < 1e-10 * res.losses[0, 0]


def test_ntk_trace_does_not_grow_with_width_in_the_ntk_parameterisation():
    z = ntk.fourier_embedding(_problem().z, 16, 0.3)
    tr = {
        w: np.mean(
            [float(torch.trace(k)) for k in ntk.NTKEnsemble(16, 1, w, 1, seeds=range(8)).ntk(z)]
        )
        for w in (64, 2048)
    }
    assert tr[2048] / tr[64] == pytest.approx(1.0, abs=0.15)


def test_mode_selection_and_window():
    c0 = np.array([1e-12, 1e-2, 1.0, 1.0])
    lam = np.array([0.01, 0.1, 0.5, 1.0])
    assert ntk.relevant_mode(c0, threshold=1e-6) == 1
    assert ntk.relevant_mode(c0, threshold=1e-30) == 0
    win = ntk.dominance_window(c0, lam, 1.0, 1, 200, share=0.5, floor=1e-30)
    pl = ntk.predicted_loss(c0, lam, 1.0, 1, win)
    assert np.all(c0[1] ** 2 * 0.9 ** (2 * win) >= 0.5 * pl)
    assert ntk.predicted_log_rate(0.1, 1.0) == pytest.approx(2 * math.log(0.9))
    # a near-degenerate pair of slow modes: neither holds half of the loss, both set its rate
    c0 = np.array([1.0, 1.2, 1.0])
    lam = np.array([0.0100, 0.0101, 1.0])
    assert ntk.dominance_window(c0, lam, 1.0, 0, 300, share=0.5, floor=1e-30).size == 0
    win = ntk.dominance_window(c0, lam, 1.0, 0, 300, floor=1e-30, slope_tol=0.01)
    assert win.size > 100
    pl = np.log(ntk.predicted_loss(c0, lam, 1.0, 1, np.append(win, win[-1] + 1)))
    assert np.all(np.abs(np.diff(pl)[:-1] / (2 * math.log(0.99)) - 1) <= 0.01 + 1e-12)
    with pytest.raises(ValueError, match="no mode"):
        ntk.relevant_mode(c0, threshold=2.0)


def test_argument_checks():
    with pytest.raises(ValueError, match="width"):
        ntk.NTKMLP(2, 1, 0)
    with pytest.raises(ValueError, match="depth"):
        ntk.NTKMLP(2, 1, 4, depth=-1)
    with pytest.raises(ValueError, match="omega"):
        _problem(omega=[1.0, 2.0])
    with pytest.raises(ValueError, match="c must"):
        ntk.gd_lazy(ntk.NTKEnsemble(3, 1, 4, 1), _problem(), 5, c=2.5)
