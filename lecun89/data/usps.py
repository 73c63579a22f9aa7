"""``usps``: the USPS zip-code digits of the paper, as The Elements of
Statistical Learning distributes them (``zip.train.gz`` / ``zip.test.gz``:
7,291 / 2,007 digits, the paper's split), read as they are.

Not the LIBSVM/torchvision "USPS" copy, which is the same digits smoothed by a
5x5 blur.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from lecun89.data._base import IMAGE_SHAPE, SourceFile, read_gzip, source_sums
from lecun89.errors import UserError

_ESL = "https://hastie.su.domains/ElemStatLearn/datasets/"

SOURCES: dict[str, SourceFile] = {
    "train": SourceFile("usps/zip.train.gz", 1829071,
                        "66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
                        "206835541ea704bcfb4b6eea872678bf", (_ESL + "zip.train.gz",)),
    "test": SourceFile("usps/zip.test.gz", 439208,
                       "8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
                       "f9350e940232b89f1dc8f8eacac88625", (_ESL + "zip.test.gz",)),
}
# Per-class label counts (digits 0-9) and (train, test) totals, by subset.
CLASS_COUNTS: dict[str, dict[str, tuple[int, ...]]] = {
    "full": {
        "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
        "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
    },
}
TOTALS: dict[str, tuple[int, int]] = {s: (sum(c["train"]), sum(c["test"])) for s, c in CLASS_COUNTS.items()}

# ---------------------------------------------------------------------------
# parser (format checks; used after the checksum check, testable on its own)

ZIP_FIELDS = 257


def parse_zip_file(path: str | os.PathLike, expected_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ZIP-code data file (gzip text: label then 256 values in [-1, 1]
    per line). Returns ``(x (N, 1, 16, 16) float64, y (N,) int64)``."""
    path = Path(path)
    raw = read_gzip(path, "ZIP text (label + 256 values per line)")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: byte {exc.start} is not ASCII text; expected lines of "
                        f"{ZIP_FIELDS} numbers") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    for lineno, line in lines:
        n = len(line.split())
        if n != ZIP_FIELDS:
            raise UserError(f"{path}: line {lineno} has {n} fields, expected {ZIP_FIELDS} "
                            f"(label + 16x16 pixel values)")
    if not lines:
        raise UserError(f"{path}: no data rows, expected {expected_rows or 'some'} rows of {ZIP_FIELDS} numbers")
    if expected_rows is not None and len(lines) != expected_rows:
        raise UserError(f"{path}: {len(lines)} rows, expected {expected_rows}")
    try:
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        for lineno, line in lines:
            for col, tok in enumerate(line.split(), 1):
                try:
                    float(tok)
                except ValueError:
                    raise UserError(f"{path}: line {lineno}, field {col}: {tok[:20]!r} is not a number; "
                                    f"expected {ZIP_FIELDS} numbers per line") from None
        raise UserError(f"{path}: cannot parse as {ZIP_FIELDS} numbers per line") from None
    if table.shape != (len(lines), ZIP_FIELDS):  # pragma: no cover - guarded above
        raise UserError(f"{path}: parsed shape {table.shape}, expected ({len(lines)}, {ZIP_FIELDS})")
    labels, pixels = table[:, 0], table[:, 1:]
    bad = np.flatnonzero(~((labels >= 0) & (labels <= 9) & (labels == np.round(labels))))
    if bad.size:
        lineno, line = lines[bad[0]]
        raise UserError(f"{path}: line {lineno}: label {line.split()[0][:20]!r} is not an integer 0-9")
    bad_rows = np.flatnonzero(~np.all(np.isfinite(pixels) & (pixels >= -1.0) & (pixels <= 1.0), axis=1))
    if bad_rows.size:
        r = bad_rows[0]
        col = int(np.flatnonzero(~(np.isfinite(pixels[r]) & (np.abs(pixels[r]) <= 1.0)))[0])
        lineno, line = lines[r]
        raise UserError(f"{path}: line {lineno}, field {col + 2}: pixel value {line.split()[col + 1][:20]!r} "
                        f"is not in [-1, 1]")
    x = np.ascontiguousarray(pixels.reshape(-1, *IMAGE_SHAPE))
    y = labels.astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------
# builder (source -> arrays)


def read(paths: dict[str, Path]) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)`` from the checked files ``paths`` (by role)."""
    n_train, n_test = TOTALS["full"]
    x_train, y_train = parse_zip_file(paths["train"], n_train)
    x_test, y_test = parse_zip_file(paths["test"], n_test)
    return x_train, y_train, x_test, y_test


def key_sources() -> dict[str, str]:
    """What the cached arrays depend on besides the preprocessing version."""
    return source_sums(SOURCES)


def build(paths: dict[str, Path], subset: str, seed: int | None) -> tuple[tuple[np.ndarray, ...], dict]:
    """The arrays and their meta (sources, preprocessing); one subset, "full"."""
    meta = {"sources": source_sums(SOURCES),
            "preprocessing": "ZIP values as given (already in [-1, 1]), row-major 16x16"}
    return read(paths), meta
