"""Tutorial 003 (single-layer LSTM/GRU, static and dynamic), as written, on tf.compat.v1.

The tutorial keeps four alternatives, three commented out; --cell picks one:
  basic_lstm  #1 BasicLSTMCell + static_rnn    (tutorial: 0.9453125)
  lstm        #2 LSTMCell + static_rnn         (tutorial: 0.9609375)
  gru         #3 GRUCell + static_rnn          (tutorial: 0.9921875)
  dynamic_gru #4 GRUCell + dynamic_rnn         (tutorial: 0.9921875)
Changes TF 2.21 forces: tf.contrib.rnn.* -> tf.nn.rnn_cell.* / tf.nn.static_rnn,
tf.contrib.layers.fully_connected -> tf.layers.dense (same glorot_uniform + zeros),
tensorflow.examples.tutorials.mnist -> legacy_tf1.input_data. Added: the flags in common.py.

    python -m legacy_tf1.static_rnn --cell=gru [--train_steps=N] [--results_json=PATH]
"""

from absl import flags

from legacy_tf1 import common

tf = common.import_tf1()
from legacy_tf1 import input_data  # noqa: E402  (needs TF_USE_LEGACY_KERAS set first)

FLAGS = common.FLAGS
TF1_PACKAGES = ("tensorflow", "tf-keras", "numpy")
common.define_flags("781 steps (while step * 128 < 100000)")
common.define_tf1_checkpoint_flags()
flags.DEFINE_enum("cell", "basic_lstm", ["basic_lstm", "lstm", "gru", "dynamic_gru"],
                  "Which of the tutorial's four options to run.")
VARIANT_OF_CELL = {"basic_lstm": "static_lstm", "lstm": "static_lstmcell", "gru": "static_gru",
                   "dynamic_gru": "dynamic_gru"}


# One long function on purpose: it is the tutorial's script, kept line for line so that it can be
# diffed against the tutorial it ports (named in variants.py); the additions live in common.py.
def main(argv):
  del argv
  run = common.tf1_run(tf, VARIANT_OF_CELL[FLAGS.cell])
  # Added. The tutorial's tf.reset_default_graph() (after loading the data) is left out: the graph
  # is new in this process anyway, and resetting it would drop this graph seed.
  tf.set_random_seed(FLAGS.seed)
  mnist = common.read_data_sets(input_data) # 在线下载 MNIST_data 数据集
  n_input = 28 # MNIST data 输入 (img shape: 28*28)
  n_steps = 28 # 序列个数
  n_hidden = 128 # hidden layer num of features
  n_classes = 10 # MNIST 列别 (0-9 ,一共10类)
  # tf Graph input
  x = tf.placeholder("float", [None, n_steps, n_input])
  y = tf.placeholder("float", [None, n_classes])
  x1 = tf.unstack(x, n_steps, 1)
  if FLAGS.cell == "basic_lstm":
      #1 BasicLSTMCell 0.9453125
      lstm_cell = tf.nn.rnn_cell.BasicLSTMCell(n_hidden, forget_bias=1.0)
      outputs, states = tf.nn.static_rnn(lstm_cell, x1, dtype=tf.float32)
  elif FLAGS.cell == "lstm":
      #2 LSTMCell 0.9609375
      lstm_cell = tf.nn.rnn_cell.LSTMCell(n_hidden, forget_bias=1.0)
      outputs, states = tf.nn.static_rnn(lstm_cell, x1, dtype=tf.float32)
  elif FLAGS.cell == "gru":
      #3 gru 0.9921875
      gru = tf.nn.rnn_cell.GRUCell(n_hidden)
      # As in the tutorial: this binds (outputs, state), so outputs[-1] below is the final state,
      # which for a GRU is the last output.
      outputs = tf.nn.static_rnn(gru, x1, dtype=tf.float32)
  else:
      #4 创建动态RNN 0.9921875
      gru = tf.nn.rnn_cell.GRUCell(n_hidden)
      outputs,_ = tf.nn.dynamic_rnn(gru,x,dtype=tf.float32)
      outputs = tf.transpose(outputs, [1, 0, 2])
  pred = tf.layers.dense(outputs[-1],n_classes,activation=None)
  learning_rate = 0.001
  batch_size = 128
  # `step * batch_size < training_iters` with step from 1 runs training_iters // 128 steps for
  # the tutorial's 100000; --train_steps=N sets training_iters so that it runs exactly N.
  training_iters = FLAGS.train_steps * batch_size + 1 if FLAGS.train_steps else 100000
  display_step = 10
  # Define loss and optimizer
  cost = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=pred, labels=y))
  optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate).minimize(cost)
  # Evaluate model
  correct_pred = tf.equal(tf.argmax(pred,1), tf.argmax(y,1))
  accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))
  # 启动session
  with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      common.start_tf1_session(tf, sess)
      if common.measure_tf1_initial_losses(tf, sess, cost, lambda xs, ys: {x: xs.reshape((-1, n_steps, n_input)), y: ys}, mnist.test):
          return
      step = 1
      # Keep training until reach max iterations
      while step * batch_size < training_iters:
          batch_x, batch_y = mnist.train.next_batch(batch_size)
          # Reshape data to get 28 seq of 28 elements
          batch_x = batch_x.reshape((batch_size, n_steps, n_input))
          # Run optimization op (backprop)
          run.timed(sess.run, optimizer, feed_dict={x: batch_x, y: batch_y})
          if step % display_step == 0:
              # 计算批次数据的准确率
              acc = sess.run(accuracy, feed_dict={x: batch_x, y: batch_y})
              # Calculate batch loss
              loss = sess.run(cost, feed_dict={x: batch_x, y: batch_y})
              run.train_metrics(step, loss, acc)
              print ("Iter " + str(step*batch_size) + ", Minibatch Loss= " + \
                    "{:.6f}".format(loss) + ", Training Accuracy= " + \
                    "{:.5f}".format(acc))
          step += 1
      print (" Finished!")
      # 计算准确率 for 128 mnist test images
      test_len = 128
      test_data = mnist.test.images[:test_len].reshape((-1, n_steps, n_input))
      test_label = mnist.test.labels[:test_len]
      tutorial_acc = sess.run(accuracy, feed_dict={x: test_data, y: test_label})
      print ("Testing Accuracy:", \
          tutorial_acc)
      full_acc = run.timed_eval(mnist.test.num_examples, sess.run, accuracy, feed_dict={x: mnist.test.images.reshape((-1, n_steps, n_input)), y: mnist.test.labels})
      run.save_test_outputs(*sess.run([pred, cost], feed_dict={x: mnist.test.images.reshape((-1, n_steps, n_input)), y: mnist.test.labels}))
      steps = step - 1
      common.save_tf1_checkpoint(tf, sess, steps)
      run.finish(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                 examples=steps * batch_size, test_accuracy=full_acc,
                 test_examples=mnist.test.num_examples, tutorial_accuracy=tutorial_acc,
                 tutorial_examples=min(test_len, mnist.test.num_examples),
                 packages=TF1_PACKAGES)


if __name__ == "__main__":
  common.run_main(main)
