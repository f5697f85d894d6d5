"""Packaging that pyproject.toml cannot say: the top-level resources/ folder ships as workbench/resources."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["workbench*"]), "workbench.resources"],
    package_dir={"workbench.resources": "resources"},
    package_data={"workbench.resources": ["*.toml", "*.qss", "*.svg"]},
)
