"""The package's layout and layering (issue #25).

* The package root holds only ``__init__.py``, ``errors.py``, ``config.py`` (and ``__main__.py``):
  every other module lives in the package of its job; the old ``exporters/`` and ``inference/``
  folders are gone (``export/`` holds both).
* A rank table orders the packages from low to high, and no module imports a module of a higher
  rank, at module level or inside a function (``test_import_cycles.import_graph`` sees both). A
  unit is a package or a module prefix; the longest prefix that matches a module gives its rank.
  The few justified exceptions are listed with a reason each.
"""

import os

from tests.test_import_cycles import ROOT, import_graph

PACKAGE = os.path.join(ROOT, "electra_tf")

#: low to high; a module may import its own rank and lower ones
RANKS = [
    ("electra_tf", "electra_tf.errors"),
    ("electra_tf.utils",),
    ("electra_tf.config",),
    ("electra_tf.text",),
    # file names and the head weight scope: names only, so checkpoints can use them
    ("electra_tf.model_dir.layout", "electra_tf.model_dir.scope", "electra_tf.model_dir.settings"),
    ("electra_tf.checkpoints",),
    # task.json itself: reads training checkpoints' tasks.json (checkpoints); from_pretrained reads it
    ("electra_tf.model_dir.metadata",),
    ("electra_tf.modeling",),
    ("electra_tf.training",),
    # the task families and pre-training
    ("electra_tf.finetuning", "electra_tf.pretraining"),
    # what a model directory's metadata describes (preprocessors, typed settings of every family)
    # and the loader: they know the families
    ("electra_tf.model_dir",),
    ("electra_tf.export",),
    # the fine-tuning run: trains, then writes model directories and SavedModels (export)
    ("electra_tf.finetuning.runner", "electra_tf.finetuning.model_export"),
    ("electra_tf.cli",),
]

#: (importer, imported): why the import may go up
EXCEPTIONS = {
    ("electra_tf.export.__main__", "electra_tf.cli.export"):
        "python -m electra_tf.export is the export command's entry point",
    ("electra_tf", "electra_tf.utils.onednn"):
        "import electra_tf sets TensorFlow's oneDNN default before TensorFlow loads; the module imports nothing "
        "of electra_tf (checked below)",
}

ROOT_MODULES = {"__init__.py", "errors.py", "config.py", "__main__.py"}


def rank_of(module: str) -> int:
    """The rank of ``module``: that of the longest unit prefixing it."""
    best, rank = -1, None
    for i, units in enumerate(RANKS):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and len(unit) > best:
                best, rank = len(unit), i
    assert rank is not None, f"{module} has no rank: add its package to RANKS"
    return rank


def upward_imports(graph):
    """(importer, imported, their ranks) of every import that goes up the table."""
    return sorted((m, t, rank_of(m), rank_of(t)) for m, targets in graph.items() for t in targets
                  if rank_of(t) > rank_of(m) and (m, t) not in EXCEPTIONS)


def test_the_package_root_holds_only_the_core_modules():
    entries = os.listdir(PACKAGE)
    loose = sorted(e for e in entries if e.endswith(".py") and e not in ROOT_MODULES)
    assert not loose, f"modules at the package root: {loose}; put them in the package of their job"
    for gone in ("exporters", "inference"):
        assert not os.path.exists(os.path.join(PACKAGE, gone)), f"electra_tf/{gone}/ is back (export/ holds it)"


def test_the_oneDNN_module_stays_free_of_electra_tf():
    # The package root imports it (EXCEPTIONS): it must not pull the package's layers in with it.
    import ast

    with open(os.path.join(ROOT, "electra_tf", "utils", "onednn.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = [n.module if isinstance(n, ast.ImportFrom) else a.name for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names]
    assert not [m for m in imported if m and m.startswith("electra_tf")], imported


def test_no_module_imports_a_higher_rank():
    graph = import_graph(PACKAGE, "electra_tf")
    found = upward_imports(graph)
    names = [" / ".join(units) for units in RANKS]
    assert not found, "imports that go up the layers:\n" + "\n".join(
        f"{m} ({names[a]}) -> {t} ({names[b]})" for m, t, a, b in found)
    used = {(m, t) for m, targets in graph.items() for t in targets}
    assert set(EXCEPTIONS) <= used, f"exceptions no longer needed: {sorted(set(EXCEPTIONS) - used)}"


def test_the_check_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "electra_tf"
    (pkg / "utils").mkdir(parents=True)
    (pkg / "cli").mkdir()
    for init in (pkg / "__init__.py", pkg / "utils" / "__init__.py", pkg / "cli" / "__init__.py"):
        init.write_text("")
    (pkg / "cli" / "run.py").write_text("X = 1\n")
    (pkg / "utils" / "files.py").write_text("def f():\n    from electra_tf.cli import run\n    return run\n")
    found = upward_imports(import_graph(str(pkg), "electra_tf"))
    assert [(m, t) for m, t, _, _ in found] == [("electra_tf.utils.files", "electra_tf.cli.run")]
