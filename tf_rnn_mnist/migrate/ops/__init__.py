"""TF1 ops as `keras.ops`: the registry (registry.py) and its handlers, one per op type
(math_ops, array_ops, nn_ops, rnn_ops). Importing this package registers every handler."""

import importlib
import pkgutil

# Every module here but the registry and shape inference holds handlers; importing it
# registers them (a new op is one handler in one of them, and nothing else changes).
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)
                      if m.name not in ("registry", "shape_inference")):
  importlib.import_module(f"{__name__}.{_module}")

from tf_rnn_mnist.migrate.ops.registry import (OPS, Unknown, fold, handler, is_static,  # noqa
                                               node_attrs, output_count, refusal, run_op)
