import math

import numpy as np
import pytest
import torch

from companion import metrics
from companion.nets import MLP, MLPDenoiser, SignReLU, make_activation
from companion.profiles import get_device, resolve, seed_everything
from companion.training import dsm_loss, get_weighting, lognormal, loguniform, train


def test_frechet_closed_form(gen):
    x = torch.randn(100_000, 2, dtype=torch.float64, generator=gen)
    y = torch.randn(100_000, 2, dtype=torch.float64, generator=gen) * 2 + torch.tensor([1.0, 0.0])
    # |mu|^2 + tr(I + 4I - 2*2I) = 1 + 2
    assert abs(metrics.frechet_distance(x, y) - 3.0) < 0.05


def test_sliced_w2_shift(gen):
    x = torch.randn(50_000, 1, dtype=torch.float64, generator=gen)
    y = torch.randn(40_000, 1, dtype=torch.float64, generator=gen) + 0.5
    assert abs(metrics.sliced_w2(x, y, n_projections=16, generator=gen) - 0.5) < 0.02


def test_mmd_separates_and_bootstrap_covers(gen):
    x = torch.randn(400, 2, dtype=torch.float64, generator=gen)
    y = torch.randn(400, 2, dtype=torch.float64, generator=gen)
    z = torch.randn(400, 2, dtype=torch.float64, generator=gen) + 1.0
    same = metrics.bootstrap(metrics.mmd, x, y, n_resamples=200)
    diff = metrics.bootstrap(metrics.mmd, x, z, n_resamples=200)
    assert (same.kind, same.n) == ("bootstrap", 200)
    assert abs(same.value) < 3 * same.half_width + 1e-3
    assert diff.low > 0.05
    with pytest.raises(ValueError, match="equal d"):
        metrics.mmd(x, torch.zeros(5, 3))


def test_signrelu_values():
    f = SignReLU(a=2.0)
    x = torch.tensor([-3.0, -1.0, 0.0, 2.0])
    assert torch.allclose(f(x), torch.tensor([2 * -3 / 4, 2 * -1 / 2, 0.0, 2.0]))
    with pytest.raises(ValueError, match="a must be"):
        SignReLU(a=0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish2")


def test_denoiser_preconditioning():
    torch.manual_seed(0)
    net = MLPDenoiser(dim=2, width=16, depth=2)
    x = torch.randn(7, 2)
    # sigma -> 0: c_skip -> 1, c_out -> 0, so D(x, sigma) -> x
    assert torch.allclose(net(x, torch.full((7,), 1e-6)), x, atol=1e-5)
    eps = MLPDenoiser(dim=2, width=16, depth=2, parameterization="eps")
    assert torch.allclose(eps(x, 1e-7), x, atol=1e-5)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        net(torch.zeros(3, 1), 1.0)
    assert MLP(3, 1, width=4, depth=1)(torch.zeros(2, 3)).shape == (2, 1)


def test_full_batch_gd_on_fixed_noise_decreases_monotonically():
    torch.manual_seed(0)
    data = torch.randn(64, 1, generator=torch.Generator().manual_seed(1)) * 0.5 + 1.0
    net = MLPDenoiser(dim=1, width=32, depth=2, activation="relu")
    res = train(
        net,
        data,
        200,
        loguniform(0.05, 5.0),
        weighting="edm",
        optimizer="gd",
        lr=0.05,
        fixed_noise=True,
        n_noise=4,
        checkpoint_at=(100,),
        disable=True,
    )
    losses = np.array(res.losses)
    assert losses[-1] < 0.7 * losses[0]
    assert np.all(np.diff(losses) < 1e-6)  # small-step GD on a fixed objective never goes up
    assert 100 in res.checkpoints


def test_dsm_loss_at_optimum_is_the_mmse():
    # For Gaussian data N(0, v) the exact denoiser attains the weighted mmse: v s^2/(v + s^2)
    v, s = 0.5, 0.8
    gen = torch.Generator().manual_seed(0)
    x0 = math.sqrt(v) * torch.randn(400_000, 1, dtype=torch.float64, generator=gen)
    noise = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
    sig = torch.full((x0.shape[0],), s, dtype=torch.float64)
    loss = dsm_loss(
        lambda x, sg: v / (v + sg.unsqueeze(-1) ** 2) * x, x0, sig, noise, torch.ones_like(sig)
    )
    assert abs(float(loss) - v * s**2 / (v + s**2)) < 0.005
    assert torch.allclose(get_weighting("eps")(sig, 1.0), 1 / sig**2)
    ln = lognormal(-1.2, 1.2).sample(200_000, gen)
    assert abs(float(torch.log(ln).mean()) + 1.2) < 0.02


def test_profiles():
    cfg = resolve("ci", ci={"n": 1, "m": 2}, full={"n": 10, "m": 20}, n=None, m=5)
    assert cfg == {"n": 1, "m": 5}
    with pytest.raises(ValueError, match="unknown profile"):
        resolve("fast", ci={}, full={})
    with pytest.raises(ValueError, match="unknown setting"):
        resolve("ci", ci={"n": 1}, full={"n": 2}, q=3)
    g = seed_everything(3)
    assert torch.equal(
        torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(3))
    )
    assert get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")


def test_mmd_bootstrap_uses_the_fixed_kernel_of_the_full_samples(gen):
    """The Gram-matrix path of ``bootstrap(mmd, ...)`` gives mmd's value and exactly the interval
    of the generic path with the bandwidth held at the full samples' median."""
    x = torch.randn(300, 2, generator=gen, dtype=torch.float64)
    y = 1.3 * torch.randn(250, 2, generator=gen, dtype=torch.float64) + 0.2
    fast = metrics.bootstrap(metrics.mmd, x, y, n_resamples=200, seed=3)
    ell = metrics.median_bandwidth(x, y)
    slow = metrics.bootstrap(
        lambda a, b: metrics.mmd(a, b, bandwidth=ell), x, y, n_resamples=200, seed=3
    )
    assert fast.value == pytest.approx(metrics.mmd(x, y), rel=1e-12, abs=1e-15)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), rel=1e-10, abs=1e-14)
    assert fast.low < fast.value < fast.high
