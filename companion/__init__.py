"""diffusion-companion: exact ground truth, samplers and metrics for the companion book.

Modules (one concept each):

* :mod:`companion.schedules`: signal-to-noise schedules, SDE coefficients, noise grids;
* :mod:`companion.gmm`: Gaussian mixtures with closed-form noised densities, scores,
  denoisers and reverse kernels;
* :mod:`companion.samplers`: k-diffusion-style samplers as step functions;
* :mod:`companion.grid`: exact 1-D density propagation, distances and KLs by quadrature, the
  exact output KL of a 1-D sampler run;
* :mod:`companion.chains`: discrete variance-preserving chains with their exact per-step, path
  (chain-rule) and output KLs;
* :mod:`companion.metrics`: sample-based distances with bootstrap error bars;
* :mod:`companion.nets`, :mod:`companion.training`: SignReLU, MLP denoisers, DSM training;
* :mod:`companion.fitting`: log-log rate fits with confidence intervals;
* :mod:`companion.ledger`: the claims ledger that notebooks write;
* :mod:`companion.profiles`, :mod:`companion.style`, :mod:`companion.progress`: notebook plumbing.
"""

__version__ = "0.1.0"
