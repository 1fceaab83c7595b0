"""Every tutorial runs top to bottom, shrunk (NUMPYRO_GLM_TUTORIAL_SMALL=1).

A file of its own, so that pytest-xdist (``--dist loadfile``) runs the tutorials in a
different process from the README and command-line tests.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_top_to_bottom(path):
    # A fresh process: tutorials register links and families of their own.
    env = {**os.environ, "NUMPYRO_GLM_TUTORIAL_SMALL": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_there_are_tutorials():
    assert TUTORIALS
