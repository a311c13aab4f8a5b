"""The image is built the way `make` installs the project (no Docker engine here to build it)."""

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def pip_installs(text: str, python: str) -> list[list[str]]:
    """The arguments of each `<python> -m pip install …`, without output and cache flags, `-e`
    and extras (the image is a plain install without the dev tools)."""
    installs = []
    for args in re.findall(rf"{re.escape(python)} -m pip install ([^\n&\\]+)", text):
        words = [w.strip("'\"") for w in args.split() if w not in ("-q", "--quiet", "--no-cache-dir", "-e")]
        installs.append([re.sub(r"\[[^\]]*\]$", "", w) for w in words])
    return installs


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_the_image_installs_the_project_with_the_same_pip_steps_as_make():
    make = pip_installs((REPO / "Makefile").read_text(), "$(PY)")
    image = pip_installs(dockerfile(), "python")
    assert make == [["--upgrade", "pip"], ["."]]  # if make changes, the image must follow
    assert image == make


def test_the_image_has_every_package_the_project_installs_and_a_python_it_supports():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile(), re.MULTILINE))
    assert set(packages) <= copied
    assert "pyproject.toml" in re.search(r"^COPY (.+) \./$", dockerfile(), re.MULTILINE).group(1)
    version = re.search(r"^FROM python:(\d+)\.(\d+)", dockerfile(), re.MULTILINE).groups()
    minimum = re.search(r">=(\d+)\.(\d+)", project["project"]["requires-python"]).groups()
    assert tuple(map(int, version)) >= tuple(map(int, minimum))
    # it runs as an unprivileged user, and every service module it may be started with exists
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile(), re.MULTILINE)
    for service in ("intake", "referral", "partners", "reporting"):
        assert (REPO / "services" / service / "__main__.py").is_file()
