"""Scores the paper reports: error rate, mean squared error, rejection.

All functions take network outputs ``(N, 10)`` and integer labels ``(N,)``:
a digit 0-9, or :data:`NONE` for a picture that holds no digit (the junk set,
:mod:`lecun89.reader.junk`). A junk picture has no right digit: it is never a
digit error (error rates, the rejection curve and confusion matrices count the
digits only); how much junk a model accepts is the reader's measure
(:func:`lecun89.reader.network.digit_score`).

**MSE, one convention.** The MSE lecun89 shows (reports, summaries, the
terminal, the README) is *the paper's MSE*: half the squared error against
+-1 targets averaged over digits and the 10 outputs, what the paper's
simulator SN2.8 printed (its cost, 1/2 sum over the outputs, divided by their
number; docs/fidelity.md). The paper's figures (2.5e-3 training, 1.8e-2 test)
are in it. results.json keeps both: ``*_half_mse`` is the paper's MSE, and
``*_mse`` the plain mean over the outputs, twice it (metrics.jsonl's per-pass
``*_mse`` too); :func:`paper_mse` turns the one into the other.
"""

from __future__ import annotations

import numpy as np

# The paper's rejection criterion: reject digits until the rest has 1% error.
TARGET_ERROR = 0.01

# The label of a picture with no digit: none of the ten outputs is its target
# (all outputs low for squared error, the uniform distribution for cross-entropy).
NONE = -1


def digit_mask(labels: np.ndarray) -> np.ndarray:
    """True where the label is a digit (0-9), False for :data:`NONE`."""
    return np.asarray(labels) >= 0


def targets_pm1(labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """+1 for the labelled class, -1 elsewhere: the paper's targets. (N, n_classes).
    A :data:`NONE` label's row is -1 everywhere (all outputs low)."""
    labels = np.asarray(labels)
    t = -np.ones((len(labels), n_classes))
    d = np.flatnonzero(labels >= 0)
    t[d, labels[d]] = 1.0
    return t


def misses(outputs: np.ndarray, labels: np.ndarray) -> int:
    """Number of digits whose most active output is not their label (junk, :data:`NONE`, not counted)."""
    return int(np.count_nonzero((outputs.argmax(axis=1) != labels) & digit_mask(labels)))


def error_rate(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Misses over the digits (junk not counted); nan when there are no digits."""
    n = int(np.count_nonzero(digit_mask(labels)))
    return misses(outputs, labels) / n if n else float("nan")


def mse_pm1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Squared error against +-1 targets, averaged over digits and output units
    (results.json's ``*_mse``: twice the paper's MSE, :func:`paper_mse`)."""
    return float(np.mean((outputs - targets_pm1(labels, outputs.shape[1])) ** 2))


def paper_mse(mse_per_output: float | None) -> float | None:
    """The paper's MSE from the mean over the outputs (:func:`mse_pm1`): half of it,
    as SN2.8 printed it. None stays None (logit outputs have no MSE)."""
    return None if mse_per_output is None else mse_per_output / 2


def scores(outputs: np.ndarray, labels: np.ndarray, squashed: bool = True) -> dict:
    """Error rate, misses, the mean squared error over the outputs (``mse``) and
    the paper's MSE (``half_mse``, :func:`paper_mse`); the MSEs are None for
    unsquashed outputs (logits), where they would mean nothing."""
    mse = mse_pm1(outputs, labels) if squashed else None
    return {"error": error_rate(outputs, labels), "misses": misses(outputs, labels), "mse": mse,
            "half_mse": paper_mse(mse)}


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
    Junk (:data:`NONE`) is left out: it has no right digit.
    """
    keep = digit_mask(labels)
    outputs, labels = outputs[keep], labels[keep]
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
    accepted digits have error <= target_error, rejecting as few as possible.

    The threshold lies halfway between the smallest gap among the digits
    :func:`rejection_at` accepts and the largest gap among those it rejects (0
    when none is rejected), not on a digit's own gap: a digit's gap moves in
    its last bits with the BLAS build or the engine, and one that sat exactly on
    the threshold would be accepted by one build and rejected by another. ``inf``
    when even the most confident digit alone errs more (reject all)."""
    keep = digit_mask(labels)
    outputs, labels = outputs[keep], labels[keep]
    rejected, err = rejection_curve(outputs, labels)
    ok = np.flatnonzero(err <= target_error + 1e-12)
    if not len(ok):
        return float("inf")
    n_accepted = round((1.0 - rejected[ok[0]]) * len(labels))
    if n_accepted == len(labels):
        return 0.0
    gaps = np.sort(output_gap(outputs))[::-1]
    lowest_accepted, highest_rejected = float(gaps[n_accepted - 1]), float(gaps[n_accepted])
    t = 0.5 * (lowest_accepted + highest_rejected)
    # Two gaps a rounding apart have no float strictly between them but the upper one.
    return t if t > highest_rejected else lowest_accepted


def confusion_matrix(outputs: np.ndarray, labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted], over the digits (junk, :data:`NONE`, left out)."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    keep = digit_mask(labels)
    np.add.at(cm, (labels[keep], outputs[keep].argmax(axis=1)), 1)
    return cm
