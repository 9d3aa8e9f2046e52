"""Exports load and predict without this package: in a fresh process that never imports
tf_rnn_mnist, every variant's `.keras` file and SavedModel give the model's exact outputs."""

import json
import subprocess
import sys

import keras
import numpy as np

from tf_rnn_mnist.training.exports import export_model
from tf_rnn_mnist.model.models import build_model
from tf_rnn_mnist.variants import NAMES, VARIANTS

# Runs in a fresh interpreter: plain Keras and TensorFlow only. A config that named one of this
# package's classes would make Keras import it (or fail): the last check catches either.
_LOAD_AND_PREDICT = """
import json, sys
import numpy as np, keras, tensorflow as tf
found = {}
for name in sys.argv[2:]:
    data = np.load(f"{sys.argv[1]}/{name}.npz")
    keras_out = keras.saving.load_model(f"{sys.argv[1]}/{name}.keras").predict(
        data["x"], verbose=0)
    loaded = tf.saved_model.load(f"{sys.argv[1]}/{name}_saved")  # kept: it owns the weights
    served = loaded.serve(tf.constant(data["x"]))
    found[name] = {"keras_equal": bool(np.array_equal(keras_out, data["y"])),
                   "served_max_diff": float(np.abs(served.numpy() - data["y"]).max()),
                   "shape": list(served.shape), "dtype": served.dtype.name}
found["package_imported"] = any(m.split(".")[0] == "tf_rnn_mnist" for m in sys.modules)
print(json.dumps(found))
"""


def test_every_variant_exports_a_model_that_loads_without_this_package(tmp_path):
  x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
  for seed, name in enumerate(NAMES):
    keras.utils.set_random_seed(seed)
    model = build_model(VARIANTS[name])  # the trainer's model: custom initializers, dropout
    np.savez(tmp_path / f"{name}.npz", x=x, y=model.predict(x, verbose=0))
    export_model(model, str(tmp_path / f"{name}.keras"), VARIANTS[name])
    export_model(model, str(tmp_path / f"{name}_saved"), VARIANTS[name])
    saved_config = (tmp_path / f"{name}.keras").read_bytes()
    assert b"tf_rnn_mnist" not in saved_config  # a zip; its config is stored uncompressed
  done = subprocess.run([sys.executable, "-c", _LOAD_AND_PREDICT, str(tmp_path), *NAMES],
                        capture_output=True, text=True, timeout=900, cwd=tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  found = json.loads(done.stdout.strip().splitlines()[-1])
  assert found.pop("package_imported") is False
  assert found == {name: {"keras_equal": True, "served_max_diff": 0.0, "shape": [5, 10],
                          "dtype": "float32"} for name in NAMES}


def test_a_keras_file_saved_before_the_package_had_folders_still_loads(tmp_path):
  """The project's own `.keras` files (a trainer's model with SequenceLSTM and ReplicaDropout)
  name their classes by registered name, `tf_rnn_mnist>SequenceLSTM`; their `module` field
  said `tf_rnn_mnist.layers` until the modules moved into folders. Such a file loads and
  predicts the same; renaming a registered name would fail here."""
  import zipfile
  keras.utils.set_random_seed(0)
  model = build_model(VARIANTS["multilayer"])
  path, old = tmp_path / "model.keras", tmp_path / "old.keras"
  model.save(path)
  with zipfile.ZipFile(path) as new_zip, zipfile.ZipFile(old, "w") as old_zip:
    for item in new_zip.infolist():
      data = new_zip.read(item)
      if item.filename == "config.json":
        assert b'"registered_name": "tf_rnn_mnist>SequenceLSTM"' in data
        data = data.replace(b"tf_rnn_mnist.model.layers", b"tf_rnn_mnist.layers")
        data = data.replace(b"tf_rnn_mnist.model.initializers", b"tf_rnn_mnist.initializers")
        assert b"tf_rnn_mnist.model." not in data
      old_zip.writestr(item, data)
  x = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
  loaded = keras.saving.load_model(old)
  np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
