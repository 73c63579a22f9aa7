"""Where the compiled engine's kernels are compiled: in a child process, so that
every process runs the machine code numba's on-disk cache holds.

A kernel (a pass's, a batch pass's, the batched forward) calls helper functions
(:mod:`lecun89.engine._kernels`' ``_h1_sums``, ``units``, ...), each compiled on
its own, and numba links a copy of every helper into the kernel's code, where it
is optimized again with the kernel. The copy and the helper compiled on its own
need not round alike (on an AVX-512 CPU they do not, in the last bit). A process
that compiles a kernel has compiled its helpers first, and its kernel's calls go
to them; a process that loads the kernel from numba's cache runs the kernel's own
copies. So a run that compiled the kernels and one that loaded them gave other
numbers. Here no process of the project compiles a kernel it runs: when numba's
cache does not hold one (numba reports a compile about to start), a child process
(``python -m lecun89.engine.build``) compiles it into the cache, and this process
loads it from there, as every later one does. Where the cache cannot be written
(the child's kernel is not found there), the kernel is compiled here, as before.

:func:`call` is the only entry: the compiled engine (:mod:`lecun89.engine.compiled`)
calls its kernels through it; :data:`COMPILED` says which kernels were compiled
while this process ran, and where.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

from numba.core import event

# A kernel's dispatcher -> where it was compiled while this process ran: "a child
# process" (then loaded from numba's cache) or "this process".
COMPILED: dict = {}

_calling = threading.local()  # the dispatcher a call() on this thread is calling


class _CacheMiss(Exception):
    """numba is about to compile the dispatcher a call() is calling: it is not in its cache."""

    def __init__(self, types):
        super().__init__(types)
        self.types = types


class _RefuseCompiling(event.Listener):
    def on_start(self, ev):
        if getattr(_calling, "dispatcher", None) is ev.data["dispatcher"]:
            raise _CacheMiss(tuple(ev.data["args"]))

    def on_end(self, ev):
        pass


event.register("numba:compile", _RefuseCompiling())


def dispatcher_of(spec: tuple):
    """The kernel a spec names: ("pass", *variant) (:func:`~lecun89.engine._kernels.pass_kernel`),
    ("batch", *variant) (:func:`~lecun89.engine._batch.batch_kernel`), ("forward",)."""
    kind, *variant = spec
    if kind == "pass":
        from lecun89.engine._kernels import pass_kernel

        return pass_kernel(*variant)
    if kind == "batch":
        from lecun89.engine._batch import batch_kernel

        return batch_kernel(*variant)
    if kind == "forward":
        from lecun89.engine._forward import forward_blocks

        return forward_blocks
    raise ValueError(f"no kernel {spec!r}")


def _guarded(dispatcher, args):
    """dispatcher(*args), or the argument types where numba would have to compile it."""
    _calling.dispatcher = dispatcher
    try:
        return dispatcher(*args), None
    except _CacheMiss as miss:
        return None, miss.types
    finally:
        _calling.dispatcher = None


def _compile_in_child(spec: tuple, types: tuple) -> bool:
    """Compiles the spec's kernel for these argument types in a child process
    (which writes numba's cache); whether the child succeeded."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # the child imports this very lecun89
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-m", "lecun89.engine.build"], input=pickle.dumps((spec, types)),
                          env=env, capture_output=True)
    return proc.returncode == 0


def call(spec: tuple, *args):
    """The kernel ``spec`` names (:func:`dispatcher_of`) called on args, loaded
    from numba's cache; compiled into it first, in a child process, where it is
    not there (module docstring)."""
    dispatcher = dispatcher_of(spec)
    out, types = _guarded(dispatcher, args)
    if types is None:
        return out
    if _compile_in_child(spec, types):
        out, types = _guarded(dispatcher, args)
        if types is None:
            COMPILED[dispatcher] = "a child process"
            return out
    COMPILED[dispatcher] = "this process"  # no cache to share: compiled here, as numba does by itself
    return dispatcher(*args)


def main() -> int:
    spec, types = pickle.load(sys.stdin.buffer)
    dispatcher_of(spec).compile(types)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
