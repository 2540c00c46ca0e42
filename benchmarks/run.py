"""Benchmarks: sampler throughput and overhead, grid propagation time, notebook runtimes.

Run ``python benchmarks/run.py`` (``--help`` for options). It prints one Markdown table per
measurement, with medians over ``--repeats`` runs, all taken in this one process so that the
ratios are comparable:

* samples/s of every sampler on ``--n`` 2-D samples x ``--steps`` steps with the analytic
  8-mode-ring denoiser, and its overhead over the same number of bare denoiser calls;
* the time of an exact 1-D grid propagation (2,500 nodes x 100 steps);
* each notebook's execution time in its last run (read from ``executed/results/*.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from companion import grid as G
from companion import samplers as S
from companion.gmm import GaussianMixture, ring_mixture
from companion.schedules import karras_sigmas

ROOT = Path(__file__).resolve().parents[1]
OPTIONS: dict[str, dict[str, float]] = {
    "euler_maruyama": {"rho": 1.0},
    "frozen_denoiser": {"rho": 1.0},
    "frozen_eps": {"rho": 1.0},
    "ddim": {"eta": 0.0},
}


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    """Wall time of one run of ``fn``."""
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs, after one untimed warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_samplers(n: int, steps: int, repeats: int, device: torch.device) -> list[str]:
    ring = ring_mixture(8, 2.0, 0.12, device=device)
    sigmas = karras_sigmas(steps, 0.002, 80.0, device=device)  # steps levels + final 0
    x = 80.0 * torch.randn(n, 2, dtype=torch.float64, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = [
        "| sampler | denoiser calls | time (s) | samples/s | overhead vs bare calls |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, sampler in S.SAMPLERS.items():
        opts = OPTIONS.get(name, {})
        calls: list[tuple[torch.Tensor, torch.Tensor]] = []

        def recording(z: torch.Tensor, s: torch.Tensor, calls: list = calls) -> torch.Tensor:
            calls.append((z, s))
            return ring.denoise(z, s)

        def run(sampler: Callable = sampler, opts: dict = opts) -> None:
            sampler(
                ring.denoise,
                x,
                sigmas,
                generator=torch.Generator(device).manual_seed(0),
                disable=True,
                **opts,
            )

        def bare(calls: list = calls) -> None:  # the same inputs, without the sampler around them
            for z, s in calls:
                ring.denoise(z, s)

        sampler(
            recording,
            x,
            sigmas,
            generator=torch.Generator(device).manual_seed(0),
            disable=True,
            **opts,
        )
        # interleave sampler and bare runs so that drifts of the machine cancel in each ratio
        pairs = [(timed(run, sync), timed(bare, sync)) for _ in range(repeats)]
        t = statistics.median(p[0] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        rows.append(f"| {name} | {len(calls)} | {t:.3f} | {n / t:,.0f} | {ratio:.3f}x |")
    return rows


def bench_grid(repeats: int) -> list[str]:
    target = GaussianMixture([0.25, 0.45, 0.3], [[-2.0], [0.3], [2.2]], [0.04, 0.15, 0.08])
    sigmas = karras_sigmas(100, 0.002, 80.0)
    rows = ["| propagation | nodes | steps | time (s) |", "|---|---:|---:|---:|"]
    for name in ["euler", "ddpm"]:
        t = median_time(
            lambda name=name: G.propagate(
                S.STEPS[name], target.denoise, sigmas, n_points=2500, disable=True
            ),
            repeats,
            lambda: None,
        )
        rows.append(f"| {name} | 2500 | 100 | {t:.3f} |")
    return rows


def notebook_times() -> list[str]:
    rows = ["| notebook | profile | runtime (s) | peak memory (MB) |", "|---|---|---:|---:|"]
    files = sorted((ROOT / "executed" / "results").glob("*.json"))
    for f in files:
        r = json.loads(f.read_text())
        rows.append(
            f"| {r['notebook']} | {r['profile']} | {r['runtime_s']:.1f} | "
            f"{r.get('peak_memory_mb', float('nan')):.0f} |"
        )
    if files:
        total = sum(json.loads(f.read_text())["runtime_s"] for f in files)
        rows.append(f"| **all** | | {total:.1f} | |")
    else:
        rows.append("| (no executed results: run `make book` first) | | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="samples per sampler run")
    ap.add_argument("--steps", type=int, default=50, help="sampler steps")
    ap.add_argument("--repeats", type=int, default=5, help="repeats (median reported)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}\n")
    print(f"Samplers: {args.n:,} 2-D samples, {args.steps} steps, exact ring denoiser, float64\n")
    print("\n".join(bench_samplers(args.n, args.steps, args.repeats, device)), "\n")
    print("Exact 1-D grid propagation (three-component mixture, Karras grid)\n")
    print("\n".join(bench_grid(args.repeats)), "\n")
    print("Notebook execution times (last run)\n")
    print("\n".join(notebook_times()))


if __name__ == "__main__":
    main()
