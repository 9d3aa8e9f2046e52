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
import tf_rnn_mnist.plumbing.cli  # noqa: F401
import tensorflow  # noqa: F401
faulthandler.enable()
print("last words", file=sys.stderr, flush=True)
how = sys.argv[1]
if how == "segv":
  os.kill(os.getpid(), signal.SIGSEGV)
if how == "abort":
  os.write(2, b"F0000 00:00:1796433851.086073   23996 some_op.cc:52] Check failed: x == y\\n")
  os.abort()
if how == "native_error":  # (a C++ error line: not one of the known notices)
  os.write(2, b"E0000 00:00:1796433851.086073   23996 bfc_allocator.cc:485] Allocator (cpu) "
              b"ran out of memory trying to allocate 4.00GiB\\n")
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


def test_a_native_line_not_known_as_a_notice_passes(crashing_tool):
  """The filter leaves out the notices it knows by their source, not every C++ log line: an
  error from elsewhere (the allocator) reaches stderr."""
  done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist_crashtest", "native_error"],
                        capture_output=True, text=True, timeout=300,
                        env=_quiet_env(PYTHONPATH=str(crashing_tool)))
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stderr.splitlines() == [
      "last words", "E0000 00:00:1796433851.086073   23996 bfc_allocator.cc:485] Allocator "
      "(cpu) ran out of memory trying to allocate 4.00GiB"], done.stderr


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


# 1. Names and paths at the filesystem's limits ---------------------------------------------

def test_outputs_with_the_longest_legal_names_are_written(tmp_path, small_idx_dir):
  """Names of 250 bytes pass NAME_MAX (255); the staged names the atomic writes use are short,
  so the run's results and export are written where asked (they were once lost)."""
  results = tmp_path / ("r" * 245 + ".json")
  export = tmp_path / ("m" * 244 + ".keras")
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=2",
       f"--results_json={results}", f"--export={export}", "--noprogress", *DATA,
       f"--data_dir={small_idx_dir}"], capture_output=True, text=True, timeout=300,
      env=_quiet_env())
  assert done.returncode == 0, done.stderr[-2000:]
  assert json.loads(results.read_text())["steps"] == 2 and export.is_file()
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted([results.name, export.name])


@pytest.mark.parametrize("make,message", [
    (lambda d: f"{d}/{'r' * 256}.json",
     r"--results_json: the name r{40}\.\.\. is 261 bytes; this filesystem's names are at most "
     r"255 \(NAME_MAX\)\."),
    (lambda d: "/dev/stdout",
     r"--results_json=/dev/stdout is a device or stream, not a file: outputs are written whole "
     r"under a new name and renamed onto their path, which would replace what the stream leads "
     r"to\. Pass a \.json file path\."),
    (lambda d: "/proc/self/fd/1", r"--results_json=/proc/self/fd/1 is a device or stream"),
])
def test_an_output_name_the_filesystem_cannot_take_is_refused_first(tmp_path, make, message):
  from tf_rnn_mnist.plumbing import outputs
  from tf_rnn_mnist.errors import ConfigError
  with pytest.raises(ConfigError, match=f"^{message}"):
    outputs.check_writable_file("results_json", make(tmp_path), "a .json file path")
  assert list(tmp_path.iterdir()) == []


def test_symbolic_link_outputs_are_checked_where_they_lead(tmp_path):
  """A link to a file in a directory that does not exist yet: the directory is made first
  (the write lands there, not beside the link); a link loop: refused before any work."""
  from tf_rnn_mnist.plumbing import outputs
  from tf_rnn_mnist.errors import ConfigError
  (tmp_path / "dangling.keras").symlink_to(tmp_path / "elsewhere" / "deeper" / "m.keras")
  outputs.check_export_path("export", str(tmp_path / "dangling.keras"))
  assert (tmp_path / "elsewhere" / "deeper").is_dir()
  (tmp_path / "loopA").symlink_to(tmp_path / "loopB")
  (tmp_path / "loopB").symlink_to(tmp_path / "loopA")
  with pytest.raises(ConfigError, match=re.escape(
      f"--results_json={tmp_path}/loopA cannot be written: Too many levels of symbolic links "
      "(a symbolic link loop).")):
    outputs.check_writable_file("results_json", str(tmp_path / "loopA"), "a .json file path")


def test_a_model_dir_too_long_for_its_checkpoints_is_refused_before_training(tmp_path):
  """A model_dir of about 4,050 bytes could be created, but no checkpoint inside it: refused
  before anything is made."""
  from tf_rnn_mnist.plumbing import outputs
  from tf_rnn_mnist.errors import ConfigError
  deep = os.path.join(tmp_path, *["d" * 200] * 20)
  assert 4000 < len(deep) < 4096
  with pytest.raises(ConfigError, match=(
      rf"^--model_dir: the path is {len(deep)} bytes with the 160 bytes of what is written "
      r"inside it; this filesystem's paths are at most 4096 \(PATH_MAX\)\. Pass a shorter "
      r"path\.$")):
    outputs.check_train_outputs(_outputs_of_a_run(model_dir=deep))
  assert list(tmp_path.iterdir()) == []


def _outputs_of_a_run(**given):
  """What check_train_outputs reads of a run's config."""
  import types
  base = dict(checkpoint_every=0, model_dir=None, tensorboard_dir=None, results_json=None,
              export=None, init_from=None, batch_indices=None, data_dir=None)
  return types.SimpleNamespace(**{**base, **given})


# 3. A resume on other data ------------------------------------------------------------------

def test_a_resume_on_other_training_data_is_refused_with_both_digests(tmp_path):
  """Own IDX data, --noverify_digests: the second command's files differ (one pixel); it is
  refused, naming both data digests, and the checkpoint is left as it was."""
  from conftest import make_tiny_arrays, write_idx_dir
  arrays = make_tiny_arrays(num_train=5300, num_test=40)
  first = write_idx_dir(tmp_path / "a", arrays)
  arrays["train_images"][5200, 3, 4] ^= 1  # (TF1's split trains on images 5000 on)
  second = write_idx_dir(tmp_path / "b", arrays)

  def train(data_dir, steps):
    return subprocess.run(
        [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru",
         f"--train_steps={steps}", f"--model_dir={tmp_path / 'm'}", "--noprogress", *DATA,
         f"--data_dir={data_dir}"], capture_output=True, text=True, timeout=300,
        env=_quiet_env())
  done = train(first, 2)
  assert done.returncode == 0, done.stderr[-2000:]
  saved = sorted(os.listdir(tmp_path / "m" / "checkpoints"))
  done = train(second, 4)
  assert done.returncode == 1, done.stderr[-2000:]
  assert re.search(r"^error: --model_dir=\S+ holds a checkpoint of a different run \(ckpt-\d+\): "
                   r"the training data's SHA-256 [0-9a-f]{16} there, [0-9a-f]{16} here \(other "
                   r"data: another --data_dir or --data_source\)\. Pass the same flags to "
                   r"resume it, or a new --model_dir\.$", done.stderr, re.M), done.stderr[-2000:]
  assert sorted(os.listdir(tmp_path / "m" / "checkpoints")) == saved
  assert train(first, 4).returncode == 0  # (the same data resumes)


# 4. Outputs inside another run, NaN flags, a variant twice ---------------------------------

HOLDER = """
import sys, time
from tf_rnn_mnist.plumbing.run_lock import RunLock
RunLock(sys.argv[1], "model_dir").acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_an_output_inside_another_runs_locked_model_dir_is_refused(tmp_path, small_idx_dir):
  """A second run's --tensorboard_dir (or results) inside a running run's model_dir: the two
  runs' scalars would mix; refused before anything is written there. (A run the holder
  itself started, as compare starts its runs inside its --out, is not refused.)"""
  held = tmp_path / "running"
  holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(held)], stdout=subprocess.PIPE,
                            text=True)
  try:
    assert holder.stdout.readline() == "held\n"
    for flag, path in (("tensorboard_dir", held / "tb"), ("results_json", held / "r.json")):
      done = subprocess.run(
          [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru",
           "--train_steps=2", f"--model_dir={tmp_path / 'second'}", f"--{flag}={path}",
           "--noprogress", *DATA, f"--data_dir={small_idx_dir}"], capture_output=True,
          text=True, timeout=300, env=_quiet_env())
      assert done.returncode == 1, done.stderr[-2000:]
      assert (f"error: --{flag}={path} is inside {held}, which another run holds (its "
              "--model_dir): the two runs' files would mix. Pass a path outside it.") in \
          done.stderr, done.stderr[-2000:]
      assert sorted(os.listdir(held)) == [".run.lock"]
  finally:
    holder.kill()
    holder.wait()


@pytest.mark.parametrize("command,message", [
    (["tf_rnn_mnist.tools.bench", "--precision=nan"],
     "--precision=nan: a finite number is expected"),
    (["tf_rnn_mnist.train", "--learning_rate=inf"],
     "--learning_rate=inf: a finite number is expected"),
    (["tf_rnn_mnist.migrate", "inspect", "x", "--forget_bias=nan"],
     "flag --forget_bias=nan: --forget_bias must be a finite number"),  # (its own validator)
])
def test_a_float_flag_given_nan_or_infinity_is_refused(command, message):
  done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True,
                        timeout=120)
  assert done.returncode == 1 and done.stderr.strip().endswith(
      f"error: {message}. (--help lists the flags.)"), done.stderr


def test_a_variant_named_twice_is_refused():
  from tf_rnn_mnist import variants
  from tf_rnn_mnist.errors import ConfigError
  with pytest.raises(ConfigError, match=re.escape(
      "--variants=static_gru,static_gru names static_gru twice; each variant is run (and "
      "reported) once.")):
    variants.parse_names("static_gru,static_gru")


# 5. One line and the right exit status ------------------------------------------------------

def _keras_file_without_a_layer_name(path):
  """A .keras whose config lost a layer's name (hand-edited, or crafted): Keras raises a bare
  KeyError('name') loading it."""
  import zipfile
  import keras
  inputs = keras.Input((28, 28))
  model = keras.Model(inputs, keras.layers.Dense(10, name="d")(inputs), name="static_gru")
  model.save(path)
  with zipfile.ZipFile(path) as z:
    files = {n: z.read(n) for n in z.namelist()}
  config = json.loads(files["config.json"])
  config["config"]["layers"][1].pop("name")
  files["config.json"] = json.dumps(config).encode()
  with zipfile.ZipFile(path, "w") as z:
    for name, data in files.items():
      z.writestr(name, data)
  return path


@pytest.mark.parametrize("command", [
    lambda bad, d: ["tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=1",
                    f"--init_from={bad}", "--noprogress", *DATA, f"--data_dir={d}"],
    lambda bad, d: ["tf_rnn_mnist.tools.convert", "--variant=static_gru", f"--keras_model={bad}",
                    f"--output={bad.parent / 'out' / 'ckpt'}"],
])
def test_a_keras_file_keras_cannot_build_is_one_line(tmp_path, small_idx_dir, command):
  bad = _keras_file_without_a_layer_name(tmp_path / "bad.keras")
  done = subprocess.run([sys.executable, "-m", *command(bad, small_idx_dir)],
                        capture_output=True, text=True, timeout=300, env=_quiet_env())
  assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: {bad} is not a readable Keras model (KeyError 'name')."), done.stderr[-2000:]


def test_a_graph_with_an_op_tensorflow_does_not_register_is_one_line(tmp_path):
  """A .meta naming a custom op whose library is not loaded: migrate says so in one line."""
  import numpy as np
  import tensorflow as tf
  from tf_rnn_mnist.migrate.tf1_checkpoints import write_tf1_checkpoint
  with tf.Graph().as_default() as g:
    x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
    w = tf.compat.v1.get_variable("w", [3, 2])
    tf.identity(tf.matmul(x, w), name="y")
    meta = tf.compat.v1.train.export_meta_graph(graph=g)
  next(n for n in meta.graph_def.node if n.name == "y").op = "MyCustomRnnOp"
  (tmp_path / "model.ckpt.meta").write_bytes(meta.SerializeToString())
  write_tf1_checkpoint({"w": np.ones((3, 2), np.float32)}, str(tmp_path / "model.ckpt"))
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.migrate", "to-keras", str(tmp_path / "model.ckpt"),
       "--inputs=x:0", "--outputs=y:0", f"--output={tmp_path / 'm.keras'}"],
      capture_output=True, text=True, timeout=300, env=_quiet_env())
  assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
  assert done.stderr.strip().splitlines()[-1] == (
      f"error: {tmp_path}/model.ckpt.meta: TensorFlow does not import this graph (Op type not "
      "registered 'MyCustomRnnOp' in binary running on "
      f"{os.uname().nodename})."), done.stderr[-2000:]
  assert not (tmp_path / "m.keras").exists()


@pytest.mark.parametrize("error", [
    lambda: __import__("tensorflow").errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[100000000,128] and type float on "
        "/job:localhost/replica:0/task:0/device:CPU:0 by allocator cpu\n[[{{node x}}]]"),
    lambda: MemoryError("Unable to allocate 47.7 GiB for an array")])
def test_out_of_memory_is_one_line_with_the_batch_size(monkeypatch, error):
  from tf_rnn_mnist.training import loop
  from tf_rnn_mnist import train
  from tf_rnn_mnist.errors import ConfigError
  from test_train import ONE_DEVICE, tiny_datasets

  def exhausted(*args, **kwargs):
    raise error()
  monkeypatch.setattr(loop, "train_model", exhausted)
  with pytest.raises(ConfigError, match=(
      r"^Out of memory training static_gru with a batch of 100000000 \((OOM when allocating "
      r"tensor with shape\[100000000,128\] and type float on /job:localhost/replica:0/task:0/"
      r"device:CPU:0 by allocator cpu|Unable to allocate 47\.7 GiB for an array)\)\. Try a "
      r"smaller --batch_size \(or --mixed_precision on a GPU\)\.$")):
    train.run(train.TrainConfig(variant="static_gru", train_steps=1, batch_size=100000000,
                                progress=False), datasets_override=tiny_datasets(),
              strategy_override=ONE_DEVICE)


STOPPING_TOOL = '''
import sys, time
from tf_rnn_mnist.plumbing import cli
def main(argv):
  try:
    print("ready", flush=True)  # (inside: a signal right after it finds the finally)
    time.sleep(60)
  finally:
    print("cleaning up", flush=True)  # (waiting for children, writing what finished)
    time.sleep(2)
    print("cleaned up", flush=True)
cli.run_tool(main)
'''


def test_a_second_stop_signal_during_the_exit_does_not_break_it(tmp_path):
  """Ctrl-C twice (or under `timeout`): the exit the first one started goes on, then one line
  and 130, never a traceback."""
  import signal
  import time
  (tmp_path / "tf_rnn_mnist_stoptest.py").write_text(STOPPING_TOOL)
  process = subprocess.Popen([sys.executable, "-m", "tf_rnn_mnist_stoptest"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_quiet_env(PYTHONPATH=str(tmp_path)))
  assert process.stdout.readline() == "ready\n"
  process.send_signal(signal.SIGINT)
  assert process.stdout.readline() == "cleaning up\n"
  time.sleep(0.2)
  process.send_signal(signal.SIGINT)
  stdout, stderr = process.communicate(timeout=60)
  assert process.returncode == 130, stderr[-2000:]
  assert stdout == "cleaned up\n" and stderr.strip() == "Stopped by SIGINT.", (stdout, stderr)


# 6. Messages that name the real cause -------------------------------------------------------

def test_a_checkpoint_under_a_path_with_glob_characters_says_so(tmp_path):
  import shutil
  import numpy as np
  from tf_rnn_mnist.errors import ConfigError
  from tf_rnn_mnist.migrate.tf1_checkpoints import open_tf1_checkpoint, write_tf1_checkpoint
  write_tf1_checkpoint({"w": np.ones(3, np.float32)}, str(tmp_path / "ok" / "model"))
  shutil.copytree(tmp_path / "ok", tmp_path / "ck[1]")
  assert open_tf1_checkpoint(str(tmp_path / "ok" / "model")).has_tensor("w")
  with pytest.raises(ConfigError, match=re.escape(
      f"{tmp_path}/ck[1]/model: TensorFlow reads checkpoint paths as glob patterns, and this "
      "one holds *, ?, [ or ], so it cannot be read where it is; copy or move the "
      "checkpoint's files to a path without them.")):
    open_tf1_checkpoint(str(tmp_path / "ck[1]" / "model"))


def test_an_output_beside_an_input_is_not_taken_for_one_inside_it(tmp_path):
  """--init_from=run1.keras --results_json=run1.keras.json: beside the file, allowed; a
  checkpoint prefix's own files stay refused."""
  from tf_rnn_mnist.plumbing import outputs
  from tf_rnn_mnist.errors import ConfigError
  (tmp_path / "run1.keras").write_bytes(b"PK")
  outputs.check_distinct({"results_json": str(tmp_path / "run1.keras.json")},
                         {"init_from": str(tmp_path / "run1.keras")})
  with pytest.raises(ConfigError, match="is inside the input --init_from"):
    outputs.check_distinct({"results_json": str(tmp_path / "ckpt.index")},
                           {"init_from": str(tmp_path / "ckpt")})


def test_migrate_answers_a_usage_error_before_importing_tensorflow():
  done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tf_rnn_mnist.migrate",
                         "inspect", "x", "--bogus"], capture_output=True, text=True,
                        timeout=120)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      "error: Unknown command line flag 'bogus'. (--help lists the flags.)")
  imported = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.M)
  assert "tf_rnn_mnist.migrate.graph" in imported  # (the count is of real imports)
  assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "keras")], imported


# 7. The image's stops: python as PID 1, a stop after the end --------------------------------

def _pid_namespaces():
  try:
    return subprocess.run(["unshare", "-p", "-f", "--mount-proc", "true"],
                          capture_output=True, timeout=30).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


@pytest.mark.skipif(not _pid_namespaces(), reason="needs PID namespaces (unshare -p), as in "
                    "a container")
def test_a_stop_while_starting_ends_python_as_pid_1_at_once(tmp_path):
  """`docker run --entrypoint python ...`: python is PID 1, which the kernel gives no default
  action for SIGTERM. SIGTERM sent every 20 ms from its start: the first one after the
  package's import ends it (143), long before the trainer's own handlers; before this, each
  was ignored until the trainer's imports were done."""
  import signal
  import time
  process = subprocess.Popen(
      ["unshare", "-p", "-f", "--mount-proc", sys.executable, "-m", "tf_rnn_mnist.train",
       "--variant=static_gru", "--train_steps=1", "--noprogress", *DATA,
       f"--data_dir={tmp_path / 'none'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, env=_quiet_env())
  inner = None
  deadline = time.monotonic() + 60
  while process.poll() is None and time.monotonic() < deadline:
    inner = inner or next((int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p)
                           == process.pid), None)
    if inner:
      os.kill(inner, signal.SIGTERM)
    time.sleep(0.02)
  _, stderr = process.communicate(timeout=60)
  assert process.returncode == 143, stderr[-2000:]
  assert stderr.strip() == "Stopped by SIGTERM while starting; nothing was written.", stderr


def _parent(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return int(f.read().rsplit(")", 1)[1].split()[1])
  except (OSError, IndexError, ValueError):
    return None


FINISHING_TOOL = '''
import os, signal, time
from tf_rnn_mnist.plumbing import cli
def main(argv):
  cli.finished("the run had finished, and its outputs were written")
  os.kill(os.getpid(), signal.SIGTERM)  # (docker stop, just after the last output)
  time.sleep(30)
cli.run_tool(main)
'''


def test_a_stop_after_every_output_is_written_exits_0_and_says_so(tmp_path):
  (tmp_path / "tf_rnn_mnist_finishtest.py").write_text(FINISHING_TOOL)
  done = subprocess.run([sys.executable, "-m", "tf_rnn_mnist_finishtest"], capture_output=True,
                        text=True, timeout=60, env=_quiet_env(PYTHONPATH=str(tmp_path)))
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stderr.strip() == ("Stopped by SIGTERM after the end: the run had finished, and "
                                 "its outputs were written; exit status 0.")


def test_image_stops_refuses_an_empty_data_directory_before_starting(tmp_path):
  """Its default data directory is the project's own cache; an empty one is said at once
  (it once failed in the engine, podman 125)."""
  script = os.path.join(os.path.dirname(__file__), "..", "scripts", "image_stops.sh")
  done = subprocess.run(["bash", script, "some-tag", "1", "0", str(tmp_path)],
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 1
  assert done.stderr.strip() == (
      f"error: {tmp_path} holds no train-images-idx3-ubyte(.gz): pass the MNIST IDX directory "
      "as DATA_DIR, or fill the cache first with: python -m tf_rnn_mnist data")


@pytest.mark.parametrize("script", ["check_image.sh", "image_stops.sh"])
def test_the_image_scripts_remove_their_containers_volumes(script):
  """Every container they remove goes with its anonymous volumes (the image declares /cache
  and /runs): `rm -v`, or `run --rm`."""
  text = open(os.path.join(os.path.dirname(__file__), "..", "scripts", script)).read()
  removals = re.findall(r'"\$ENGINE" rm\b[^\n]*', text)
  assert removals and all(re.search(r"\brm( -f)? -v ", r) for r in removals), removals


def test_an_error_after_stdouts_reader_left_still_reaches_stderr(tmp_path, small_idx_dir):
  """`train ... 2>err | head -1`, and the export then fails (a file size limit): the error,
  which says where the model was rescued to or that it could not be, reaches stderr."""
  import resource
  process = subprocess.Popen(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=30",
       "--batch_size=20", f"--export={tmp_path / 'm.keras'}", "--noprogress", *DATA,
       f"--data_dir={small_idx_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, env=_quiet_env(TMPDIR=str(tmp_path)),
      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000)))
  assert process.stdout.readline()
  process.stdout.close()  # as head does after its line
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 1, stderr[-2000:]
  assert stderr.strip().splitlines()[-1].startswith(
      f"error: Could not export the model to {tmp_path / 'm.keras'}"), stderr[-2000:]


def test_a_savedmodel_export_prints_no_staged_name(tmp_path, small_idx_dir):
  """Keras's "Saved artifact at <path>" named the staged directory, which never exists once
  renamed, in the run's log (stdout)."""
  done = subprocess.run(
      [sys.executable, "-m", "tf_rnn_mnist.train", "--variant=static_gru", "--train_steps=1",
       f"--export={tmp_path / 'served'}", "--noprogress", *DATA, f"--data_dir={small_idx_dir}"],
      capture_output=True, text=True, timeout=300, env=_quiet_env())
  assert done.returncode == 0, done.stderr[-2000:]
  assert "partial" not in done.stdout and "Saved artifact" not in done.stdout, done.stdout
  assert (tmp_path / "served" / "saved_model.pb").is_file()


def test_a_path_argument_that_is_not_utf8_is_said_first(tmp_path, small_idx_dir):
  """A model_dir named with a byte that is not UTF-8 (\\xff): TensorFlow cannot write there
  (it encodes paths as UTF-8, strictly); refused in one line before anything is made (it
  was a traceback after the lock was taken)."""
  model_dir = os.fsencode(tmp_path) + b"/m\xff"
  done = subprocess.run(
      [os.fsencode(sys.executable), b"-m", b"tf_rnn_mnist.train", b"--variant=static_gru",
       b"--train_steps=1", b"--model_dir=" + model_dir, b"--noprogress",
       *[a.encode() for a in DATA], b"--data_dir=" + os.fsencode(small_idx_dir)],
      capture_output=True, timeout=300, env=_quiet_env())
  assert done.returncode == 1 and b"Traceback" not in done.stderr, done.stderr[-2000:]
  assert done.stderr.strip().splitlines()[-1] == (
      b"error: --model_dir=" + os.fsencode(tmp_path) + b"/m\\xff: the path is not valid "
      b"UTF-8, which TensorFlow requires of every path it writes; rename it.")
  assert not os.path.exists(model_dir)


def test_data_inputs_of_the_wrong_kind_are_named_as_such(tmp_path):
  """A file given as the MNIST directory, a text file given as a batch order: said as what
  they are (not "does not exist", not "pickled data")."""
  from tf_rnn_mnist.data.errors import MnistDataError
  from tf_rnn_mnist.data.sources import read_idx_dir
  from tf_rnn_mnist.data.splits import read_batch_order
  (tmp_path / "afile").write_text("x")
  with pytest.raises(MnistDataError, match=re.escape(
      f"MNIST directory {tmp_path}/afile is a file, not a directory. Expected a directory")):
    read_idx_dir(str(tmp_path / "afile"))
  (tmp_path / "order.txt").write_text("1 2 3\n")
  with pytest.raises(MnistDataError, match=re.escape(
      f"--batch_indices={tmp_path}/order.txt is not a readable .npy file (not a .npy file: it "
      "does not start with numpy's magic bytes).")):
    read_batch_order(str(tmp_path / "order.txt"))


def test_bench_writes_its_plot_when_its_json_cannot_be_written(tmp_path, monkeypatch):
  """Once the JSON's failure kept the plot from being written, silently."""
  from tf_rnn_mnist.tools import bench
  from tf_rnn_mnist.plumbing import results
  from tf_rnn_mnist.errors import OutputError
  plotted = []
  monkeypatch.setattr(bench, "plot", lambda rows, path: (plotted.append(path),
                                                          open(path, "w").write("png")))

  def full(path, value, what="the results"):
    raise OutputError(f"Could not write {path} (No space left on device), nor a copy of {what} "
                      "in the temp directory.")
  monkeypatch.setattr(results, "write_json_atomically", full)
  with pytest.raises(OutputError, match=re.escape(
      f"Could not write {tmp_path}/b.json (No space left on device), nor a copy of the "
      f"results in the temp directory. The table is above; written: the plot in "
      f"{tmp_path}/b.png.")):
    bench._write_outputs([{"variant": "static_gru"}], str(tmp_path / "b.json"),
                         str(tmp_path / "b.png"))
  assert (tmp_path / "b.png").read_text() == "png"
