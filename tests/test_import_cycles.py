"""No import cycles inside electra_tf, counting imports inside functions too.

Function-level imports hide a cycle from Python (the import runs later), but not from a reader:
the two modules still depend on each other. This parses every module's source, collects every
``import`` / ``from ... import`` of an electra_tf module wherever it appears (except under
``if TYPE_CHECKING:``), and fails on any strongly connected component of more than one module.
An import of ``a.b.c`` is an edge to ``a.b.c`` only (not to the parent packages' __init__).
"""

import ast
import os
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module_files(package_dir: str, package: str):
    """{module name: file path} for every .py under ``package_dir``."""
    found = {}
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), package_dir)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            found[".".join([package] + rel)] = os.path.join(folder, name)
    return found


def _is_type_checking(node) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: str, module: str, is_package: bool, known):
    """The modules of ``known`` that the source at ``path`` imports, anywhere in the file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    targets = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base_parts[: len(base_parts) - (node.level - 1)]
                source = ".".join(parent + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known]
            # "from pkg import mod" depends on pkg.mod; pkg itself only when a name is taken from it.
            names = submodules + ([source] if len(submodules) < len(node.names) else [])
        else:
            continue
        for name in names:
            if name in known:
                targets.add(name)
    targets.discard(module)
    return targets


def import_graph(package_dir: str, package: str):
    files = module_files(package_dir, package)
    graph = {}
    for module, path in files.items():
        is_package = path.endswith("__init__.py")
        graph[module] = imported_modules(path, module, is_package, files)
    return graph


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, result = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_electra_tf_has_no_import_cycles():
    graph = import_graph(os.path.join(ROOT, "electra_tf"), "electra_tf")
    assert len(graph) > 30  # the walk found the package
    found = cycles(graph)
    assert not found, "import cycles (module- or function-level imports):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_detector_finds_function_level_and_relative_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(textwrap.dedent("""
        def f():
            from pkg.sub import b
            return b
    """))
    (pkg / "sub" / "b.py").write_text("from .. import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text(textwrap.dedent("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from pkg import e
    """))
    (pkg / "e.py").write_text("from pkg.d import something\n")
    graph = import_graph(str(pkg), "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    found = cycles(graph)
    assert ["pkg.a", "pkg.c", "pkg.sub.b"] in found
    assert not any("pkg.d" in c for c in found)  # TYPE_CHECKING imports do not count
