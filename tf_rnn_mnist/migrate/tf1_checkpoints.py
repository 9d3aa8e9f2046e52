"""TF1 checkpoints as migrate reads and writes them: a reader that names the file when it is
not a checkpoint, every array read up front (a truncated data file is reported by name), and a
name-based checkpoint that `tf.compat.v1.train.Saver.restore` reads."""

import os

from tf_rnn_mnist.errors import ConfigError


def open_tf1_checkpoint(path):
  """A tf.train.CheckpointReader of `path` (a prefix, or a directory with a checkpoint file)."""
  import tensorflow as tf
  try:
    return tf.train.load_checkpoint(path)
  except (ValueError, tf.errors.OpError) as e:
    if any(c in path for c in "*?[]"):
      raise ConfigError(f"{path}: TensorFlow reads checkpoint paths as glob patterns, and this "
                        "one holds *, ?, [ or ], so it cannot be read where it is; copy or "
                        "move the checkpoint's files to a path without them.") from None
    raise ConfigError(f"{path} is not a readable TF checkpoint "
                      f"({str(e).splitlines()[0]}).") from None


def read_tf1_tensors(reader, names, path):
  """{name: array} from an open checkpoint; a truncated or corrupt data file is the user's
  error (TF raises IndexError or DataLossError from inside its reader)."""
  import tensorflow as tf
  arrays = {}
  for name in names:
    try:
      arrays[name] = reader.get_tensor(name)
    except (IndexError, ValueError, tf.errors.OpError) as e:
      raise ConfigError(f"{path} is not a readable TF checkpoint: variable {name} cannot be "
                        f"read ({str(e).splitlines()[0]}).") from None
  return arrays


def read_tf1_checkpoint(path):
  reader = open_tf1_checkpoint(path)
  return read_tf1_tensors(reader, reader.get_variable_to_shape_map(), path)


def write_tf1_checkpoint(tf1_vars, path):
  """A name-based checkpoint that tf.compat.v1.train.Saver.restore reads (TF1's format). The
  directory's `checkpoint` state file is written only where there is none: another
  checkpoint's would otherwise be repointed to this one."""
  import tensorflow as tf
  directory = os.path.dirname(os.path.abspath(path))
  with tf.Graph().as_default():
    variables = {name: tf.compat.v1.Variable(value, name=name.replace("/", "_"))
                 for name, value in tf1_vars.items()}
    saver = tf.compat.v1.train.Saver(variables)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      os.makedirs(directory, exist_ok=True)
      return saver.save(sess, path, write_meta_graph=False,
                        write_state=not os.path.exists(os.path.join(directory, "checkpoint")))
