"""The README's commands, as written: CI runs its test command, and its migrate example runs
on a checkpoint the project makes, each command exiting 0 and quietly."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _sh_block_after(heading_text):
  """The commands of the first ```sh block after `heading_text`, one per line (a line ending
  in a backslash goes on in the next; a trailing `# comment` is the shell's)."""
  start = README.index(heading_text)
  block = re.search(r"```sh\n(.*?)```", README[start:], re.S).group(1)
  return [line for line in block.replace("\\\n", "").splitlines() if line.strip()]


def _pip_step(step):
  """A setup step as the shell runs it, pip's output flags and `|| true`-style guards aside."""
  step = step.strip().strip("{};").strip()
  step = step.split(" || ")[0].replace("python -m pip", "pip").replace('"', "")
  return " ".join(w for w in step.split() if w not in ("--quiet", "--disable-pip-version-check",
                                                        "\\"))


def test_ci_runs_the_readmes_test_command():
  """`.ci/run` does what the README's test command does, step by step and in its order: each
  is read from its file, so a step changed in one and not the other fails here."""
  command = _sh_block_after("Set up and run the tests")[0]
  readme = [_pip_step(s) for s in command.split("&&")]
  ci = [_pip_step(line) for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "  "))]
  assert readme == ci
  assert readme[-1] == "python -m pytest" and 'pip install -e .[test,jax]' in readme


@pytest.mark.real_data
def test_the_readmes_migrate_example_runs_as_written(real_mnist_dir, tmp_path):
  """Each command of the README's migrate example, in a fresh directory, MNIST from the cache
  (XDG_CACHE_HOME, as on a user's machine after the first run): exit 0, what the text says it
  prints, and no notice from TensorFlow's Python side (a deprecation warning leaked into
  to-keras's output until its checkpoint check stopped using checkpoint_exists)."""
  commands = _sh_block_after("Try it on a TF1 program's checkpoint")
  assert [shlex.split(c, comments=True)[3:5] for c in commands] == [
      ["legacy", "static_rnn"], ["migrate", "inspect"], ["migrate", "to-keras"],
      ["migrate", "to-tf1"]]
  (tmp_path / "cache").mkdir()
  (tmp_path / "cache" / "tf_rnn_mnist").symlink_to(real_mnist_dir)
  env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
         "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  outputs = []
  for command in commands:
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (command, done.stderr[-3000:])
    assert not re.search(r"deprecat|Instructions for updating|Traceback", done.stderr,
                         re.I), (command, done.stderr[-3000:])
    outputs.append(done.stdout)
  inspect, to_keras, to_tf1 = outputs[1:]
  assert "    Placeholder:0 float32 [?, 28, 28]" in inspect.splitlines()
  assert re.search(r"^    dense/BiasAdd:0 float32 \[\?, 10\]$", inspect, re.M)
  assert re.search(r"^PASS: proved against the program's own graph checkpoint "
                   r"ckpt/model\.ckpt-50, ", to_keras, re.M)
  assert (tmp_path / "model.keras").is_file() and (tmp_path / "back" / "model.index").is_file()
  assert to_tf1.strip().endswith("wrote back/model: 6 variables under the program's own names")
