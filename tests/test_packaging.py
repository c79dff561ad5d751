"""A wheel must carry the report templates and the embedded studies (pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from reportgen.resources import resource_dir

ROOT = Path(__file__).resolve().parents[1]


def test_every_template_and_sample_data_folder_is_a_listed_package() -> None:
    # setuptools copies a folder into the wheel only when it is listed in `packages`; a new
    # folder that is not listed would be missing from installs other than the editable one.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    for top in ("templates", "sample_data"):
        for folder in [ROOT / top, *sorted(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__":
                continue
            name = "reportgen." + ".".join(folder.relative_to(ROOT).parts)
            assert name in listed, f"{folder.relative_to(ROOT)} is not in pyproject packages"


def test_resources_are_found_in_the_source_tree() -> None:
    assert resource_dir("templates") == ROOT / "templates"
    assert (resource_dir("templates") / "locale" / "ja.toml").is_file()
    assert (resource_dir("sample_data") / "parts" / "study.toml").is_file()


def test_every_python_package_is_listed() -> None:
    # A sub-package of reportgen/ that is not listed would be left out of the wheel, and only
    # the editable install would notice nothing.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    for init in sorted((ROOT / "reportgen").rglob("__init__.py")):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in listed, f"{name} is not in pyproject packages"


def test_python_dash_m_reportgen_is_the_same_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "reportgen", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("reportgen ")
    assert second.startswith("torch ") and "torchvision " in second and "CUDA" in second
    helped = subprocess.run(
        [sys.executable, "-m", "reportgen", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "Usage: reportgen" in helped.stdout
    assert "validate" in helped.stdout and "run" in helped.stdout


def test_dependencies_are_ranges_and_the_tested_versions_are_pinned_apart() -> None:
    import re
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not a table
    deps = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0]: d for d in project["dependencies"]}
    assert not [d for d in deps.values() if "==" in d]  # installs into an existing env
    assert deps["torch"] == "torch>=2.4,<3"
    pins = dict(
        line.split("==")
        for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    extras = project["optional-dependencies"]["dev"]
    wanted = set(deps) | {re.split(r"[<>=!~ ]", d, maxsplit=1)[0] for d in extras}
    assert wanted <= set(pins), wanted - set(pins)  # every direct dependency is pinned
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert "-c constraints.txt" in (root / "Makefile").read_text(encoding="utf-8")
