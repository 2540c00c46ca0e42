"""Tests of companion.digits: data, classifier, feature-space Frechet distance, image grid."""

from __future__ import annotations

import pytest
import torch

from companion.digits import (
    DigitsClassifier,
    digit_grid,
    digits_fd,
    load_digits,
    train_digits_classifier,
)


def test_digits_helpers():
    x, y = load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    clf, acc = train_digits_classifier(x, y, steps=150, seed=0)
    assert acc > 0.85
    assert digits_fd(clf, x[:600], x[:600]) < 1e-6
    noise = torch.rand(600, 64, dtype=torch.float64) * 2 - 1
    assert digits_fd(clf, x[:600], noise) > 10 * digits_fd(clf, x[:600], x[600:1200])
    assert digit_grid(x, 2, 3).shape == (2 * 9 + 1, 3 * 9 + 1)
    with pytest.raises(ValueError, match="images"):
        digit_grid(x[:3], 2, 3)
    with pytest.raises(ValueError, match="x must"):
        train_digits_classifier(x[:, :10], y)


def test_classifier_training_is_seeded_and_validates():
    x, y = load_digits()
    a, acc_a = train_digits_classifier(x[:400], y[:400], steps=20, width=16, feature_dim=4, seed=3)
    b, acc_b = train_digits_classifier(x[:400], y[:400], steps=20, width=16, feature_dim=4, seed=3)
    assert acc_a == acc_b
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.features(x[:5].float()).shape == (5, 4) and a(x[:5].float()).shape == (5, 10)
    with pytest.raises(ValueError, match="steps"):
        train_digits_classifier(x, y, steps=0)
    with pytest.raises(ValueError, match="feature_dim"):
        DigitsClassifier(feature_dim=0)
