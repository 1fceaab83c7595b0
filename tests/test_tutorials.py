"""Every tutorial runs top to bottom, shrunk (NUMPYRO_GLM_TUTORIAL_SMALL=1).

Files of their own, so that pytest-xdist (``--dist loadfile``) runs the tutorials in
other processes than the README and command-line tests. They are split over two
files (this one and ``test_tutorials_inference.py``), each run by one process: in
one file, all of them in series (20-60 s each on 2 cores) would be the suite's
longest process.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Run by tests/test_tutorials_inference.py; every other tutorial, a new one included,
# runs here.
IN_OTHER_FILE = ("bootstrap_vs_posterior.py", "data_larger_than_one_device.py", "posterior_predictive_checks.py")
ALL_TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))
TUTORIALS = [path for path in ALL_TUTORIALS if path.name not in IN_OTHER_FILE]


def run_tutorial(path: pathlib.Path) -> subprocess.CompletedProcess:
    # A fresh process: tutorials register links and families of their own.
    env = {**os.environ, "NUMPYRO_GLM_TUTORIAL_SMALL": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_top_to_bottom(path):
    proc = run_tutorial(path)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_there_are_tutorials():
    assert TUTORIALS



def test_the_other_files_tutorials_exist():
    assert set(IN_OTHER_FILE) <= {path.name for path in ALL_TUTORIALS}
