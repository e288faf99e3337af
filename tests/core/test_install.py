"""The README's install commands make ``explorer`` importable from anywhere (``pip install -e .``).

The library example is run verbatim from the README, in an empty folder, with no PYTHONPATH:
it fails with ModuleNotFoundError unless the package is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_readme_installs_the_package():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements.txt -e . && streamlit run app.py" in readme
    assert "-e ." in (ROOT / "requirements-dev.txt").read_text().split("\n")


def test_library_example_runs_from_any_directory(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Library example") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "vs uniform baseline" in result.stdout and "trig" in result.stdout


def test_the_explorer_command_is_installed(tmp_path):
    command = shutil.which("explorer")
    if command is None:
        pytest.skip("the package is not installed here (pip install -e .)")
    result = subprocess.run(
        [command, "compare", "--synthetic", "--seq-len", "32", "--head-dim", "8", "--json"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert '"skill"' in result.stdout


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Install and run the tests") :]
    command = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text().replace("pip install -q ", "pip install ")
    assert command in ci
    assert "requirements-bench.txt" in command  # the recipe tests run the real performer-pytorch
