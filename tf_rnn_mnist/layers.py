"""A Keras layer the seeds need that Keras does not have as is."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_rnn_mnist")
class ReplicaDropout(keras.layers.Dropout):
  """keras.layers.Dropout whose masks differ between tf.distribute replicas.

  Keras's Dropout draws from a seed generator whose state is mirrored, so under
  MirroredStrategy every replica draws the same mask for its own slice of the global batch:
  measured, two replicas' masks were identical. Each replica other than the first folds its id
  into the seed; on one device (replica 0) this is exactly Keras's Dropout.
  """

  def call(self, inputs, training=False):
    if not training or self.rate == 0:
      return inputs
    # As Keras's TensorFlow backend: the generator's int64 state as an int32 stateless seed.
    seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    if not (isinstance(replica, int) and replica == 0):
      seed = tf.where(tf.equal(replica, 0), seed,
                      tf.random.experimental.stateless_fold_in(seed, replica))
    return tf.nn.experimental.stateless_dropout(inputs, rate=self.rate, seed=seed,
                                                noise_shape=self.noise_shape)
