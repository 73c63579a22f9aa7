"""Scores the paper reports: error rate, mean squared error, rejection.

All functions take network outputs ``(N, 10)`` and integer labels ``(N,)``.
"""

from __future__ import annotations

import numpy as np

# The paper's rejection criterion: reject digits until the rest has 1% error.
TARGET_ERROR = 0.01


def targets_pm1(labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """+1 for the labelled class, -1 elsewhere: the paper's targets. (N, n_classes)."""
    t = -np.ones((len(labels), n_classes))
    t[np.arange(len(labels)), labels] = 1.0
    return t


def misses(outputs: np.ndarray, labels: np.ndarray) -> int:
    """Number of digits whose most active output is not their label."""
    return int(np.count_nonzero(outputs.argmax(axis=1) != labels))


def error_rate(outputs: np.ndarray, labels: np.ndarray) -> float:
    return misses(outputs, labels) / len(labels)


def mse_pm1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared error against +-1 targets, averaged over digits and output units."""
    return float(np.mean((outputs - targets_pm1(labels, outputs.shape[1])) ** 2))


def scores(outputs: np.ndarray, labels: np.ndarray, squashed: bool = True) -> dict:
    """Error rate, misses, MSE against +-1 targets (the paper's figure) and its
    half (what SN2.8 prints: its half-sum cost over the outputs); the MSEs are
    None for unsquashed outputs (logits), where they would mean nothing."""
    mse = mse_pm1(outputs, labels) if squashed else None
    return {"error": error_rate(outputs, labels), "misses": misses(outputs, labels), "mse": mse,
            "half_mse": None if mse is None else mse / 2}


def output_gap(outputs: np.ndarray) -> np.ndarray:
    """Gap between the two most active outputs of each digit: the paper's confidence."""
    top2 = np.partition(outputs, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def rejection_curve(outputs: np.ndarray, labels: np.ndarray):
    """Error among accepted digits against the fraction rejected.

    Digits are rejected in order of increasing output gap; a threshold can only
    fall between distinct gaps, so ties are accepted or rejected together.
    Returns ``(rejected_fraction, error_among_accepted)``, both ascending in
    rejection, starting at 0 rejected (all accepted) and excluding "reject all".
    """
    n = len(labels)
    gap = output_gap(outputs)
    wrong = outputs.argmax(axis=1) != labels
    order = np.argsort(-gap, kind="stable")
    gap_sorted = gap[order]
    cum_wrong = np.cumsum(wrong[order])
    # k accepted digits: only k at the end of a run of equal gaps is a threshold.
    ends = np.flatnonzero(np.r_[gap_sorted[1:] != gap_sorted[:-1], True])
    k = ends + 1
    rejected = 1.0 - k / n
    err = cum_wrong[ends] / k
    return rejected[::-1].copy(), err[::-1].copy()


def rejection_at(outputs: np.ndarray, labels: np.ndarray, target_error: float = TARGET_ERROR) -> float:
    """Smallest fraction of digits to reject so the rest has error <= target_error.

    The paper: 12.1% of the test digits rejected for 1% error, thresholds on the
    gap between the two most active outputs, set on the test set itself.
    """
    rejected, err = rejection_curve(outputs, labels)
    ok = np.flatnonzero(err <= target_error + 1e-12)
    return float(rejected[ok[0]]) if len(ok) else 1.0


def gap_threshold(outputs: np.ndarray, labels: np.ndarray, target_error: float = TARGET_ERROR) -> float:
    """The output gap a digit needs to be accepted (``gap >= threshold``) so that the
    accepted digits have error <= target_error, rejecting as few as possible: the
    smallest gap among the digits :func:`rejection_at` accepts. ``inf`` when even
    the most confident digit alone errs more (reject all)."""
    rejected, err = rejection_curve(outputs, labels)
    ok = np.flatnonzero(err <= target_error + 1e-12)
    if not len(ok):
        return float("inf")
    n_accepted = round((1.0 - rejected[ok[0]]) * len(labels))
    return float(np.sort(output_gap(outputs))[::-1][n_accepted - 1])


def confusion_matrix(outputs: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels, outputs.argmax(axis=1)), 1)
    return cm
