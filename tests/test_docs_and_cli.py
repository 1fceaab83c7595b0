"""The README's example, the tutorials and the command line run as written."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_example_runs():
    code = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert code, "README has no python example"
    namespace = {}
    exec(compile("\n".join(code), "README.md", "exec"), namespace)
    coef = np.asarray(namespace["mcmc"].get_samples()["coef"].mean(0))
    np.testing.assert_allclose(coef, [0.5, 0.3], atol=0.25)


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci


# Slow (~50 s, compiling a Tweedie NUTS): the README example test runs the same path
# (a hand-written NUTS model with the Tweedie family) and checks its coefficients.
@pytest.mark.slow
def test_quickstart_recovers_the_simulated_coefficients():
    from numpyro_glm.__main__ import quickstart

    result = quickstart(num_samples=100, seed=1)
    np.testing.assert_allclose(result["coef_mean"], result["true_coef"], atol=0.15)
    np.testing.assert_allclose(result["dispersion_mean"], result["true_dispersion"], rtol=0.15)


def test_command_line_rejects_bad_arguments_with_one_line():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "numpyro_glm", "quickstart", "--num-samples", "0"],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )
    assert proc.returncode != 0
    assert "--num-samples must be positive" in proc.stderr
    assert "Traceback" not in proc.stderr
