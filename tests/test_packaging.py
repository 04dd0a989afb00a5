"""``pip install .`` and ``pip install -e .`` give ``import electra_tf`` anywhere and the console commands.

Each install goes into a fresh virtual environment that sees the test environment's packages
through a .pth file (nothing is downloaded: ``--no-deps --no-build-isolation``). The package is
built from a copy of the checkout, so the build's build/ and *.egg-info never land in the checkout.
Everything then runs from another directory without PYTHONPATH, so only the installed copy can be
imported.
"""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = ["electra-finetune", "electra-pretrain", "electra-predict", "electra-convert", "electra-export",
            "electra-evaluate", "electra-build-vocab", "electra-build-pretraining-dataset", "electra-report"]

# What the build reads (pyproject.toml, setup.py): the package, the shipped hparams files, the README.
_SOURCES = ["electra_tf", "configs", "README.md", "pyproject.toml", "setup.py"]


def _env():
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _venv_with_source(tmp_path):
    """A copy of the sources and a new virtual environment that sees this interpreter's packages."""
    source = tmp_path / "src"
    source.mkdir()
    for name in _SOURCES:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, env=_env()).stdout.strip()
    with open(os.path.join(site, "test_environment.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")  # pip, setuptools, TensorFlow, ... of the test run
    return source, venv, python


def _install(python, *args, cwd):
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", *args], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _python(python, code, cwd):
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


_PROBE = ("import electra_tf, sys; from electra_tf.cli.hparams import CONFIGS_DIR, parse_hparams; "
          "print(electra_tf.__file__); print(CONFIGS_DIR); print(parse_hparams('params_sst.json')['task_names']); "
          "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")


def test_pip_install_gives_the_package_its_configs_and_every_console_command(tmp_path):
    source, venv, python = _venv_with_source(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _install(python, str(source), cwd=elsewhere)

    package_file, configs_dir, tasks, heavy = _python(python, _PROBE, cwd=elsewhere)
    site = os.path.realpath(str(venv))
    assert os.path.realpath(package_file).startswith(site), package_file  # the installed copy, not a checkout
    assert os.path.realpath(configs_dir) == os.path.join(os.path.dirname(os.path.realpath(package_file)), "configs")
    assert tasks == "['sst']"  # --hparams params_sst.json is found in the shipped configs
    assert heavy == "[]"  # import electra_tf stays light

    for command in COMMANDS:
        done = subprocess.run([str(venv / "bin" / command), "--help"], capture_output=True, text=True, env=_env(),
                              cwd=elsewhere, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert done.stdout.startswith(f"usage: {command}"), done.stdout[:200]


def test_editable_install_imports_the_source_tree(tmp_path):
    source, venv, python = _venv_with_source(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _install(python, "-e", str(source), cwd=elsewhere)

    package_file, configs_dir, tasks, _ = _python(python, _PROBE, cwd=elsewhere)
    assert os.path.realpath(package_file) == os.path.realpath(source / "electra_tf" / "__init__.py")
    assert os.path.realpath(configs_dir) == os.path.realpath(source / "configs")  # the repository's own configs/
    assert tasks == "['sst']"
    done = subprocess.run([str(venv / "bin" / "electra-finetune"), "--help"], capture_output=True, text=True,
                          env=_env(), cwd=elsewhere, timeout=120)
    assert done.returncode == 0 and "--data-dir" in done.stdout, done.stderr


def test_pyproject_console_commands_match_the_command_modules():
    """Every console command is its module's ``main`` run as a command (``as_command``: main(), then the
    fast exit of cli/process_exit.py); a renamed module or function would break it silently."""
    import importlib

    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert sorted(scripts) == sorted(COMMANDS)
    for command, target in scripts.items():
        module, function = target.split(":")
        loaded = importlib.import_module(module)
        assert function == "command" and getattr(loaded, function).__wrapped__ is loaded.main, command


def test_checkout_ignores_build_outputs():
    with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as f:
        ignored = f.read().split()
    assert "/build/" in ignored and "*.egg-info/" in ignored
