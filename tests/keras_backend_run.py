"""Run migrated .keras models on the current Keras backend (KERAS_BACKEND), in a fresh process.

    KERAS_BACKEND=jax python tests/keras_backend_run.py MODEL.keras INPUTS.npz OUT.npz [...]

Why a script: a model migrated with graph_ops must load and predict under JAX and PyTorch in a
process that never imports TensorFlow, and only a fresh process can show that. For each
(model, inputs, output) triple it loads the model, runs `model.predict` (jit-compiled on JAX)
on in0, in1, ... (a single input alone, not in a list) and saves the outputs as out0, out1,
...; it exits 3 if TensorFlow got imported (on any backend but TensorFlow's own, which runs
the same script to check the reference still holds).
"""

import sys

import keras
import numpy as np

import tf_rnn_mnist.migrate.graph_ops  # noqa: F401  (registers the layers)


def run(model_path, inputs_path, out_path):
  model = keras.models.load_model(model_path)
  with np.load(inputs_path) as data:
    inputs = [data[f"in{i}"] for i in range(sum(k.startswith("in") for k in data.files))]
  outputs = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
  outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
  np.savez(out_path, **{f"out{i}": np.asarray(o) for i, o in enumerate(outputs)})


def main(args):
  if not args or len(args) % 3:
    sys.exit(__doc__)
  for start in range(0, len(args), 3):
    run(*args[start:start + 3])
  if keras.backend.backend() != "tensorflow" and "tensorflow" in sys.modules:
    print(f"tensorflow was imported on backend {keras.backend.backend()}", file=sys.stderr)
    return 3
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
