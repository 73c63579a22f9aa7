"""Resampling as matrices: one linear map per axis, ``R_h @ image @ R_w.T``."""

from __future__ import annotations

import numpy as np


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix of 1-D linear interpolation with PyTorch's
    ``align_corners=False`` semantics and no antialiasing: source coordinate
    ``(dst + 0.5) * n_in / n_out - 0.5`` clamped at 0, upper neighbour clamped
    at ``n_in - 1``."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for d in range(n_out):
        src = max((d + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        m[d, i0] += 1.0 - lam
        m[d, i1] += lam
    return m


def resize_bilinear(images: np.ndarray, size: int = 16) -> np.ndarray:
    """Resize ``(..., H, W)`` images to ``(..., size, size)`` like
    ``F.interpolate(x, (size, size), mode="bilinear", align_corners=False)``
    (separable: ``R_h @ img @ R_w.T``), in float64."""
    images = np.asarray(images, dtype=np.float64)
    rh = bilinear_matrix(images.shape[-2], size)
    rw = bilinear_matrix(images.shape[-1], size)
    return np.ascontiguousarray(rh @ images @ rw.T)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): output pixel i averages input [i*n_in/n_out, (i+1)*n_in/n_out),
    partial pixels weighted by their covered share."""
    m = np.zeros((n_out, n_in))
    step = n_in / n_out
    for i in range(n_out):
        lo, hi = i * step, (i + 1) * step
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / step
