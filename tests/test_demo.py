"""`python -m numpyro_glm demo`: the report of a quick run, and bad arguments that end in one line."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}


def _demo(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "numpyro_glm", "demo", *args],
                          capture_output=True, text=True, cwd=cwd, env=ENV, timeout=600)


def test_quick_demo_writes_the_report_with_its_tables_and_figures(tmp_path):
    out = tmp_path / "report"
    proc = _demo("--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("report.md", "report.html", "ppc.png", "bootstrap_vs_posterior.png", "residuals.png"):
        assert (out / name).stat().st_size > 1000, name
    md = (out / "report.md").read_text()
    for section in ("1. Maximum likelihood (IRLS)", "2. Posterior (NUTS started from the MLE)",
                    "3. Posterior predictive check", "4. Pairs bootstrap", "5. Bootstrap against posterior",
                    "6. Model comparison", "Conclusion:"):
        assert section in md, section
    assert "| meandepth |" in md and "sd_ratio" in md and "| y_alpha |" in md
    assert "negative_binomial (log) is preferred" in md  # the fishing counts are overdispersed
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table>" in html
    assert str(out.resolve()) in proc.stdout  # it says where the report is


BAD_ARGUMENTS = [
    (["--dataset", "nope"], "unknown data set 'nope'"),
    (["--dataset", "fishing", "--y", "depth"], "no column 'depth'"),
    (["--dataset", "fishing", "--x", "meandepth,colour"], "no column 'colour'"),
    (["--data", "does_not_exist.csv", "--y", "y"], "no such file"),
    (["--dataset", "birthwt", "--family", "gamma"], "cannot be modelled by the gamma family"),
    (["--dataset", "fishing", "--family", "nope"], "unknown family 'nope'"),
    (["--dataset", "fishing", "--bogus"], "unrecognized arguments: --bogus"),
]


def _check_one_line_error(code, stdout, stderr, message, out):
    assert code == 2
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("numpyro-glm: error: ") and message in lines[0], stderr
    assert "Maximum likelihood" not in stdout and not out.exists()  # nothing was fitted or written


def test_a_bad_argument_ends_the_process_with_one_line_and_exit_code_2(tmp_path):
    proc = _demo("--dataset", "nope", "--out", str(tmp_path / "r"), cwd=tmp_path)
    _check_one_line_error(proc.returncode, proc.stdout, proc.stderr, "unknown data set 'nope'", tmp_path / "r")


# The same through main() in this process (a fresh Python for each would cost ~2.5 s).
@pytest.mark.parametrize("args, message", BAD_ARGUMENTS, ids=[m for _, m in BAD_ARGUMENTS])
def test_bad_arguments_end_with_one_line_and_exit_code_2_before_any_fitting(args, message, tmp_path, capsys,
                                                                            monkeypatch):
    from numpyro_glm.__main__ import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(["demo", *args, "--out", str(tmp_path / "r")])
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    _check_one_line_error(code, captured.out, captured.err, message, tmp_path / "r")


def test_csv_errors_are_found_before_any_fitting(tmp_path):
    from numpyro_glm import demo

    path = tmp_path / "d.csv"
    path.write_text("count,x,label\n1,0.5,a\n-2,1.5,b\n3,2.5,a\n4,0.1,b\n")
    with pytest.raises(ValueError, match="cannot be modelled by the poisson family"):
        demo.prepare(data=path, y="count", family="poisson")
    with pytest.raises(ValueError, match="is not numeric"):
        demo.prepare(data=path, y="label")
    with pytest.raises(ValueError, match="needs --y"):
        demo.prepare(data=path)


def test_prepare_codes_the_design_and_says_so():
    from numpyro_glm import demo

    problem = demo.prepare("birthwt")
    assert problem.family.name == "bernoulli" and problem.exposure is None
    assert problem.coef_names[:4] == ["(Intercept)", "age", "lwt", "race[other]"]
    assert abs(problem.X[:, 1].mean()) < 1e-12 and abs(problem.X[:, 1].std(ddof=1) - 1) < 1e-12
    assert any(note.startswith("race: categorical, 3 levels, reference 'black'") for note in problem.notes)
    fishing = demo.prepare("fishing", family="poisson")
    assert fishing.family.name == "poisson" and fishing.exposure.shape == (147,)
