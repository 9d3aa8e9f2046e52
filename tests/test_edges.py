"""Nothing lost at the edges, nothing hidden: what a tool prints when it dies, and with stderr
closed (issue 34). Each test runs a tool (or a module named as one, so that it gets the
tools' stderr filter) as a subprocess, as a user does."""

import json
import os
import re
import subprocess
import sys

import pytest

DATA = ["--data_source=idx", "--noverify_digests"]
# A module whose name makes it one of the project's tools (cli._runs_a_tool): it has the
# filter every tool has, imports TensorFlow (its notices start), then ends as asked.
CRASHING_TOOL = '''
import faulthandler, os, signal, sys
import tf_rnn_mnist.cli  # noqa: F401
import tensorflow  # noqa: F401
faulthandler.enable()
print("last words", file=sys.stderr, flush=True)
how = sys.argv[1]
if how == "segv":
  os.kill(os.getpid(), signal.SIGSEGV)
if how == "abort":
  os.write(2, b"F0000 00:00:1796433851.086073   23996 some_op.cc:52] Check failed: x == y\\n")
  os.abort()
'''
NATIVE_NOTICES = re.compile(r"absl::InitializeLog|oneDNN|cuInit|cuda drivers|rebuild TensorFlow")


def _quiet_env(**extra):
  """The environment a user has: no TF_CPP_MIN_LOG_LEVEL (conftest sets one for the tests)."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return {**env, **extra}


@pytest.fixture(scope="module")
def crashing_tool(tmp_path_factory):
  directory = tmp_path_factory.mktemp("tool")
  (directory / "tf_rnn_mnist_crashtest.py").write_text(CRASHING_TOOL)
  return directory


@pytest.mark.parametrize("how,signal_number,fatal", [
    ("segv", 11, "Fatal Python error: Segmentation fault"),
    ("segv", 11, "Fatal Python error: Segmentation fault"),  # (once lost to a race)
    ("abort", 6, "Fatal Python error: Aborted")])
def test_a_crash_report_reaches_stderr_whole(crashing_tool, how, signal_number, fatal):
  """The filter passes what it does not recognise as a notice and outlives the tool: the line
  before the crash, a fatal line written just before abort(), the whole dump with the main
  thread's stack; TensorFlow's notices still left out."""
  done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist_crashtest", how],
                        capture_output=True, text=True, timeout=300,
                        env=_quiet_env(PYTHONPATH=str(crashing_tool)))
  assert done.returncode == -signal_number, done.stderr[-3000:]
  lines = done.stderr.splitlines()
  assert lines[0] == "last words", lines[:5]
  if how == "abort":
    assert lines[1].endswith("some_op.cc:52] Check failed: x == y"), lines[:5]
  assert fatal in lines, lines
  stack = lines[lines.index(fatal):]
  assert any(re.match(r"Current thread 0x[0-9a-f]+ \(most recent call first\):", l)
             for l in stack), stack
  assert any("tf_rnn_mnist_crashtest.py\", line" in l and l.endswith("in <module>")
             for l in stack), stack
  assert not NATIVE_NOTICES.search(done.stderr), done.stderr[:2000]


def test_a_closed_stderr_is_not_an_error(tmp_path, small_idx_dir):
  """`train ... 2>&-`: the run trains and writes its results (stderr pointed at /dev/null, so
  no output file takes its descriptor)."""
  results = tmp_path / "r.json"
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=2",
       f"--results_json={results}", "--noprogress", *DATA, f"--data_dir={small_idx_dir}"],
      stdout=subprocess.PIPE, text=True, timeout=300, env=_quiet_env(),
      preexec_fn=lambda: os.close(2))
  assert done.returncode == 0, done.stdout[-2000:]
  assert json.loads(results.read_text())["steps"] == 2
