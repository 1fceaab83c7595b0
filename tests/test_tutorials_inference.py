"""The inference tutorials (posterior predictive checks, the bootstrap next to NUTS) and
the one on sharded and streamed fits run top to bottom, shrunk: a second file, so that
pytest-xdist (``--dist loadfile``) runs them in parallel with the other tutorials
(``test_tutorials.py``, which lists them)."""

import pytest

from test_tutorials import IN_OTHER_FILE, ROOT, run_tutorial


@pytest.mark.parametrize("name", IN_OTHER_FILE)
def test_tutorial_runs_top_to_bottom(name):
    proc = run_tutorial(ROOT / "tutorials" / name)
    assert proc.returncode == 0, proc.stderr[-3000:]
