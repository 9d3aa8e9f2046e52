"""Migrate a TF1 RNN model to Keras 3 and back, and prove the two compute the same.

Whole models, proved against the program's own graph:

    python -m tf_rnn_mnist.migrate inspect SOURCE
    python -m tf_rnn_mnist.migrate to-keras SOURCE --inputs=T[,T] --outputs=T[,T] \
        [--feed=T=VALUE,...] --output=model.keras
    python -m tf_rnn_mnist.migrate verify SOURCE model.keras --inputs=... --outputs=... [--feed=...]
    python -m tf_rnn_mnist.migrate to-tf1 model.keras --output=DIR/ckpt [--graph=PROGRAM.meta]
    python -m tf_rnn_mnist.migrate to-tf1 model.keras --output=NEW_DIR --graph=SAVED_MODEL_DIR

SOURCE is a checkpoint prefix with its graph (PREFIX.meta, or --graph=.meta/.pb/.pbtxt), a
frozen GraphDef (.pb/.pbtxt: its weight constants become the model's weights) or a TF1
SavedModel directory (--tag, default serve; --signature, default serving_default, whose tensors
are the default --inputs/--outputs). verify exits 0 when proved, 1 when refused or wrong, 3 when
not fully proved (a chaotic graph proved on shorter sequences only; a cell-level check).

Cells only, when there is no graph (a cell-level check: exit status 3, "not proved"):

    python -m tf_rnn_mnist.migrate to-keras CKPT --output=rnn.keras [--scope=S[,S2]] [--head=...]
    python -m tf_rnn_mnist.migrate to-tf1 rnn.keras --output=DIR/ckpt --cell=LSTMCell [--prefix=P]

CKPT is a checkpoint prefix (DIR/model.ckpt-1000) or a directory with a `checkpoint` file.
With a graph, forget_bias, cell_clip, proj_clip and activations are read from it; without one
pass the values the graph was built with (--forget_bias defaults to TF1's 1.0).
"""

import math
import os
import shutil
import signal
import sys
import tempfile


def _stop(signum, frame):
  """Ctrl-C (SIGINT) or SIGTERM: one line and 128 + signal, never a traceback; the staged
  output is removed on the way out (to-keras renames it only once verified)."""
  print(f"error: stopped by {signal.Signals(signum).name}; an output is written only once "
        "complete, and none was left half-written.", file=sys.stderr, flush=True)
  raise SystemExit(128 + signum)


def _install_stop():
  for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, _stop)


# Installed before TensorFlow's import, which takes seconds: a Ctrl-C then ends as cleanly.
if __name__ == "__main__":
  _install_stop()

from absl import flags

from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist.errors import ConfigError, MismatchError, OutputError
from tf_rnn_mnist.migrate import graph as graph_lib
from tf_rnn_mnist.migrate.command_flags import define_flags
from tf_rnn_mnist.migrate import verify as verify_lib
from tf_rnn_mnist.migrate.structures import RunOptions
from tf_rnn_mnist.migrate.tf1_checkpoints import read_tf1_tensors, write_tf1_checkpoint

COMMANDS = {"inspect": 1, "to-keras": 1, "verify": 2, "to-tf1": 1}
USAGE = ("usage: python -m tf_rnn_mnist.migrate inspect SOURCE | to-keras SOURCE "
         "--output=M.keras | verify SOURCE M.keras | to-tf1 M.keras --output=CKPT")


def _value(text):
  lowered = text.strip().lower()
  if lowered in ("true", "false"):
    return lowered == "true"
  try:
    value = float(text)
  except ValueError:
    raise ConfigError(f"--feed value {text!r} is not a number, true or false.") from None
  if not math.isfinite(value):
    raise ConfigError(f"--feed value {text!r} is not finite.")
  return int(value) if value.is_integer() and "." not in text and "e" not in lowered else value


def _interface(source):
  """The Interface --inputs/--outputs/--feed name (by default a SavedModel's signature),
  checked against the source's graph."""
  from tf_rnn_mnist.migrate.whole_model import Interface
  f, g = flags.FLAGS, source.graph
  names = {"inputs": f.inputs, "outputs": f.outputs}
  for flag in names:
    if not names[flag] and source.signature is not None:
      names[flag] = getattr(source.signature, flag)
  if not names["inputs"] or not names["outputs"]:
    raise ConfigError("--inputs and --outputs go together: name the graph tensors the model "
                      "takes and gives (`inspect` lists placeholders and candidate outputs).")
  feed = {}
  for item in f.feed:
    name, sep, text = item.partition("=")
    if not sep:
      raise ConfigError(f"--feed={item}: expected TENSOR=VALUE, e.g. keep_prob:0=1.0.")
    if graph_lib.tensor_name(name) in feed:
      raise ConfigError(f"--feed names {name} twice.")
    feed[graph_lib.check_tensors(g, [name], "feed")[0]] = _value(text)
  inputs = graph_lib.check_tensors(g, names["inputs"], "inputs")
  outputs = graph_lib.check_tensors(g, names["outputs"], "outputs")
  for tensor in inputs:
    if inputs.count(tensor) > 1:
      raise ConfigError(f"--inputs names {tensor} twice: each model input is one tensor.")
    if tensor in feed:
      raise ConfigError(f"{tensor} is both in --inputs and in --feed.")
  graph_lib.check_interface(g, inputs, outputs, feed)
  return Interface(inputs, outputs, feed)


def _source(path):
  """SOURCE resolved once (sources.py): a checkpoint, a frozen graph or a SavedModel."""
  from tf_rnn_mnist.migrate import sources
  f = flags.FLAGS
  return sources.resolve(path, f.graph, f.tag, f.signature)


def _require_graph(source):
  if source.graph is None:
    raise ConfigError(f"{source.path}: no graph to read the model from ({source.path}.meta "
                      "does not exist; pass --graph=FILE.meta, .pb or .pbtxt).")


def _check_new_checkpoint(prefix):
  """to-tf1 never writes over a checkpoint: its other variables (optimizer slots, step) and
  the .meta beside it would be lost or no longer match."""
  outputs.check_writable_file("output", prefix, "a checkpoint prefix such as DIR/model")
  if os.path.exists(f"{prefix}.index"):
    raise ConfigError(f"--output={prefix} already holds a checkpoint ({prefix}.index); "
                      "to-tf1 writes a new one: choose another prefix.")


def _whole_mode(source):
  """A whole model (proved against the graph) rather than the checkpoint's cells alone:
  --inputs/--outputs given, or a source that is only ever converted whole."""
  f = flags.FLAGS
  return bool(f.inputs or f.outputs) or source.whole_only


def _options():
  f = flags.FLAGS
  return RunOptions(f.forget_bias, f.cell_clip, f.proj_clip)


def _selection(source):
  """The chosen structures, head, and their arrays (every one read, so that a corrupt data file
  is reported here by name rather than by the TF1 side's restore)."""
  from tf_rnn_mnist.migrate import recognise  # (Keras: imported once the flags hold)
  f = flags.FLAGS
  reader = source.reader()
  inspection = recognise.inspect(reader.get_variable_to_shape_map())
  chosen = inspection.choose(f.scope, source.path)
  head = inspection.choose_head(chosen[-1], f.head)
  names = [n for s in chosen for c in s.cells for n in c.variables().values()]
  names += [head.kernel, head.bias] if head else []
  return chosen, head, read_tf1_tensors(reader, names, source.checkpoint)


def inspect(path):
  source = _source(path)
  from tf_rnn_mnist.migrate import recognise  # (Keras: once the source is known good)
  shapes = source.shapes()
  print(recognise.inspect(shapes).report())
  g = source.graph
  if g is None:
    print(f"graph: none ({path}.meta not found; --graph=FILE reads one): only the "
          "checkpoint's cells can be converted, and only checked cell by cell.")
    return
  print(f"graph {g.source} ({source.kind}):")
  if source.signature is not None:
    print(f"  signature {source.signature.name!r} (the default --inputs / --outputs): "
          f"inputs {', '.join(source.signature.inputs)}; outputs "
          f"{', '.join(source.signature.outputs)}")
  print("  placeholders (candidate --inputs / --feed):")
  for node in g.placeholders():
    default = " (has a default)" if node.op == "PlaceholderWithDefault" else ""
    print(f"    {graph_lib.describe_tensor(g, node.name + ':0')}{default}")
  print("  candidate --outputs (what the recurrent outputs flow into):")
  for tensor in graph_lib.candidate_outputs(g):
    print(f"    {graph_lib.describe_tensor(g, tensor)}")
  _unconvertible_cells(source, shapes)


def _unconvertible_cells(source, shapes):
  """Cells recognised by their names whose ops to-keras cannot read in this graph."""
  from tf_rnn_mnist.migrate import rnn_calls
  for scope, reason in rnn_calls.unconvertible(source.graph, shapes):
    print(f"  cell {scope}: recognised by its names, but to-keras cannot convert its ops "
          f"({reason})")


def _whole_verify(source, model, interface, shown):
  """Prints the proof; its exit status (0 proved, 3 not fully proved), MismatchError when
  wrong."""
  from tf_rnn_mnist.migrate import graph_proof
  f, g = flags.FLAGS, source.graph
  lines, status = graph_proof.prove_source(source, interface, model, f.batch, f.timesteps)
  print("\n".join(lines))
  if status == graph_proof.WRONG:
    raise MismatchError(f"{shown} differs from the program's graph {g.source} (table above).")
  return status


def verify(path, model_path, chosen=None, head=None, shown=None):
  f = flags.FLAGS
  source = _source(path)
  if _whole_mode(source):
    _require_graph(source)
    interface = _interface(source)
    model = verify_lib.load_model(model_path)
    return _whole_verify(source, model, interface, shown or model_path)
  if chosen is None:
    chosen, head, _ = _selection(source)
  rows = verify_lib.compare(source.checkpoint, chosen, head, _options(), model_path, f.batch,
                            f.timesteps)
  lines, ok = verify_lib.report(rows, f.batch, f.timesteps)
  print("\n".join(lines))
  if not ok:
    raise MismatchError(f"{shown or model_path} differs from {path} by more than "
                        f"{verify_lib.TOLERANCE:g} (table above).")
  print(f"{verify_lib.CELL_LEVEL_ONLY}: the TF1 side was rebuilt from the checkpoint's "
        "names, not run from the program's graph (give --inputs/--outputs with its .meta).")
  return verify_lib.CELL_LEVEL_EXIT


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
  outputs.check_writable_file("output", f.output, "a path ending in .keras")
  source = _source(path)
  if _whole_mode(source):
    return _stage(*_whole_model(source))
  chosen, head, arrays = _selection(source)
  model = keras_side.build_model(chosen, head, arrays, _options())
  what = (f"[batch, {head.outputs}] (the dense head on the last step)" if head
          else f"[batch, time, {chosen[-1].output_size}] (the top layer's sequence)")
  print(f"built: input [batch, time, {chosen[0].input_size}] -> {what}")
  return _stage(model, lambda staged: verify(path, staged, chosen, head, shown=f.output))


def _whole_model(source):
  """(model, its verification) of the subgraph --inputs/--outputs name."""
  from tf_rnn_mnist.migrate import whole_model
  _require_graph(source)
  interface = _interface(source)
  arrays = source.variables()
  # (said before the conversion, which takes long on a large graph)
  print(f"read {source.describe()}: {len(source.graph.nodes)} ops, {len(arrays)} variables",
        flush=True)
  conversion = whole_model.convert(source.graph, {n: a.shape for n, a in arrays.items()},
                                   arrays, interface)
  print("converted:")
  print("\n".join(f"  {note}" for note in conversion.notes))
  _refuse_contradicting_flags(conversion)
  return conversion.model, lambda staged: _whole_verify(
      source, verify_lib.load_model(staged), interface, flags.FLAGS.output)


def _refuse_contradicting_flags(conversion):
  """--forget_bias / --cell_clip / --proj_clip given on the command line must agree with the
  graph's constants."""
  f = flags.FLAGS
  for flag in ("forget_bias", "cell_clip", "proj_clip"):
    if not f[flag].present:
      continue
    given = f[flag].value
    for call in conversion.calls:
      for run in call.cells:
        if flag == "forget_bias" and flag not in run.settings:  # (a GRU has none)
          continue
        graph_value = run.settings.get(flag)
        if graph_value != given:
          raise ConfigError(f"--{flag}={given} contradicts the graph: {run.cell.scope} runs "
                            f"with {flag}={graph_value}.")


def _stage(model, check):
  f = flags.FLAGS
  # Saved beside the output and renamed only once verified: a model that fails verify never
  # replaces the file that was there. A symbolic link keeps pointing where it did: its
  # target is what gets replaced.
  target = os.path.realpath(f.output)
  fd, staged = tempfile.mkstemp(suffix=".keras", dir=os.path.dirname(target))
  os.close(fd)
  _mode_of_a_written_file(staged, target)
  status = 0
  try:
    try:
      model.save(staged)
    except OSError as e:  # (disk full, a file size limit)
      raise OutputError(f"Could not write {f.output} ({e.strerror or e}); nothing was "
                        "written.") from None
    if f.verify:
      try:
        status = check(staged)
      except MismatchError as e:
        raise MismatchError(f"{e} {f.output} was not written (--noverify writes it "
                            f"unchecked).") from None
    os.replace(staged, target)
  finally:
    if os.path.exists(staged):
      os.remove(staged)
  print(f"wrote {f.output}")
  return status


def to_tf1(model_path):
  from tf_rnn_mnist.migrate import keras_cells  # noqa: F401  (registers TF1LSTMCell)
  from tf_rnn_mnist.migrate import keras_side
  from tf_rnn_mnist.migrate import back_to_tf1
  f = flags.FLAGS
  if not f.output:
    raise ConfigError("to-tf1 needs --output=DIR/name (a checkpoint prefix).")
  model = verify_lib.load_model(model_path)
  arrays = back_to_tf1.tf1_variables(model)
  if arrays is not None:  # a whole model: every variable under the program's own name
    return _whole_to_tf1(model, model_path, arrays)
  cell_class = f.cell or keras_side.implied_cell_class(model)
  if not cell_class:
    raise ConfigError("to-tf1: the model's LSTM layers can be written under BasicLSTMCell's, "
                      "LSTMCell's or LSTMBlockCell's variable names; pass --cell=CLASS, the "
                      "class the TF1 program builds (or --cell=keras for tf.keras's names).")
  structure, placed = keras_side.tf1_structure(model, cell_class, f.prefix)
  arrays = keras_side.tf1_arrays(placed, _options())
  head_arrays, _ = keras_side.head_arrays(model, f.head_scope)
  # The input is checked first: a refused model leaves no output directory behind.
  _check_new_checkpoint(f.output)
  write_tf1_checkpoint({**arrays, **head_arrays}, f.output)
  print(f"wrote {f.output}: {structure.describe()}")


def _whole_to_tf1(model, model_path, arrays):
  """A whole model's variables under the program's own names: a checkpoint at --output, run
  in the program's graph when --graph names it; a SavedModel directory at --output when
  --graph names the SavedModel it came from (its graph and signatures kept, its variables
  replaced by the model's)."""
  from tf_rnn_mnist.migrate import sources
  f = flags.FLAGS
  if (f.inputs or f.outputs) and not f.graph:
    raise ConfigError("to-tf1 checks the written checkpoint in your program's graph: "
                      "pass it with --graph=PROGRAM.meta (with --inputs/--outputs).")
  if f.graph and sources.is_saved_model(f.graph):
    original = sources.resolve(f.graph, None, f.tag, f.signature)
    interface = _interface(original)  # (checked before anything is written)
    written = sources.write_saved_model(original, arrays, f.output)
    print(f"wrote {f.output}: a SavedModel, {len(arrays)} variables of the model under the "
          f"program's own names")
    return _whole_verify(written, model, interface, model_path)
  source = None
  if f.graph:
    source = sources.CheckpointSource(f.output, graph_lib.load(f.graph), f.output)
    interface = _interface(source)
  _check_new_checkpoint(f.output)
  write_tf1_checkpoint(arrays, f.output)
  print(f"wrote {f.output}: {len(arrays)} variables under the program's own names")
  return 0 if source is None else _whole_verify(source, model, interface, model_path)


def main(argv):
  if len(argv) < 2 or argv[1] not in COMMANDS:
    raise ConfigError(f"{'unknown command ' + argv[1] + '; ' if len(argv) > 1 else ''}{USAGE}")
  command, args = argv[1], argv[2:]
  if len(args) != COMMANDS[command]:
    raise ConfigError(f"{command} takes {COMMANDS[command]} path(s), got {len(args)}. {USAGE}")
  return {"inspect": inspect, "to-keras": to_keras, "verify": verify,
          "to-tf1": to_tf1}[command](*args)


def run_main():
  _install_stop()
  define_flags()
  cli.run_tool(main, positional=3)


if __name__ == "__main__":
  run_main()
