"""Convert weights between the tutorials and the Keras port (the mappings: weight_maps.py).

    python -m tf_rnn_mnist convert --variant=static_gru --tf1_checkpoint=ckpt/model.ckpt-781 \
        --output=static_gru.keras
    python -m tf_rnn_mnist convert --variant=torch_lstm --torch_state_dict=m.pt --output=m.keras
    python -m tf_rnn_mnist convert --variant=static_gru --keras_model=m.keras --output=ckpt/init

The last form goes back (Keras -> a TF1 checkpoint, or a state_dict for torch_lstm), so that both
sides of a comparison can start from the same weights.
"""

from absl import flags

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist import variants
from tf_rnn_mnist.errors import ConfigError, OutputError


# ---------------------------------------------------------------------------------------------
# Command line


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_enum("variant", None, list(variants.NAMES), "The variant the weights belong to.")
  flags.DEFINE_string("tf1_checkpoint", None, "A TF1 checkpoint prefix (legacy_tf1's "
                      "--checkpoint_dir/model.ckpt-N) to convert to Keras.")
  flags.DEFINE_string("torch_state_dict", None, "A PyTorch state_dict (torch_lstm) to convert.")
  flags.DEFINE_string("keras_model", None, "A .keras model to convert back: to a TF1 checkpoint, "
                      "or a state_dict for torch_lstm.")
  flags.DEFINE_string("output", None, "Where to write: a .keras file, a TF1 checkpoint prefix, "
                      "or a .pt state_dict.")
  flags.DEFINE_bool("evaluate", True, "Print the converted Keras model's test accuracy.")
  data_flags.define_data_flags()
  flags.mark_flags_as_required(["variant", "output"])


def _test_accuracy(model, variant):
  from tf_rnn_mnist.data import flags as data_flags
  data = variant.data_split.datasets(data_flags.load_mnist_from_flags())
  predictions = model.predict(data.test_images, batch_size=1000, verbose=0).argmax(axis=1)
  return float((predictions == data.test_labels).mean()), len(data.test_labels)


def convert(variant, tf1_checkpoint=None, torch_state_dict=None, keras_model=None,
            output=None):
  """Converts one way or the other; returns the Keras model when the output is Keras."""
  sources = [s for s in (tf1_checkpoint, torch_state_dict, keras_model) if s]
  if len(sources) != 1:
    raise ConfigError("Pass exactly one of --tf1_checkpoint, --torch_state_dict, --keras_model.")
  if not output:
    raise ConfigError("Pass --output: where to write the converted weights.")
  _check_output(variant, output, keras_model)
  outputs.check_distinct({"output": output}, {"tf1_checkpoint": tf1_checkpoint,
                                          "torch_state_dict": torch_state_dict,
                                          "keras_model": keras_model})
  import tensorflow as tf
  try:
    return _convert(variant, sources[0], keras_model, output)
  except (OSError, tf.errors.OpError) as e:  # a full disk: what was at --output is untouched
    from tf_rnn_mnist.migrate.user_graph import tf_message  # (the cause, not "Graph execution")
    text = tf_message(e) if isinstance(e, tf.errors.OpError) else (
        str(e).splitlines()[0] if str(e) else type(e).__name__)
    raise OutputError(f"Could not write --output={output} ({text}); nothing that was there "
                      "was changed.") from None


def _check_output(variant, output, keras_model):
  if keras_model and variant.legacy.tf1_cell:  # a checkpoint prefix: files beside it
    outputs.check_writable_file("output", output, "a TF1 checkpoint prefix such as DIR/init")
  elif keras_model:
    if not output.endswith((".pt", ".pth")):
      raise ConfigError(f"--output={output}: converting {variant.name} back writes a PyTorch "
                        "state_dict; pass a path ending in .pt.")
    outputs.check_writable_file("output", output, "a .pt file path")
  elif output.endswith(".keras"):
    outputs.check_writable_file("output", output, "a path ending in .keras")
  else:
    raise ConfigError(f"--output={output}: a Keras model is written to a path ending in .keras.")


def _convert(variant, source, keras_model, output):
  # TensorFlow (and PyTorch) load here, once the flags hold: a bad flag answers at once.
  from tf_rnn_mnist.model.weight_maps import (keras_to_tf1, keras_to_torch, keras_weights_from,
                                              set_model_weights, write_tf1_checkpoint,
                                              write_torch_state_dict)
  if keras_model:
    weights = keras_weights_from(variant, keras_model)
    if variant.legacy.tf1_cell:
      write_tf1_checkpoint(keras_to_tf1(variant, weights), output)  # TF renames into place
    else:
      with atomic.staged_path(output) as staged:
        write_torch_state_dict(keras_to_torch(weights), staged)
    return None
  from tf_rnn_mnist.model.models import build_model
  model = build_model(variant)
  set_model_weights(model, keras_weights_from(variant, source))
  with atomic.staged_path(output, ".keras") as staged:
    model.save(staged)
  return model


def main(argv):
  f = flags.FLAGS
  variant = variants.get_variant(f.variant)
  model = convert(variant, f.tf1_checkpoint, f.torch_state_dict, f.keras_model, f.output)
  print(f"wrote {f.output}")
  if model is not None and f.evaluate:
    accuracy, n = _test_accuracy(model, variant)
    print(f"test accuracy of the converted model ({n} images): {accuracy:.4f}")


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
