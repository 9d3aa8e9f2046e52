"""Tutorial 001 (3-layer LSTM with DropoutWrapper), as written, on tf.compat.v1.

Changes TF 2.21 forces: DropoutWrapper is tf.nn.rnn_cell.DropoutWrapper; tensorflow.examples.
tutorials.mnist -> legacy_tf1.input_data. Added: the flags in common.py (--train_steps
overrides total_steps + 1 updates; the full test accuracy is also reported at the end).

    python -m legacy_tf1.multilayer_lstm [--train_steps=N] [--seed=S] [--results_json=PATH]
"""


from legacy_tf1 import common

tf = common.import_tf1()
from legacy_tf1 import input_data  # noqa: E402  (needs TF_USE_LEGACY_KERAS set first)

FLAGS = common.FLAGS
TF1_PACKAGES = ("tensorflow", "tf-keras", "numpy")
common.define_flags("2001 updates (steps 0..2000)")
common.define_tf1_checkpoint_flags()
common.flags.DEFINE_float("keep_prob", 0.5, "The keep_prob fed while training (the tutorial's 0.5); "
                          "1.0 turns dropout off, as the equivalence tests do.")
common.flags.register_validator("keep_prob", lambda v: 0 < v <= 1, "--keep_prob must be in (0, 1]")


# One long function on purpose: it is the tutorial's script, kept line for line so that it can be
# diffed against the tutorial it ports (named in variants.py); the additions live in common.py.
def main(argv):
  del argv
  run = common.tf1_run(tf, "multilayer")
  tf.set_random_seed(FLAGS.seed)

  learning_rate = 1e-3
  num_units = 256
  num_layer = 3
  input_size = 28
  time_step = 28
  total_steps = run.steps(2000 + 1) - 1
  category_num = 10
  steps_per_validate = 100
  steps_per_test = 500
  batch_size = tf.placeholder(tf.int32, [])
  keep_prob = tf.placeholder(tf.float32, [])

  mnist = common.read_data_sets(input_data)

  x = tf.placeholder(tf.float32, [None, 784])
  y_label = tf.placeholder(tf.float32, [None, 10])
  x_shape = tf.reshape(x, [-1, time_step, input_size])

  def cell(num_units):
      cell = tf.nn.rnn_cell.BasicLSTMCell(num_units=num_units)
      return tf.nn.rnn_cell.DropoutWrapper(cell, output_keep_prob=keep_prob)

  cells = tf.nn.rnn_cell.MultiRNNCell([cell(num_units) for _ in range(num_layer)])
  h0 = cells.zero_state(batch_size, dtype=tf.float32)
  output, hs = tf.nn.dynamic_rnn(cells, inputs=x_shape, initial_state=h0)
  output = output[:, -1, :]

  # Output Layer
  w = tf.Variable(tf.truncated_normal([num_units, category_num], stddev=0.1), dtype=tf.float32)
  b = tf.Variable(tf.constant(0.1, shape=[category_num]), dtype=tf.float32)
  y = tf.matmul(output, w) + b
  # Loss
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(labels=y_label, logits=y)

  # Train
  train = tf.train.AdamOptimizer(learning_rate=learning_rate).minimize(cross_entropy)
  # Prediction
  correction_prediction = tf.equal(tf.argmax(y, axis=1), tf.argmax(y_label, axis=1))
  accuracy = tf.reduce_mean(tf.cast(correction_prediction, tf.float32))
  mean_loss = tf.reduce_mean(cross_entropy)  # added: the train loss for the results history

  # Train
  with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      common.start_tf1_session(tf, sess)
      if common.measure_tf1_initial_losses(tf, sess, cross_entropy, lambda xs, ys: {x: xs, y_label: ys, keep_prob: 1, batch_size: xs.shape[0]}, mnist.test):
          return
      for step in range(total_steps + 1):
          batch_x, batch_y = mnist.train.next_batch(100)
          run.timed(sess.run, train, feed_dict={x: batch_x, y_label: batch_y, keep_prob: FLAGS.keep_prob, batch_size: batch_x.shape[0]})
          # Train Accuracy
          if step % steps_per_validate == 0:
              train_accuracy, train_loss = sess.run([accuracy, mean_loss], feed_dict={x: batch_x, y_label: batch_y, keep_prob: FLAGS.keep_prob, batch_size: batch_x.shape[0]})
              run.train_metrics(step + 1, train_loss, train_accuracy)
              print('Train', step, train_accuracy)
          # Test Accuracy
          if step % steps_per_test == 0:
              test_x, test_y = mnist.test.images, mnist.test.labels
              test_accuracy = sess.run(accuracy, feed_dict={x: test_x, y_label: test_y, keep_prob: 1, batch_size: test_x.shape[0]})
              run.test_metric(step + 1, test_accuracy, len(test_x))
              print('Test', step, test_accuracy)

      test_x, test_y = mnist.test.images, mnist.test.labels
      acc = run.timed_eval(len(test_x), sess.run, accuracy, feed_dict={x: test_x, y_label: test_y, keep_prob: 1, batch_size: test_x.shape[0]})
      run.save_test_outputs(*sess.run([y, mean_loss], feed_dict={x: test_x, y_label: test_y, keep_prob: 1, batch_size: test_x.shape[0]}))
      common.save_tf1_checkpoint(tf, sess, total_steps + 1)
      run.finish(steps=total_steps + 1, batch_size=100, learning_rate=learning_rate,
                 examples=(total_steps + 1) * 100, test_accuracy=acc,
                 test_examples=len(test_x), tutorial_accuracy=acc, tutorial_examples=len(test_x),
                 packages=TF1_PACKAGES)


if __name__ == "__main__":
  common.run_main(main)
