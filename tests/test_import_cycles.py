"""No import cycle inside electra_tf/finetuning, counting function-level imports too."""

import ast
import os

from tests.conftest import ROOT

PACKAGE = "electra_tf.finetuning"


def _modules():
    """Module name -> path of every module of the package."""
    base = os.path.join(ROOT, *PACKAGE.split("."))
    found = {}
    for folder, _, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
                found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, name)
    return found


def import_graph():
    """Module -> modules of the package it imports anywhere in its body (``from P import m``
    counts as importing the module P.m when that is a module, else P)."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative import
                    parts = module.split(".") if path.endswith("__init__.py") else module.split(".")[:-1]
                    base = ".".join(parts[: len(parts) - node.level + 1] + [node.module])
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_finetuning():
    graph = import_graph()
    assert "electra_tf.finetuning.task" in graph["electra_tf.finetuning.qa.task"]  # the graph sees imports
    assert "electra_tf.finetuning.builtin_tasks" in graph["electra_tf.finetuning.runner"]  # function-level too
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
