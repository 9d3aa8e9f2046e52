"""Migrate a TF1 RNN checkpoint to Keras 3 and back, and prove the two compute the same.

    python -m tf_rnn_mnist.migrate inspect CKPT
    python -m tf_rnn_mnist.migrate to-keras CKPT --output=rnn.keras [--scope=S[,S2]] [--head=...]
    python -m tf_rnn_mnist.migrate verify CKPT rnn.keras [--timesteps=T --batch=B]
    python -m tf_rnn_mnist.migrate to-tf1 rnn.keras --output=DIR/ckpt --cell=LSTMCell [--prefix=P]

CKPT is a checkpoint prefix (DIR/model.ckpt-1000) or a directory with a `checkpoint` file.
TF1 adds forget_bias, cell_clip and proj_clip at run time; a checkpoint does not store them, so
pass the values the graph was built with (--forget_bias defaults to TF1's 1.0).
"""

import math
import os
import shutil
import tempfile

from absl import flags

from tf_rnn_mnist import cli
from tf_rnn_mnist.errors import ConfigError, MismatchError
from tf_rnn_mnist.migrate import recognise
from tf_rnn_mnist.migrate import verify as verify_lib
from tf_rnn_mnist.migrate.structures import RunOptions
from tf_rnn_mnist.weight_maps import open_tf1_checkpoint, read_tf1_tensors, write_tf1_checkpoint

COMMANDS = {"inspect": 1, "to-keras": 1, "verify": 2, "to-tf1": 1}
USAGE = ("usage: python -m tf_rnn_mnist.migrate inspect CKPT | to-keras CKPT --output=M.keras | "
         "verify CKPT M.keras | to-tf1 M.keras --output=CKPT --cell=CELL")


def define_flags():
  flags.DEFINE_string("output", None, "to-keras: the .keras file to write; to-tf1: the "
                      "checkpoint prefix to write (DIR/name).")
  flags.DEFINE_list("scope", None, "to-keras/verify: the recurrent network(s) to convert, by "
                    "scope as `inspect` lists them; several run one after the other.")
  flags.DEFINE_string("head", "auto", "to-keras/verify: the dense layer on the last output: "
                      "auto (the one dense layer whose input fits, if exactly one), none, a "
                      "scope (SCOPE/kernel + SCOPE/bias), or KERNEL,BIAS variable names.")
  flags.DEFINE_float("forget_bias", 1.0, "The forget_bias the TF1 LSTM cells were built with.")
  flags.DEFINE_float("cell_clip", None, "The cell_clip of the TF1 LSTMCell / LSTMBlockCell.")
  flags.DEFINE_float("proj_clip", None, "The proj_clip of the TF1 LSTMCell with num_proj.")
  flags.DEFINE_integer("timesteps", 28, "verify: sequence length of the random inputs.",
                       lower_bound=1)
  flags.DEFINE_integer("batch", 8, "verify: batch size of the random inputs.", lower_bound=1)
  flags.DEFINE_bool("verify", True, "to-keras: run verify on what was written.")
  flags.DEFINE_enum("cell", None, ["BasicLSTMCell", "LSTMCell", "LSTMBlockCell",
                                   "LSTMBlockFusedCell", "keras"],
                    "to-tf1: the TF1 class of the LSTM layers (GRU layers become GRUCell); "
                    "keras: tf.keras's own names.")
  flags.DEFINE_string("prefix", None, "to-tf1: the scope of the network's variables (default "
                      "rnn, bidirectional_rnn or stack_bidirectional_rnn, as TF1's calls).")
  flags.DEFINE_string("head_scope", "dense", "to-tf1: the scope of the dense head's variables.")
  flags.register_validator("forget_bias", math.isfinite, "--forget_bias must be a finite number.")
  for clip in ("cell_clip", "proj_clip"):
    flags.register_validator(clip, lambda v: v is None or (math.isfinite(v) and v >= 0),
                             f"--{clip} must be a finite number >= 0 (TF1 clips to "
                             f"[-{clip}, {clip}]), or left out for no clipping.")


def _options():
  f = flags.FLAGS
  return RunOptions(f.forget_bias, f.cell_clip, f.proj_clip)


def read_checkpoint(path):
  reader = open_tf1_checkpoint(path)
  return reader, recognise.inspect(reader.get_variable_to_shape_map())


def _selection(path):
  """The chosen structures, head, and their arrays (every one read, so that a corrupt data file
  is reported here by name rather than by the TF1 side's restore)."""
  f = flags.FLAGS
  reader, inspection = read_checkpoint(path)
  chosen = inspection.choose(f.scope, path)
  head = inspection.choose_head(chosen[-1], f.head)
  names = [n for s in chosen for c in s.cells for n in c.variables().values()]
  names += [head.kernel, head.bias] if head else []
  return chosen, head, read_tf1_tensors(reader, names, path)


def inspect(path):
  print(read_checkpoint(path)[1].report())


def verify(path, model_path, chosen=None, head=None, shown=None):
  f = flags.FLAGS
  if chosen is None:
    chosen, head, _ = _selection(path)
  rows = verify_lib.compare(path, chosen, head, _options(), model_path, f.batch, f.timesteps)
  lines, ok = verify_lib.report(rows, f.batch, f.timesteps)
  print("\n".join(lines))
  if not ok:
    raise MismatchError(f"{shown or model_path} differs from {path} by more than "
                        f"{verify_lib.TOLERANCE:g} (table above).")


def _mode_of_a_written_file(staged, output):
  """mkstemp makes its file owner-only: give it the mode the output would have had (an
  existing file's own, else the umask's)."""
  if os.path.exists(output):
    shutil.copymode(output, staged)
  else:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staged, 0o666 & ~umask)


def to_keras(path):
  from tf_rnn_mnist.migrate import keras_side
  f = flags.FLAGS
  if not f.output or not f.output.endswith(".keras"):
    raise ConfigError("to-keras needs --output=PATH.keras.")
  cli.check_writable_file("output", f.output, "a path ending in .keras")
  chosen, head, arrays = _selection(path)
  model = keras_side.build_model(chosen, head, arrays, _options())
  # Saved beside the output and renamed only once verified: a model that fails verify never
  # replaces the file that was there.
  fd, staged = tempfile.mkstemp(suffix=".keras", dir=os.path.dirname(os.path.abspath(f.output)))
  os.close(fd)
  _mode_of_a_written_file(staged, f.output)
  try:
    model.save(staged)
    what = (f"[batch, {head.outputs}] (the dense head on the last step)" if head
            else f"[batch, time, {chosen[-1].output_size}] (the top layer's sequence)")
    print(f"built: input [batch, time, {chosen[0].input_size}] -> {what}")
    if f.verify:
      try:
        verify(path, staged, chosen, head, shown=f.output)
      except MismatchError as e:
        raise MismatchError(f"{e} {f.output} was not written (--noverify writes it "
                            f"unchecked).") from None
    os.replace(staged, f.output)
  finally:
    if os.path.exists(staged):
      os.remove(staged)
  print(f"wrote {f.output}")


def to_tf1(model_path):
  import keras
  from tf_rnn_mnist.migrate import keras_cells  # noqa: F401  (registers TF1LSTMCell)
  from tf_rnn_mnist.migrate import keras_side
  f = flags.FLAGS
  if not f.output or not f.cell:
    raise ConfigError("to-tf1 needs --output=DIR/name (a checkpoint prefix) and --cell (the "
                      "TF1 class of the LSTM layers).")
  try:
    model = keras.models.load_model(model_path)
  except (OSError, ValueError, TypeError) as e:
    raise ConfigError(f"{model_path} is not a readable Keras model ({e}).") from None
  structure, placed = keras_side.tf1_structure(model, f.cell, f.prefix)
  arrays = keras_side.tf1_arrays(placed, _options())
  head_arrays, _ = keras_side.head_arrays(model, f.head_scope)
  # The input is checked first: a refused model leaves no output directory behind.
  cli.check_writable_file("output", f.output, "a checkpoint prefix such as DIR/model")
  write_tf1_checkpoint({**arrays, **head_arrays}, f.output)
  print(f"wrote {f.output}: {structure.describe()}")


def main(argv):
  if len(argv) < 2 or argv[1] not in COMMANDS:
    raise ConfigError(f"{'unknown command ' + argv[1] + '; ' if len(argv) > 1 else ''}{USAGE}")
  command, args = argv[1], argv[2:]
  if len(args) != COMMANDS[command]:
    raise ConfigError(f"{command} takes {COMMANDS[command]} path(s), got {len(args)}. {USAGE}")
  {"inspect": inspect, "to-keras": to_keras, "verify": verify, "to-tf1": to_tf1}[command](*args)


def run_main():
  define_flags()
  cli.run_tool(main, positional=3)


if __name__ == "__main__":
  run_main()
