"""The tutorials' losses, per example, written with tf.nn so that nothing rewrites them.

Keras's CategoricalCrossentropy(from_logits=True) on a softmax output silently unwraps the
softmax (it looks through `_keras_logits`) and so would "fix" basic_lstm's tutorial, which
feeds its softmax output to softmax_cross_entropy_with_logits: a second softmax that flattens the
gradient. That is the tutorial's math, and reproducing it is the point.
"""

import tensorflow as tf

from tf_rnn_mnist.model.models import NUM_CLASSES


def per_example_loss(kind, labels, outputs):
  """Loss per example. labels: integer class ids; outputs: the model's output."""
  outputs = tf.cast(outputs, tf.float32)  # mixed precision computes the loss in float32
  if kind in ("softmax_ce", "double_softmax"):
    # The TF1 tutorials feed one-hot labels to softmax_cross_entropy_with_logits; for
    # double_softmax `outputs` are already probabilities and are used as logits, as the tutorial did.
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), NUM_CLASSES, dtype=tf.float32)
    return tf.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=outputs)
  if kind == "sparse_ce":  # torch.nn.CrossEntropyLoss on logits with integer targets
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                          logits=outputs)
  raise ValueError(f"unknown loss {kind!r}")
