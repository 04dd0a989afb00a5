"""Package layout for ``pip install .`` (the metadata is in pyproject.toml).

The hparams files live in the repository's ``configs/`` folder (where the README's commands name
them); installed, they become the package data folder ``electra_tf/configs/``, which
``electra_tf.finetuning.hparams`` looks in when there is no repository around the package.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["electra_tf", "electra_tf.*"]) + ["electra_tf.configs"],
    package_dir={"electra_tf.configs": "configs"},
    package_data={"electra_tf.configs": ["*.json", "models/*.json", "README.md"]},
)
