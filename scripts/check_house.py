"""The house rules of lecun89/, checked from the source (no import needed).

    python scripts/check_house.py          # exit 1 and name each breach

1. No import circle between lecun89's modules. Every import counts, also one
   inside a function (a lazy import still ties two modules together), and a
   package's ``__init__`` counts as a module. ``from lecun89.x import y``
   depends on ``lecun89.x`` and, when ``y`` is a module, on ``lecun89.x.y``.
2. No module imports another module's ``_private`` name (a module of the same
   package importing its package's ``_base``-style module is fine: the module
   is private to the package, its names are not).
3. No module over 600 lines, apart from the layers and the compiled kernels.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "lecun89"
MAX_LINES = 600
LONG_ALLOWED = {"lecun89.layers", "lecun89.engine._kernels", "lecun89.kernels"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mods: dict[str, Path]):
    """(importer, imported module, name or None, line) for every lecun89 import."""
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("lecun89"):
                        yield mod, a.name, None, node.lineno
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, node, is_pkg)
                if not target.startswith("lecun89"):
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:
                        yield mod, sub, None, node.lineno
                    else:
                        yield mod, target, a.name, node.lineno


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def breaches() -> list[str]:
    mods = modules()
    found = []
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, target, name, line in imports(mods):
        # A package's __init__ re-exporting its own modules is not a dependency back on them.
        if target != mod and target in mods:
            edges[mod].add(target)
        if name and name.startswith("_") and not name.startswith("__") and target != mod:
            found.append(f"{mods[mod].relative_to(ROOT.parent)}:{line}: imports private {target}.{name}")
    for comp in cycles(edges):
        found.append("import circle: " + " <-> ".join(comp))
    for mod, path in mods.items():
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and mod not in LONG_ALLOWED:
            found.append(f"{path.relative_to(ROOT.parent)}: {n} lines (limit {MAX_LINES})")
    return found


def main() -> int:
    found = breaches()
    for line in found:
        print(line)
    n = len(modules())
    print(f"{n} modules under lecun89/: " + ("no breach" if not found else f"{len(found)} breach(es)"))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
