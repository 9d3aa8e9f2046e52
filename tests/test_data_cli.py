"""`python -m tf_rnn_mnist data`: the report, and a clear error with a non-zero exit."""

import subprocess
import sys

from conftest import write_idx_dir


def _run(*args):
  return subprocess.run([sys.executable, "-m", "tf_rnn_mnist", "data", *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_reports_counts_and_digests(tmp_path, tiny_arrays):
  directory = write_idx_dir(tmp_path / "own", tiny_arrays, compress=True)
  done = _run("--data_source=idx", f"--data_dir={directory}", "--noverify_digests")
  assert done.returncode == 0, done.stderr
  lines = done.stdout.splitlines()
  assert lines[0] == f"source: idx ({directory})"
  # Tiny data: TF1's first 5000 "validation" images take all 120.
  assert lines[4].split() == ["train", "(TF1)", "0"] + ["0"] * 10
  assert lines[5].split() == ["validation", "(TF1)", "120"] + ["12"] * 10
  assert lines[7].split() == ["test", "30"] + ["3"] * 10
  assert "SHA-256 of the uncompressed IDX files, NOT verified (--noverify_digests):" in lines
  assert "MNIST served by idx" in done.stderr


def test_cli_error_is_one_clear_line_and_exit_1(tmp_path):
  done = _run("--data_source=idx", f"--data_dir={tmp_path / 'missing'}")
  assert done.returncode == 1
  assert done.stderr.startswith(f"error: MNIST directory {tmp_path / 'missing'} does not exist.")
  assert "Traceback" not in done.stderr


def test_cli_rejects_unknown_source():
  done = _run("--data_source=ftp")
  assert done.returncode == 1
  assert "flag --data_source=ftp: value should be one of <auto|idx|tfds|pypi>" in done.stderr
