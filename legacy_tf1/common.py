"""What the legacy scripts (TF1 graphs and the PyTorch tutorial) add to their tutorials: flags,
the TF1 import, checkpoints, and the results JSON in the trainer's schema.

Kept apart so that each script reads like its tutorial, line for line.
"""

import contextlib
import functools
import importlib.util
import os
import sys
import time
import warnings

from absl import flags
import numpy as np

from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist.plumbing.bench_gate import WindowGate
from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist.data import flags as data_flags
from tf_rnn_mnist.data.splits import read_batch_order
from tf_rnn_mnist.errors import ConfigError, OutputError
from tf_rnn_mnist.plumbing.run_lock import RunLock

FLAGS = flags.FLAGS

MISSING_TF_KERAS = (
    "error: legacy_tf1 needs the tf-keras package: TensorFlow 2.21's tf.compat.v1.nn.rnn_cell "
    "and tf.compat.v1.layers are implemented by tf-keras and raise 'not available with Keras 3' "
    "without it. Install it with `pip install 'tf-keras~=2.21.0'` (installing tf_rnn_mnist "
    "installs it), then run the script again.")


def import_tf1():
  """Returns tf.compat.v1 in graph mode, with the tf-keras its RNN cells need."""
  try:
    tf_keras_found = importlib.util.find_spec("tf_keras") is not None
  except (ImportError, ValueError):  # ValueError: a stub module without a spec
    tf_keras_found = False
  if not tf_keras_found:
    sys.exit(MISSING_TF_KERAS)
  if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    sys.exit("error: TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set, so its "
             "compat.v1 RNN cells use Keras 3 and fail. Run the legacy scripts in their own "
             "process (python -m legacy_tf1.<script>).")
  os.environ["TF_USE_LEGACY_KERAS"] = "1"
  cli.install_stop_handlers()  # importing TensorFlow takes seconds: a Ctrl-C is one line too
  if "--verbose" not in sys.argv:
    # The tutorials ran on TF1, which warned of none of these APIs (GRUCell, tf.layers.dense).
    warnings.filterwarnings("ignore", message=r"`tf\.(nn\.rnn_cell|layers|contrib)\..*` is "
                            "deprecated", category=UserWarning)
  with cli.stops_end_quietly():
    import tensorflow.compat.v1 as tf
    # The tutorials ran on TF1, which printed none of TF 2's deprecation notices for these APIs.
    tf.get_logger().setLevel("ERROR")
    tf.disable_v2_behavior()
  return tf


def run_main(main):
  """cli.run_tool(main) (errors and signals as one line), refusing two outputs on one path or
  an output on an input, and holding --checkpoint_dir's lock: one run per directory."""
  @functools.wraps(main)
  def checked_main(argv):
    outputs.check_distinct(
        {name: _written_path(name, FLAGS[name].value) for name in OUTPUT_FLAGS
         if name in FLAGS},
        {name: FLAGS[name].value for name in INPUT_FLAGS if name in FLAGS})
    with contextlib.ExitStack() as held:
      if "checkpoint_dir" in FLAGS and FLAGS.checkpoint_dir:
        held.enter_context(RunLock(FLAGS.checkpoint_dir, "checkpoint_dir"))
      return main(argv)
  cli.run_tool(checked_main)


# numpy.savez writes PATH.npz when PATH does not end in .npz.
NPZ_OUTPUTS = ("save_test_outputs", "initial_losses")


def _written_path(flag, path):
  if path and flag in NPZ_OUTPUTS and not path.endswith(".npz"):
    return path + ".npz"
  return path


OUTPUT_FLAGS = ("results_json", "logdir", "save_test_outputs", "initial_losses",
                "checkpoint_dir", "save_state_dict", "save_initial_state_dict")
INPUT_FLAGS = ("batch_indices", "initial_checkpoint", "initial_state_dict", "data_dir")


def define_flags(steps_help):
  """The flags every legacy script adds to its tutorial's program."""
  flags.DEFINE_integer("train_steps", None, f"Updates to run instead of the tutorial's {steps_help}.")
  flags.DEFINE_integer("seed", 0, "Seeds the weights and the batch order (TF1: "
                       "tf.set_random_seed(seed) before loading the data, as TF1 did, which "
                       "makes next_batch's order numpy.random.seed(seed)'s; torch: "
                       "torch.manual_seed(seed)).")
  data_flags.define_data_flags()
  flags.DEFINE_string("results_json", None, "Write the results (the trainer's schema) here.")
  flags.DEFINE_string("logdir", None, "Write TensorBoard scalars here.")
  flags.DEFINE_string("batch_indices", None, "A .npy (steps, batch) array of training-split "
                      "indices to feed instead of the tutorial's shuffled order (matched runs).")
  flags.DEFINE_string("save_test_outputs", None, "Save the model's outputs on the test set "
                      "(logits, or the prediction for basic_lstm) and the mean test loss to this "
                      ".npz, after training: what the equivalence tests compare with Keras.")
  flags.DEFINE_bool("record_step_seconds", False, "Add the seconds of every timed training "
                    "step to the results JSON (step_seconds): the benchmark's timed windows.")
  flags.DEFINE_integer("bench_window", None, "Benchmark mode (bench): train only "
                       "when told, in windows of this many updates (bench_gate.py).",
                       lower_bound=1)
  flags.DEFINE_string("initial_losses", None, "Measure, do not train: the tutorial's mean loss "
                      "on the first 100 test images after each of --initial_draws fresh "
                      "initialisations, saved with those images and labels to this .npz. "
                      "The law the port's initialisation is tested against.")
  flags.DEFINE_integer("initial_draws", 20, "Fresh initialisations for --initial_losses.",
                       lower_bound=2)
  flags.register_validator("train_steps", lambda v: v is None or v > 0,
                           "--train_steps must be a positive integer")
  flags.register_validator("seed", lambda v: 0 <= v < 2 ** 32,
                           "--seed must be in 0..2**32-1 (numpy's and TF1's seed range)")
  output_flags(results_json="file", logdir="dir", save_test_outputs="file")
  flags.register_validator(
      "initial_losses",
      lambda v: v is None or (not os.path.isdir(v)
                              and os.access(os.path.dirname(os.path.abspath(v)), os.W_OK)),
      "--initial_losses must be a .npz file path in an existing, writable directory")


INITIAL_LOSS_EXAMPLES = 100


def initial_loss_batch(images, labels):
  """The fixed batch of --initial_losses: the first 100 test examples (all, if fewer)."""
  return images[:INITIAL_LOSS_EXAMPLES], labels[:INITIAL_LOSS_EXAMPLES]


def measure_initial_losses(loss_after_fresh_init, images, labels):
  """--initial_losses: the loss after each of --initial_draws fresh initialisations, saved
  with the batch it was measured on (images as the model reads them, integer labels).
  Returns whether it measured (the script then ends without training)."""
  if not FLAGS.initial_losses:
    return False
  losses = np.asarray([float(loss_after_fresh_init()) for _ in range(FLAGS.initial_draws)])
  labels = np.asarray(labels)
  np.savez(FLAGS.initial_losses, losses=losses,
           images=np.asarray(images, np.float32).reshape(-1, 28, 28),
           labels=labels.argmax(1) if labels.ndim == 2 else labels)
  print(f"Initial loss over {len(losses)} draws: mean {losses.mean():.6f}, sd "
        f"{losses.std(ddof=1):.6f}; saved to {FLAGS.initial_losses}", flush=True)
  return True


def measure_tf1_initial_losses(tf, sess, loss, feed_of, test):
  """measure_initial_losses for a TF1 graph: re-running the initializer draws afresh from the
  graph's own initializers. feed_of(images, one_hot_labels) is the script's feed_dict."""
  if not FLAGS.initial_losses:
    return False
  init = tf.global_variables_initializer()
  images, labels = initial_loss_batch(test.images, test.labels)

  def loss_after_fresh_init():
    sess.run(init)
    return np.mean(sess.run(loss, feed_dict=feed_of(images, labels)))
  return measure_initial_losses(loss_after_fresh_init, images, labels)


def _output_checker(flag, kind):
  def check(value):
    if value:
      try:
        (outputs.check_writable_file if kind == "file" else outputs.check_writable_dir)(flag, value)
      except ConfigError as e:
        raise flags.ValidationError(str(e)) from None
    return True
  return check


def output_flags(**kinds):
  """Checks output flags (`name="file"` or `"dir"`) when the flags are parsed, before any
  work: a run never ends by failing to write what it finished."""
  for flag, kind in kinds.items():
    flags.register_validator(flag, _output_checker(flag, kind))


def define_tf1_checkpoint_flags():
  flags.DEFINE_string("checkpoint_dir", None, "Save a tf.compat.v1.train.Saver checkpoint of "
                      "the trained weights here (model.ckpt-STEPS).")
  flags.DEFINE_bool("save_initial_checkpoint", False, "Also save the initial weights, before "
                    "any update, as CHECKPOINT_DIR/initial.ckpt.")
  flags.DEFINE_string("initial_checkpoint", None, "Start from the weights in this checkpoint "
                      "instead of a random initialisation (matched runs).")
  output_flags(checkpoint_dir="dir")


def load_batch_indices(num_examples=None, steps=None, batch_size=None):
  """The --batch_indices array, checked as the trainer checks it (with `steps`: at least that
  many batches of `batch_size`), or None. (The TF1 scripts' ReplayOrder checks the range once
  the split is known.)"""
  if not FLAGS.batch_indices:
    return None
  return read_batch_order(FLAGS.batch_indices, num_examples, steps, batch_size)


def read_data_sets(input_data):
  """The tutorials' `input_data.read_data_sets("MNIST_data/", one_hot=True)`, from the flags."""
  batch_indices = load_batch_indices()
  return input_data.read_data_sets(
      FLAGS.data_dir, one_hot=True, source=FLAGS.data_source,
      verify_digests=FLAGS.verify_digests, tfds_data_dir=FLAGS.tfds_data_dir,
      batch_indices=batch_indices)


def start_tf1_session(tf, sess):
  """After the variables are initialised: restore or save the initial weights as asked."""
  model_variables = tf.trainable_variables()
  if FLAGS.initial_checkpoint:
    try:
      tf.train.Saver(model_variables).restore(sess, FLAGS.initial_checkpoint)
    except (ValueError, tf.errors.OpError) as e:
      raise ConfigError(f"--initial_checkpoint={FLAGS.initial_checkpoint} cannot initialise "
                        f"this graph: {str(e).splitlines()[0]}") from None
  if FLAGS.checkpoint_dir and FLAGS.save_initial_checkpoint:
    os.makedirs(FLAGS.checkpoint_dir, exist_ok=True)
    # With its .meta, as Saver writes by default: `migrate` reads the graph beside it.
    tf.train.Saver(model_variables).save(sess, os.path.join(FLAGS.checkpoint_dir, "initial.ckpt"))


# Why the trained weights' checkpoint could not be saved (then the results are still written,
# and the run ends with this error).
_unsaved = []


def save_tf1_checkpoint(tf, sess, steps):
  if not FLAGS.checkpoint_dir:
    return
  try:
    os.makedirs(FLAGS.checkpoint_dir, exist_ok=True)
    tf.train.Saver(tf.trainable_variables()).save(
        sess, os.path.join(FLAGS.checkpoint_dir, "model.ckpt"), global_step=steps)
  except (OSError, tf.errors.OpError) as e:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    _unsaved.append(f"The checkpoint after update {steps} could not be saved in "
                    f"{FLAGS.checkpoint_dir} ({type(e).__name__}: {text}).")


def tf1_scalar_writer(tf):
  """compat.v1 summaries for --logdir, or None."""
  if not FLAGS.logdir:
    return None
  writer = tf.summary.FileWriter(FLAGS.logdir)

  def write(step, values):
    writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=k, simple_value=float(v))
                                         for k, v in values.items()]), step)
    writer.flush()
  return write


def tf1_run(tf, variant):
  """The Run of a TF1 graph script."""
  device = "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"
  return Run(variant, "tf1-graph", tf1_scalar_writer(tf), device)


class Run:
  """Timing, history, TensorBoard scalars and the results JSON of one legacy run."""

  def __init__(self, variant, framework, write_scalars=None, device="/cpu:0"):
    self.variant, self.framework, self.device = variant, framework, device
    self.write_scalars = write_scalars or (lambda step, values: None)
    self.history, self.train_seconds, self.step_seconds = [], 0.0, []
    self.eval_seconds = self.eval_examples = None
    self.start = time.perf_counter()
    self.gate = WindowGate(FLAGS.bench_window) if FLAGS.bench_window else None

  def steps(self, tutorial_steps):
    return FLAGS.train_steps or tutorial_steps

  def timed(self, fn, *args, **kwargs):
    """Calls fn (a training step), adding its time to train_seconds."""
    if self.gate:
      self.gate.before_step()
    tic = time.perf_counter()
    value = fn(*args, **kwargs)
    self.step_seconds.append(time.perf_counter() - tic)
    self.train_seconds += self.step_seconds[-1]
    if self.gate:
      self.gate.step(self.step_seconds[-1])
    return value

  def timed_eval(self, examples, fn, *args, **kwargs):
    """Calls fn (the final full-test-set evaluation of `examples` examples), timing it."""
    tic = time.perf_counter()
    value = fn(*args, **kwargs)
    self.eval_seconds, self.eval_examples = time.perf_counter() - tic, examples
    return value

  def train_metrics(self, step, loss, accuracy):
    self.history.append({"step": step, "train_loss": float(loss), "train_accuracy": float(accuracy)})
    self.write_scalars(step, {"train/loss": loss, "train/accuracy": accuracy})

  def test_metric(self, step, accuracy, examples):
    self.history.append({"step": step, "test_accuracy": float(accuracy),
                         "test_examples": int(examples)})
    self.write_scalars(step, {"test/accuracy_tutorial_protocol": accuracy})

  def save_test_outputs(self, outputs, loss):
    if FLAGS.save_test_outputs:
      np.savez(FLAGS.save_test_outputs, outputs=np.asarray(outputs), loss=np.asarray(loss))

  def finish(self, *, steps, batch_size, learning_rate, examples, test_accuracy, test_examples,
             tutorial_accuracy, tutorial_examples, packages):
    """Writes the results JSON (if asked) and returns the results."""
    print(results_io.summary_line(test_accuracy, test_examples, tutorial_accuracy, tutorial_examples),
          flush=True)
    self.write_scalars(steps, {"test/accuracy_full": test_accuracy})
    results = {
        "variant": self.variant, "framework": self.framework, "seed": FLAGS.seed,
        "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
        "test_accuracy": float(test_accuracy), "test_examples": test_examples,
        "tutorial_protocol_accuracy": float(tutorial_accuracy), "tutorial_protocol_examples": tutorial_examples,
        "history": self.history, "train_seconds": self.train_seconds,
        "total_seconds": time.perf_counter() - self.start,
        "examples_per_second": examples / self.train_seconds,
        "strategy": "none", "replicas": 1, "devices": [self.device],
        "versions": results_io.versions(*packages),
    }
    if self.eval_seconds is not None:
      results["eval_examples_per_second"] = self.eval_examples / self.eval_seconds
    if FLAGS.record_step_seconds:
      results["step_seconds"] = self.step_seconds
    if FLAGS.results_json:
      results_io.write_json(FLAGS.results_json, results)
    if _unsaved:
      kept = f" The results are in {FLAGS.results_json}." if FLAGS.results_json else ""
      raise OutputError(" ".join(_unsaved) + kept)
    return results
