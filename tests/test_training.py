"""Tests of the training loops in companion.training: optimise, fit_regression, train_denoiser.

(The DSM objective, weightings and :func:`companion.training.train` itself are tested in
test_metrics_nets.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion.nets import MLP, MLPDenoiser
from companion.training import fit_regression, loguniform, optimise, train_denoiser


# -- optimise ------------------------------------------------------------------------------------
def test_optimise_gd_on_a_quadratic_is_geometric():
    # f(w) = w^2, GD step lr: w_{k+1} = (1 - 2 lr) w_k, so loss_k = w_0^2 (1 - 2 lr)^(2(k-1))
    w = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
    lr = 0.1
    seen: list[int] = []
    losses = optimise([w], lambda: w**2, 25, lr, optimizer="gd", after_step=seen.append)
    want = [9.0 * (1 - 2 * lr) ** (2 * k) for k in range(25)]
    assert np.allclose(losses, want, rtol=1e-12, atol=0)
    assert seen == list(range(1, 26))
    assert float(w.detach()) == pytest.approx(3.0 * (1 - 2 * lr) ** 25, rel=1e-12)


def test_optimise_cosine_decays_the_step_to_zero():
    # Adam's first step moves each coordinate by lr (sign of the gradient); with the cosine
    # schedule over 2 steps the second step uses lr * (1 + cos(pi/2)) / 2 = lr / 2.
    def run(cosine: bool) -> list[float]:
        w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
        trace: list[float] = []
        optimise(
            [w],
            lambda: (w**2).sum(),
            2,
            0.01,
            cosine=cosine,
            after_step=lambda k: trace.append(float(w.detach())),
        )
        return trace

    flat, cos = run(False), run(True)
    assert flat[0] == pytest.approx(0.99, abs=1e-9) and cos[0] == pytest.approx(0.99, abs=1e-9)
    assert flat[0] - flat[1] == pytest.approx(0.01, rel=1e-3)
    assert cos[0] - cos[1] == pytest.approx(0.005, rel=1e-3)


def test_optimise_validates():
    w = torch.nn.Parameter(torch.zeros(1))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="steps"):
            optimise([w], lambda: (w**2).sum(), bad, 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr"):
        optimise([w], lambda: (w**2).sum(), 1, 0.0)
    with pytest.raises(ValueError, match="optimizer"):
        optimise([w], lambda: (w**2).sum(), 1, 0.1, optimizer="sgd")


# -- fit_regression --------------------------------------------------------------------------------
def test_fit_regression_full_batch():
    x = torch.linspace(-1, 1, 64, dtype=torch.float64)[:, None]
    net = MLP(1, 1, 16, 2, "signrelu")
    losses = fit_regression(net, x.float(), (x[:, 0] ** 2).float(), steps=200, lr=1e-2)
    assert len(losses) == 200 and losses[-1] < 0.1 * losses[0]
    assert not net.training
    with pytest.raises(ValueError, match="steps"):
        fit_regression(net, x, x[:, 0], steps=0)
    with pytest.raises(ValueError, match="x must"):
        fit_regression(net, x, x, steps=1)


def test_fit_regression_weights_select_points():
    # a constant fitted with weight on one point only converges to that point's target
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([2.0, -5.0])
    net = torch.nn.Linear(1, 1)
    with torch.no_grad():
        net.weight.zero_()
        net.weight.requires_grad_(False)
    fit_regression(net, x, y, steps=400, lr=0.1, weight=torch.tensor([1.0, 0.0]))
    assert float(net.bias.detach()) == pytest.approx(2.0, abs=1e-3)


def test_fit_regression_minibatches_reduce_loss_and_are_seeded():
    x = torch.linspace(-1, 1, 200, dtype=torch.float32)[:, None]
    y = torch.sin(3 * x[:, 0])

    def run(seed: int = 3):
        torch.manual_seed(0)
        net = MLP(1, 1, 16, 2, "signrelu")
        return net, fit_regression(net, x, y, steps=300, lr=1e-2, seed=seed, batch_size=32)

    net, losses = run()
    _, losses2 = run()
    assert losses == losses2  # same seed, same minibatches
    assert run(4)[1] != losses  # another seed, other minibatches
    with torch.no_grad():
        final = float(((net(x)[:, 0] - y) ** 2).mean())
    assert final < 0.2 * float((y**2).mean())


# -- train_denoiser --------------------------------------------------------------------------------
def test_train_denoiser_is_seeded_and_keeps_checkpoints(gen):
    data = torch.randn(512, 2, dtype=torch.float64, generator=gen)
    model, res = train_denoiser(data, 60, width=16, depth=2, seed=1, checkpoint_at=(10, 60))
    assert isinstance(model, MLPDenoiser) and not model.training
    assert len(res.losses) == 60 and np.mean(res.losses[-10:]) < np.mean(res.losses[:10])
    assert model.sigma_data == pytest.approx(float(data.std()))
    assert sorted(res.checkpoints) == [10, 60]
    final = model.state_dict()
    assert all(torch.equal(res.checkpoints[60][k], final[k]) for k in final)
    assert not all(torch.equal(res.checkpoints[10][k], final[k]) for k in final)
    model2, res2 = train_denoiser(data, 60, width=16, depth=2, seed=1)
    assert res2.losses == res.losses
    assert all(torch.equal(model2.state_dict()[k], final[k]) for k in final)


def test_train_denoiser_settings():
    data = torch.randn(256, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model, res = train_denoiser(
        data, 5, width=8, depth=1, sigma_data=0.5, noise=loguniform(0.01, 10.0), weighting="eps"
    )
    assert model.sigma_data == 0.5 and len(res.losses) == 5 and math.isfinite(res.losses[-1])
    with pytest.raises(ValueError, match="data"):
        train_denoiser(data[:, 0], 5)
    with pytest.raises(ValueError, match="sigma_data"):
        train_denoiser(data, 5, sigma_data=-1.0)
