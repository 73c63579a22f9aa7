"""Writing a file whole or not at all: the one way lecun89 writes its outputs.

The bytes go to a temporary file beside the target (a unique name ending in
``.tmp``) and are renamed over it only once complete, so an interrupted write
(Ctrl-C, a kill, a full disk) leaves the previous file, or none, never half of
one; two processes writing the same file each write their own temporary.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def replacing(path: str | os.PathLike, mode: str = "wb"):
    """Yield a file object open for writing; on a clean exit it becomes ``path``."""
    path = Path(path)
    # A name no other writer uses; opened exclusively, with the usual permissions.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    kind = mode.replace("w", "x")
    try:
        with open(tmp, kind, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with replacing(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path, "wb") as fh:
        fh.write(data)


def save_npz(path: str | os.PathLike, arrays: dict, compressed: bool = False) -> None:
    """``numpy.savez`` (or ``savez_compressed``) of ``arrays``, written whole."""
    import numpy as np

    with replacing(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)
