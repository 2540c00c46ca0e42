"""Tests of the explicit SignReLU gadgets: exactness on their domains, structure, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from companion.nets import SignReLU
from companion.signrelu import (
    SignReLUNetwork,
    fit_ratio_mlp,
    product_network,
    ratio_errors,
    ratio_grid,
    ratio_network,
    reciprocal_knots,
    reciprocal_network,
    relu_emulation,
    relu_emulation_sup_error,
    relu_reciprocal_network,
    relu_reciprocal_sup_error,
    square_network,
)


def col(x):
    return torch.as_tensor(x, dtype=torch.float64).reshape(-1, 1)


@pytest.mark.parametrize("c", [1e-3, 0.1, 2.0])
@pytest.mark.parametrize("a", [0.5, 1.0, 3.0])
def test_reciprocal_exact_one_neuron(c, a):
    net = reciprocal_network(c, a=a)
    x = col(torch.exp(torch.linspace(math.log(c), math.log(c) + 12, 2001, dtype=torch.float64)))
    rel = ((net(x) - 1 / x) * x).abs()
    # exact up to the round-off of 1 + rho(.) ~ x/c cancellation
    assert (rel <= 8 * 2.2e-16 * (x / c + 1)).all()
    assert float(rel[x <= 4 * c].max()) < 1e-14
    assert net.depth == 1 and net.width == 1
    assert net.max_weight == pytest.approx(max(1 / c, 1 / (a * c), 1.0))


def test_reciprocal_is_not_exact_below_c():
    # outside the domain the positive branch is linear: a wrong implementation would still agree
    net = reciprocal_network(1.0)
    y = net(col([0.5]), check=False)
    assert float(y) == pytest.approx(1.5)  # tangent line 2 - x, not 1/x = 2


@pytest.mark.parametrize("shift", ["unit", "scaled", 0.3])
def test_square_exact(shift):
    net = square_network(0.2, 7.0, shift=shift)
    x = col(torch.linspace(0.2, 7.0, 3001, dtype=torch.float64))
    assert ((net(x) - x**2) / x**2).abs().max() < 1e-11
    assert (net.depth, net.width) == (2, 3)


def test_product_exact_and_structure():
    net = product_network((0.5, 3.0), (1.0, 20.0))
    g = torch.Generator().manual_seed(0)
    u = 0.5 + 2.5 * torch.rand(5000, dtype=torch.float64, generator=g)
    v = 1.0 + 19.0 * torch.rand(5000, dtype=torch.float64, generator=g)
    out = net(torch.stack([u, v], -1))[:, 0]
    assert ((out - u * v) / (u * v)).abs().max() < 1e-11
    assert (net.depth, net.width) == (2, 9)


@pytest.mark.parametrize("delta", [1e-1, 1e-2, 1e-3])
def test_ratio_exact_float64_and_structure(delta):
    net = ratio_network(delta)
    x = ratio_grid(delta, 101)
    err = ratio_errors(net(x), x)
    assert err["sup"] < 1e-9
    assert (net.depth, net.width) == (3, 10)
    # weights grow like delta^-2: the price of exact division
    assert 1.0 / delta**2 <= net.max_weight <= 10.0 / delta**2


def test_ratio_general_ranges():
    net = ratio_network(0.05, a_max=3.0, b_max=2.0)
    g = torch.Generator().manual_seed(1)
    p = 3.0 * torch.rand(4000, dtype=torch.float64, generator=g)
    q = 0.05 + 1.95 * torch.rand(4000, dtype=torch.float64, generator=g)
    out = net(torch.stack([p, q], -1))[:, 0]
    assert (out - p / q).abs().max() < 1e-9


def test_scaled_shift_better_conditioned_than_unit():
    d = 1e-3
    x = ratio_grid(d, 101)
    e_unit = ratio_errors(ratio_network(d, shift="unit")(x), x)["sup"]
    e_scaled = ratio_errors(ratio_network(d, shift="scaled")(x), x)["sup"]
    assert e_scaled < e_unit / 10


def test_network_is_made_of_linear_and_signrelu():
    net = ratio_network(0.1)
    assert all(isinstance(m, torch.nn.Linear) for m in net.layers)
    assert isinstance(net.act, SignReLU)
    # forward equals a manual pass through the layers
    x = ratio_grid(0.1, 11)
    h = x
    for lin in net.layers[:-1]:
        h = torch.where(lin(h) >= 0, lin(h), lin(h) / (1 + lin(h).abs()))
    assert torch.allclose(net.layers[-1](h), net(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("M", [10.0, 1e3, 1e5])
def test_relu_emulation_error_is_closed_form(M):
    net = relu_emulation(M)
    R = 20.0
    x = col(torch.linspace(-R, R, 400_001, dtype=torch.float64))
    err = float((net(x) - x.clamp(min=0)).abs().max())
    assert err == pytest.approx(relu_emulation_sup_error(M, R), rel=1e-10)
    assert relu_emulation_sup_error(M, 1e12) == pytest.approx(1 / M, rel=1e-6)
    assert (
        float((net(x[x[:, 0] >= 0].reshape(-1, 1)) - x[x[:, 0] >= 0].reshape(-1, 1)).abs().max())
        < 1e-12
    )


def test_summary_counts():
    s = ratio_network(0.01).summary()
    assert s["depth"] == 3 and s["width"] == 10
    assert s["n_parameters"] > 0 and s["max_weight"] > 1e4


@pytest.mark.parametrize("delta", [0.0, -1e-3, float("nan")])
def test_bad_delta(delta):
    with pytest.raises(ValueError, match="delta"):
        ratio_network(delta)


def test_bad_arguments():
    with pytest.raises(ValueError, match="c"):
        reciprocal_network(0.0)
    with pytest.raises(ValueError, match="delta"):
        ratio_network(1.5, b_max=1.0)
    with pytest.raises(ValueError, match="square domain"):
        square_network(2.0, 1.0)
    with pytest.raises(ValueError, match="shift"):
        square_network(1.0, 2.0, shift="bogus")
    with pytest.raises(ValueError, match="u_range"):
        product_network((0.0, 1.0), (1.0, 2.0))
    with pytest.raises(ValueError, match="M"):
        relu_emulation(-1.0)
    with pytest.raises(TypeError):
        ratio_network("small")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layers"):
        SignReLUNetwork([])


def test_inputs_outside_domain_rejected():
    net = ratio_network(0.01)
    with pytest.raises(ValueError, match=r"x\[:, 1\]"):
        net(torch.tensor([[0.5, 0.001]], dtype=torch.float64))  # denominator below delta
    with pytest.raises(ValueError, match=r"x\[:, 0\]"):
        net(torch.tensor([[-0.1, 0.5]], dtype=torch.float64))  # negative numerator
    with pytest.raises(ValueError, match="shape"):
        net(torch.tensor([0.5, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="domain"):
        reciprocal_network(0.1)(col([0.05]))


def test_trained_baseline_runs_and_is_worse_than_gadget():
    d = 0.05
    net = fit_ratio_mlp(d, "relu", width=16, depth=2, steps=60, seed=0)
    x = ratio_grid(d, 41)
    with torch.no_grad():
        e = ratio_errors(net(x.float()).double(), x)
    assert e["sup"] > 1e-4 > ratio_errors(ratio_network(d)(x), x)["sup"]
    with pytest.raises(ValueError, match="delta"):
        fit_ratio_mlp(1.5)


def _dense_b(delta, knots):
    b = torch.exp(torch.linspace(math.log(delta), 0.0, 100_001, dtype=torch.float64))
    return torch.sort(
        torch.cat([b, knots, torch.linspace(delta, 1.0, 100_001, dtype=torch.float64)])
    ).values


@pytest.mark.parametrize("placement", ["free", "geometric", "uniform"])
@pytest.mark.parametrize("delta", [1e-1, 1e-3])
@pytest.mark.parametrize("K", [1, 7, 40])
def test_relu_reciprocal_error_is_closed_form(placement, delta, K):
    net = relu_reciprocal_network(delta, K, placement=placement)
    knots = reciprocal_knots(delta, K, placement=placement)
    assert net[0].out_features == K and isinstance(net[1], torch.nn.ReLU)
    b = _dense_b(delta, knots)
    err = net(b[:, None])[:, 0] - 1 / b
    e = relu_reciprocal_sup_error(delta, K, placement=placement)
    # the sup error is attained (to grid resolution) and never exceeded; both signs occur
    assert float(err.abs().max()) <= e * (1 + 1e-9)
    assert float(err.abs().max()) >= e * (1 - 1e-3)
    assert float(err.min()) < 0 < float(err.max()) or K == 1
    # at the knots the network is the interpolant shifted down by e/2
    at = net(knots[:, None])[:, 0] - 1 / knots
    assert torch.allclose(at, torch.full_like(at, -e), rtol=1e-9, atol=1e-12 / delta)


@pytest.mark.parametrize("delta", [0.5, 1e-2, 1e-6])
def test_free_knots_equalise_error_and_beat_other_placements(delta):
    K = 12
    e = {
        p: relu_reciprocal_sup_error(delta, K, placement=p)
        for p in ["free", "geometric", "uniform"]
    }
    closed = (delta**-0.5 - 1.0) ** 2 / (2 * K**2)
    assert e["free"] == pytest.approx(closed, rel=1e-9)
    assert e["free"] * delta < 1 / (2 * K**2)  # relative error bounded whatever delta
    assert e["free"] <= e["geometric"] * (1 + 1e-12) and e["free"] <= e["uniform"] * (1 + 1e-12)
    if delta < 1e-3:  # uniform knots cannot resolve a vanishing denominator
        assert e["uniform"] * delta > 0.4


def test_relu_reciprocal_bad_arguments():
    with pytest.raises(ValueError, match="K must be a positive integer"):
        reciprocal_knots(0.1, 0)
    with pytest.raises(ValueError, match="delta must be < b_max"):
        reciprocal_knots(2.0, 4)
    with pytest.raises(ValueError, match="placement"):
        relu_reciprocal_network(0.1, 4, placement="chebyshev")
    with pytest.raises(ValueError, match="delta"):
        relu_reciprocal_sup_error(-1.0, 4)


# ---- normalised division, deep ReLU rivals, hinge approximants ------------------------------
from companion.signrelu import (  # noqa: E402
    ReLUNetwork,
    bounded_ratio_grid,
    hinge_network,
    ratio_approximant,
    reciprocal_relative_error,
    relu_product_network,
    relu_ratio_network,
    relu_square_network,
)


@pytest.mark.parametrize("delta", [1e-1, 1e-3, 1e-4])
def test_normalised_ratio_exact_with_small_weights(delta):
    net = ratio_network(delta, scale="normalised")
    raw = ratio_network(delta)
    x = ratio_grid(delta, 101)
    assert ratio_errors(net(x), x)["sup"] < 1e-11
    assert net.max_weight == pytest.approx(9 / delta, rel=1e-12)
    assert raw.max_weight == pytest.approx((2 + 1 / delta) ** 2, rel=1e-12)
    assert (net.depth, net.width) == (raw.depth, raw.width)
    # in float32 the normalised construction loses far less on {a <= b}
    xc = bounded_ratio_grid(delta, 201, 11)
    tc = xc[:, 0] / xc[:, 1]
    e32 = lambda m: float((m.float()(xc.float())[:, 0].double() - tc).abs().max())  # noqa: E731
    if delta <= 1e-3:
        assert e32(net) < 1e-3 * e32(raw)
    with pytest.raises(ValueError, match="scale"):
        ratio_network(delta, scale="log")


@pytest.mark.parametrize("m", [1, 3, 6])
def test_relu_square_and_product_bounds(m):
    x = col(torch.linspace(0, 1, 20001, dtype=torch.float64))
    e = relu_square_network(m)(x) - x**2
    assert float(e.min()) >= -1e-15 and float(e.max()) <= 4.0 ** (-m - 1) + 1e-15
    assert float(e.max()) > 0.9 * 4.0 ** (-m - 1)  # the bound is attained: not exact
    u = torch.rand(5000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    net = relu_product_network(m)
    assert isinstance(net, ReLUNetwork) and isinstance(net.act, torch.nn.ReLU)
    assert float((net(u)[:, 0] - u[:, 0] * u[:, 1]).abs().max()) <= 2 * 4.0 ** (-m - 1) + 1e-15
    assert (net.depth, net.width) == (m, 9)


@pytest.mark.parametrize("delta,K,m", [(1e-2, 8, 3), (1e-3, 32, 9), (1e-4, 64, 12)])
def test_relu_ratio_within_bound_on_bounded_ratios(delta, K, m):
    net = relu_ratio_network(delta, K, m)
    xc = bounded_ratio_grid(delta, 2001, 21)
    err = float((net(xc)[:, 0] - xc[:, 0] / xc[:, 1]).abs().max())
    bound = reciprocal_relative_error(delta, K) + 2 * 4.0 ** (-m - 1) / delta
    assert err <= bound * (1 + 1e-9)
    assert err > 0.3 * bound  # and not far below it: the bound describes the network
    assert net.depth == m + 2
    # the relative error of the geometric interpolant shrinks like log^2(1/delta)/(8 K^2)
    approx = math.log(1 / delta) ** 2 / (8 * K**2)
    assert reciprocal_relative_error(delta, K) == pytest.approx(approx, rel=0.1)


def test_relu_ratio_clip_is_min_max_of_the_unclipped_output():
    delta, K, m = 1e-3, 8, 1  # a coarse network whose raw error far exceeds the range [0, 1]
    raw, clipped = relu_ratio_network(delta, K, m), relu_ratio_network(delta, K, m, clip=1.0)
    xc = bounded_ratio_grid(delta, 401, 11)
    y_raw, y_clip = raw(xc)[:, 0], clipped(xc)[:, 0]
    assert float(y_raw.max()) > 1.5 or float(y_raw.min()) < -0.5  # the clip has work to do
    assert torch.allclose(y_clip, y_raw.clamp(0.0, 1.0), atol=1e-12, rtol=0)
    assert clipped.depth == raw.depth + 1
    assert clipped.n_parameters > raw.n_parameters  # the clip layer is counted
    err = float((y_clip - xc[:, 0] / xc[:, 1]).abs().max())
    assert err <= 1.0 + 1e-12
    with pytest.raises(ValueError):
        relu_ratio_network(delta, K, m, clip=0.0)


def test_relu_rivals_bad_arguments():
    for bad in [0, -1, 1.5, True]:
        with pytest.raises(ValueError):
            relu_square_network(bad)
    with pytest.raises(ValueError):
        relu_ratio_network(0.0, 4, 2)
    with pytest.raises(ValueError):
        relu_ratio_network(1e-2, 0, 2)
    with pytest.raises(ValueError):
        bounded_ratio_grid(1.5)
    with pytest.raises(ValueError, match="must lie in"):
        relu_ratio_network(1e-2, 4, 2)(torch.tensor([[0.5, 1e-3]], dtype=torch.float64))


def test_hinge_network_relu_exact_and_signrelu_bound():
    xk = torch.linspace(-2, 3, 41, dtype=torch.float64)
    f = torch.sin(2 * xk) + xk**2
    xe = torch.linspace(-2, 3, 4001, dtype=torch.float64)
    pl = torch.as_tensor(np.interp(xe.numpy(), xk.numpy(), f.numpy()))
    relu = hinge_network(xk, f)
    assert isinstance(relu, ReLUNetwork)
    assert float((relu(xe[:, None])[:, 0] - pl).abs().max()) < 1e-12
    assert relu.n_parameters <= 3 * 40 + 1
    s = (f[1:] - f[:-1]) / (xk[1:] - xk[:-1])
    tv = float((s[1:] - s[:-1]).abs().sum())
    for M in [1e2, 1e4, 1e6]:
        sr = hinge_network(xk, f, M=M)
        dev = float((sr(xe[:, None])[:, 0] - pl).abs().max())
        assert dev <= tv / M * (1 + 1e-9)
        assert dev > 0.05 * tv / M  # the emulation error is real, of order 1/M
    with pytest.raises(ValueError, match="increasing"):
        hinge_network(xk.flip(0), f)
    with pytest.raises(ValueError, match="equal length"):
        hinge_network(xk, f[:-1])
    with pytest.raises(ValueError, match="must lie in"):
        relu(torch.tensor([[3.5]], dtype=torch.float64))


def test_ratio_approximant_tends_to_interpolant_ratio():
    xk = torch.linspace(0, 1, 33, dtype=torch.float64)
    f1 = 0.5 + 0.3 * torch.sin(3 * xk)
    f2 = 0.2 + xk**2
    xe = torch.linspace(0, 1, 2001, dtype=torch.float64)
    p1 = np.interp(xe.numpy(), xk.numpy(), f1.numpy())
    p2 = np.interp(xe.numpy(), xk.numpy(), f2.numpy())
    target = torch.as_tensor(p1 / p2)
    errs = []
    for M in [1e3, 1e5, 1e7]:
        net = ratio_approximant(xk, f1, f2, M, delta=0.1, a_max=1.5, b_max=2.0)
        errs.append(float((net(xe[:, None])[:, 0] - target).abs().max()))
    assert errs[-1] < 1e-5 and errs[0] > 10 * errs[1] > 100 * errs[2]
    assert net.depth == 5 and net.width == 2 * 32
    with pytest.raises(ValueError, match=">= 0"):
        ratio_approximant(xk, f1 - 1, f2, 1e3, 0.1, 1.5, 2.0)
    with pytest.raises(ValueError, match="exceed delta"):
        ratio_approximant(xk, f1, f2, 1e3, 0.5, 1.5, 2.0)
    with pytest.raises(ValueError, match="a_max"):
        ratio_approximant(xk, f1, f2, 1e3, 0.1, 0.5, 2.0)


def test_ratio_approximant_has_no_clip_offset():
    # linear f1, f2: every hinge network is exact (only its first neuron, always active, has a
    # non-zero coefficient), so the approximant must return f1/f2 to round-off at any M; a clip
    # layer that adds a/M to both inputs would err by about (a/M)|1 - r|/f2 = 1e-3 here
    xk = torch.linspace(0, 1, 17, dtype=torch.float64)
    f1, f2 = 0.1 + 0.8 * xk, 0.5 + 0.4 * xk
    xe = torch.linspace(0, 1, 1001, dtype=torch.float64)
    for M in [1e2, 1e4]:
        net = ratio_approximant(xk, f1, f2, M, delta=0.2, a_max=1.5, b_max=2.0)
        out = net(xe[:, None])[:, 0]
        assert float((out - (0.1 + 0.8 * xe) / (0.5 + 0.4 * xe)).abs().max()) < 1e-10
    # inputs below the clip level are raised into the division's domain, never below it
    net = ratio_approximant(xk, torch.zeros_like(xk), f2, 1e2, delta=0.2, a_max=1.5, b_max=2.0)
    out = net(xe[:, None])[:, 0]
    assert bool((out >= 0).all()) and float(out.max()) <= 1e-2 / 0.5 + 1e-12


def test_ratio_approximant_error_bounded_as_denominator_vanishes():
    # Gaussian-tailed f2 on wider and wider windows: with the offset removed, the sup error of
    # the ratio grows far slower than 1/inf f2 (a constant input error e gives e/inf f2)
    errs, infs = [], []
    for k in [3.0, 4.0, 5.0]:
        xk = torch.linspace(-k, k, 257, dtype=torch.float64)
        xe = torch.linspace(-k, k, 4001, dtype=torch.float64)
        g = lambda x: torch.exp(-0.5 * x**2)  # noqa: E731
        f1k, f2k = (1.5 + torch.tanh(xk)) * g(xk), g(xk)
        net = ratio_approximant(xk, f1k, f2k, 1e9, 0.5 * float(f2k.min()), 3.0, 1.5)
        err = (net(xe[:, None])[:, 0] - (1.5 + torch.tanh(xe))).abs().max()
        errs.append(float(err))
        infs.append(float(g(xe).min()))
    slope = math.log(errs[-1] / errs[0]) / math.log(infs[0] / infs[-1])
    assert slope < 0.5


# --------------------------------------------------------------------------------------------
# Conditioning of the exact division under perturbed inputs
# --------------------------------------------------------------------------------------------
from companion.signrelu import division_conditioning  # noqa: E402


def _perturbed(delta, eps, s1, s2):
    net = ratio_network(delta / 2, a_max=1 + eps, b_max=1 + eps, scale="normalised")
    x = bounded_ratio_grid(delta, 201, 11)
    f1, f2 = x[:, 0] + eps, x[:, 1]  # f1 >= eps, so f1 + e1 >= 0
    return net, f1.clamp(max=1.0), f2, torch.full_like(f1, s1 * eps), torch.full_like(f2, s2 * eps)


@pytest.mark.parametrize("s1,s2", [(1, 1), (1, -1), (-1, 1), (-1, -1)])
@pytest.mark.parametrize("delta", [1e-1, 1e-3])
def test_division_conditioning_float64_is_the_exact_perturbed_error(delta, s1, s2):
    eps = 1e-4
    net, f1, f2, e1, e2 = _perturbed(delta, eps, s1, s2)
    c = division_conditioning(net, f1, f2, e1, e2)
    direct = ((f1 + e1) / (f2 + e2) - f1 / f2).abs()
    # the network's error is the exact perturbed error up to round-off of order eps64 * 36/delta^2
    assert torch.allclose(c.exact, direct, rtol=0, atol=1e-15)
    assert float((c.error - c.exact).abs().max()) <= 2.2e-16 * 36 / delta**2 * 10
    assert float(c.roundoff.max()) <= 2.2e-16 * 36 / delta**2 * 10
    # below the first-order bound plus its second-order remainder, and of the bound's size
    assert bool((c.exact <= c.bound2 * (1 + 1e-12)).all())
    assert bool((c.bound <= c.bound2).all())
    eta = eps / delta
    assert float((c.error / c.bound).max()) <= 1 / (1 - eta) + 1e-3


def test_division_conditioning_bound_is_attained_by_opposite_signs():
    # e1 = +eps, e2 = -eps: |e1 - r e2| = eps (1 + r), the first-order bound up to f2/(f2+e2)
    eps, delta = 1e-4, 1e-2
    net, f1, f2, e1, e2 = _perturbed(delta, eps, 1, -1)
    c = division_conditioning(net, f1, f2, e1, e2)
    assert torch.allclose(c.exact, c.bound * f2 / (f2 + e2), rtol=1e-9, atol=0)


def test_division_conditioning_float32_roundoff_grows_like_one_over_delta():
    eps = 1e-4
    ratios = []
    for delta in (1e-1, 1e-2, 1e-3):
        net, f1, f2, e1, e2 = _perturbed(delta, eps, 1, 1)
        c = division_conditioning(net, f1, f2, e1, e2, dtype=torch.float32)
        ratios.append(float((c.roundoff / c.bound).max()))
        # the network is left in float64
        assert net.layers[0].weight.dtype == torch.float64
    assert ratios[0] < 1 < ratios[-1]
    slope = math.log(ratios[-1] / ratios[0]) / math.log(100.0)
    assert 0.6 < slope < 1.4  # round-off ~ eps32 / delta^2 against a bound ~ eps / delta


def test_division_conditioning_rejects_bad_inputs():
    net = ratio_network(0.05, scale="normalised")
    f = torch.full((3,), 0.5, dtype=torch.float64)
    z = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="one shape"):
        division_conditioning(net, f, f, z, torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="f2 must be > 0"):
        division_conditioning(net, f, -f, z, z)
    with pytest.raises(ValueError, match=r"\|e2\| must be < f2"):
        division_conditioning(net, f, f, z, f)
    with pytest.raises(ValueError, match="domain"):
        division_conditioning(net, f, f, -2 * f, z)  # perturbed numerator below 0
    with pytest.raises(ValueError, match="dtype"):
        division_conditioning(net, f, f, z, z, dtype=torch.float16)
    with pytest.raises(ValueError, match="finite"):
        division_conditioning(net, f, f, z * float("nan"), z)
    with pytest.raises(ValueError, match="two inputs"):
        division_conditioning(reciprocal_network(0.1), f, f, z, z)


# --------------------------------------------------------------------------------------------
# The approximant's function in exact arithmetic, and its float64 round-off
# --------------------------------------------------------------------------------------------
from companion.signrelu import (  # noqa: E402
    hinge_exact,
    hinge_magnitude,
    ratio_approximant_exact,
)


def test_hinge_exact_is_the_hinge_networks_function():
    xk = torch.linspace(-2, 3, 41, dtype=torch.float64)
    f = torch.sin(2 * xk) + xk**2
    xe = torch.linspace(-2, 3, 3001, dtype=torch.float64)
    pl = torch.as_tensor(np.interp(xe.numpy(), xk.numpy(), f.numpy()))
    assert float((hinge_exact(xk, f, xe) - pl).abs().max()) < 1e-14  # M=None: the interpolant
    for M in [1e2, 1e5]:
        net = hinge_network(xk, f, M=M)
        # the network sums terms of size <= hinge_magnitude: it agrees to that round-off scale
        gap = (net(xe[:, None])[:, 0] - hinge_exact(xk, f, xe, M)).abs()
        assert bool((gap <= 64 * 2.2e-16 * hinge_magnitude(xk, f, xe)).all())
        # and the emulation term is really there: a wrong implementation returning the
        # interpolant would be off by ~ sum |c_j| / M
        assert float((hinge_exact(xk, f, xe, M) - pl).abs().max()) > 1e-3 / M
    with pytest.raises(ValueError, match="knots' range"):
        hinge_exact(xk, f, torch.tensor([3.5], dtype=torch.float64), 1e3)
    with pytest.raises(ValueError, match="increasing"):
        hinge_exact(xk.flip(0), f, xe)
    with pytest.raises(ValueError, match="finite"):
        hinge_magnitude(xk, f, torch.tensor([float("nan")], dtype=torch.float64))
    with pytest.raises(ValueError, match="M"):
        hinge_exact(xk, f, xe, M=-1.0)


def test_hinge_exact_against_extended_precision():
    # the network evaluated in 80-bit arithmetic (where numpy has it) is the same function
    if np.finfo(np.longdouble).eps > 1e-18:
        pytest.skip("no extended precision on this platform")
    xk = torch.linspace(-4, 4, 129, dtype=torch.float64)
    f = torch.exp(-0.5 * xk**2)
    xe = torch.linspace(-4, 4, 801, dtype=torch.float64)
    M = 1e6
    net = hinge_network(xk, f, M=M)
    h = xe.numpy().astype(np.longdouble)[:, None]
    for i, lin in enumerate(net._linears):
        w, b = (v.detach().numpy().astype(np.longdouble) for v in (lin.weight, lin.bias))
        h = h @ w.T + b
        if i < len(net._linears) - 1:
            h = np.where(h >= 0, h, h / (1 + np.abs(h)))
    ref = h[:, 0]
    ex = hinge_exact(xk, f, xe, M).numpy().astype(np.longdouble)
    # relative to the value, far below the float64 network's round-off in the tails
    assert float(np.max(np.abs(ex - ref) / np.abs(ref))) < 1e-13


def test_ratio_approximant_exact_matches_network_and_removes_its_roundoff():
    # Gaussian tails: at a moderate floor the float64 network equals its exact-arithmetic
    # function to round-off; at a small floor the network's round-off (~ eps 9/delta^2) is far
    # larger than the exact function's error, which stays at the interpolation error
    g = lambda x: torch.exp(-0.5 * x**2)  # noqa: E731
    out = {}
    for k in [2.0, 5.5]:
        xk = torch.linspace(-k, k, 1025, dtype=torch.float64)
        xe = torch.linspace(-k, k, 2001, dtype=torch.float64)
        f1k, f2k = (1.5 + torch.tanh(xk)) * g(xk), g(xk)
        delta = 0.5 * float(f2k.min())
        net = ratio_approximant(xk, f1k, f2k, 1e9, delta, 3.0, 1.5)
        ex = ratio_approximant_exact(xk, f1k, f2k, 1e9, delta, xe)
        target = 1.5 + torch.tanh(xe)
        out[k] = (
            float((net(xe[:, None])[:, 0] - ex).abs().max()),
            float((ex - target).abs().max()),
            2.2e-16 * 9 / delta**2,
        )
    gap2, err2, _ = out[2.0]
    assert gap2 < 1e-9 and err2 < 1e-5
    gap5, err5, bound5 = out[5.5]
    assert gap5 > 100 * err5 and gap5 <= bound5
    # bounded in exact arithmetic: only the interpolation error, ~ spacing^2, grows
    assert err5 < 2 * err2 * (5.5 / 2.0) ** 2
    # the clip layer in closed form: a numerator below a/M is raised to at most a/M
    xk = torch.linspace(0, 1, 9, dtype=torch.float64)
    ex = ratio_approximant_exact(xk, torch.zeros_like(xk), 0.5 + xk, 1e2, 0.2, xk)
    assert bool((ex > 0).all()) and float(ex.max()) <= 1e-2 / 0.5
    with pytest.raises(ValueError, match="delta"):
        ratio_approximant_exact(xk, xk, 0.5 + xk, 1e2, -0.1, xk)
