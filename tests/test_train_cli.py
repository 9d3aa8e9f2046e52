"""`python -m tf_rnn_mnist.train` end to end on small IDX data the test writes itself."""

import json
import subprocess
import sys

import pytest

from tf_rnn_mnist import variants
from tf_rnn_mnist.variants import NAMES


def _train(*args, data_dir):
  return subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--data_source=idx", f"--data_dir={data_dir}",
       "--noverify_digests", "--noprogress", *args],
      capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("variant", NAMES)
def test_every_variant_trains_from_the_cli(variant, small_idx_dir, tmp_path):
  results_path = tmp_path / "results.json"
  done = _train(f"--variant={variant}", "--train_steps=2", "--eval_every=1", "--batch_size=20",
                f"--results_json={results_path}", data_dir=small_idx_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads(results_path.read_text())
  assert (results["variant"], results["steps"], results["batch_size"]) == (variant, 2, 20)
  assert results["test_examples"] == 40 and 0 <= results["test_accuracy"] <= 1
  assert done.stdout.splitlines()[-1].startswith("Full test accuracy (40 images): ")


def test_mirrored_over_two_cpu_devices_from_the_cli(small_idx_dir, tmp_path):
  results_path = tmp_path / "results.json"
  done = _train("--variant=dynamic_gru", "--train_steps=2", "--batch_size=20", "--cpu_devices=2",
                "--strategy=mirrored", f"--results_json={results_path}", data_dir=small_idx_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads(results_path.read_text())
  assert (results["strategy"], results["replicas"]) == ("MirroredStrategy", 2)
  assert ("MirroredStrategy: 2 replicas, each computing its share of every global batch of "
          "20.") in done.stdout.splitlines()


@pytest.mark.parametrize("args,message", [
    (["--variant=lstm9"], "error: flag --variant=lstm9: value should be one of "
                          f"<{'|'.join(variants.NAMES)}>. (--help lists the flags.)"),
    (["--train_steps=0"], "error: --train_steps must be a positive int, got 0."),
    (["--batch_size=-2"], "error: --batch_size must be a positive int, got -2."),
    (["--strategy=tpu"], "error: --strategy=tpu: no TPU found ("),
    (["--cpu_devices=2", "--strategy=mirrored", "--batch_size=33"],
     "error: --batch_size=33 does not divide among 2 replicas; use a multiple of 2 (it is the "
     "global batch)."),
])
def test_cli_errors_exit_1_without_traceback(args, message, small_idx_dir):
  done = _train("--variant=static_lstm", *args, data_dir=small_idx_dir)
  assert done.returncode == 1
  assert message in done.stderr
  assert "Traceback" not in done.stderr
