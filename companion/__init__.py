"""diffusion-companion: exact ground truth, samplers and metrics for the companion book.

Modules (one concept each):

* :mod:`companion.schedules`: signal-to-noise schedules, SDE coefficients, noise grids;
* :mod:`companion.gmm`: Gaussian mixtures (diagonal and full covariance) with closed-form
  noised densities, scores, denoisers and reverse kernels;
* :mod:`companion.patch_prior`: a natural-image prior, a full-covariance Gaussian mixture of
  8x8 patches of scikit-learn's sample photographs, fitted once and cached;
* :mod:`companion.samplers`: k-diffusion-style samplers as step functions;
* :mod:`companion.grid`: exact 1-D density propagation, distances and KLs by quadrature, the
  exact output KL of a 1-D sampler run;
* :mod:`companion.chains`: discrete variance-preserving chains with their exact per-step, path
  (chain-rule) and output KLs;
* :mod:`companion.metrics`: sample-based distances with bootstrap intervals, and distances to
  an exact target against their noise floors;
* :mod:`companion.information`: entropy, mutual information, mmse, mismatch and KL through the
  Gaussian channel, and the information a conditional target carries about its context;
* :mod:`companion.conditional_targets`: conditional 1-D targets (Gaussian-mixture and
  Gumbel-Beta) with computable noised marginals;
* :mod:`companion.digits`: the 8x8 digits data, a digits classifier and its Frechet distance;
* :mod:`companion.nets`: SignReLU and MLP denoisers;
* :mod:`companion.training`: the one optimisation loop, DSM training of denoisers, minibatch
  regression fits;
* :mod:`companion.stats`: intervals with a declared kind and sample size (Student-t, paired,
  Bonferroni comparisons against rivals, refinement), least-squares rate fits, bootstrap, KS;
* :mod:`companion.convolution`: the noised mixture by direct numerical convolution, an
  independent check of :mod:`companion.gmm`;
* :mod:`companion.ledger`: the claims ledger that notebooks write;
* :mod:`companion.ntk`: networks in the NTK parameterisation, the empirical neural tangent
  kernel and lazy-regime gradient descent with per-eigenmode residuals (chapter 04);
* :mod:`companion.kernel_fit`: reverse kernels fitted to the exact per-step KL by quadrature
  (mixture kernels with network logits, mixtures of regressions, context feature maps;
  chapter 02);
* what is specific to one paper: :mod:`companion.signrelu` and :mod:`companion.ratio`
  (chapter 01), :mod:`companion.mixture_kernels` (02), :mod:`companion.s2n` (03),
  :mod:`companion.design_space` (04);
* :mod:`companion.profiles`, :mod:`companion.style`, :mod:`companion.progress`: notebook plumbing.
"""

__version__ = "0.1.0"
