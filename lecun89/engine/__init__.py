"""The engines that run a training pass and score a network: ``numpy`` (the
layers of :mod:`lecun89.layers`, the reference) and ``numba`` (whole passes
compiled, and the batched forward of the evaluations between passes).

- :mod:`~lecun89.engine.choice`: the engine names, what the compiled engine
  covers, ``"auto"`` resolved, the scoring forward of a network;
- :mod:`~lecun89.engine.compiled`: the compiled engine as a trainer and an
  evaluation call it (:class:`NumbaPass`, :class:`CompiledForward`), checked
  against the layers in the tests;
- :mod:`~lecun89.engine.build`: where the kernels are compiled (a child process,
  so that every process runs the machine code of numba's cache);
- ``_kernels.py`` (passes at batch 1, compiled per variant), ``_batch.py``
  (batches), ``_forward.py`` (the batched inference): the numba kernels
  themselves, private to this package (importing them imports numba).

Importing this package imports neither numba nor the kernels.
"""

from lecun89.engine.choice import ENGINES, forward_unsupported, inference, resolve, unsupported

__all__ = ["ENGINES", "CompiledForward", "NumbaPass", "forward_unsupported", "inference", "load_kernels", "resolve",
           "unsupported"]


def __getattr__(name):
    # The compiled engine's classes, imported when first asked for (they import numpy
    # and the layers, not numba; numba comes with the kernels).
    if name in ("CompiledForward", "NumbaPass", "load_kernels"):
        from lecun89.engine import compiled

        return getattr(compiled, name)
    raise AttributeError(f"module 'lecun89.engine' has no attribute {name!r}")
