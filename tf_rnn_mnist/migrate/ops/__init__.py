"""TF1 ops as `keras.ops`: the registry (registry.py) and its handlers, one per op type
(math_ops, array_ops, nn_ops, rnn_ops). Importing this package registers every handler."""

from tf_rnn_mnist.migrate.ops import array_ops, math_ops, nn_ops, rnn_ops  # noqa: F401
from tf_rnn_mnist.migrate.ops.registry import (OPS, Unknown, fold, handler, is_static,  # noqa
                                               node_attrs, output_count, refusal, run_op)
