"""Tutorials 000 and 002 ("RNN、LSTM应用于MNIST数字图片识别"), as written, on tf.compat.v1.

Changes TF 2.21 forces: tf.contrib.rnn.core_rnn_cell.BasicLSTMCell -> tf.nn.rnn_cell.BasicLSTMCell,
tensorflow.examples.tutorials.mnist -> legacy_tf1.input_data. Added: the flags in common.py
(--train_steps overrides 6 epochs x n_batch; the test accuracy is also reported at the end).

    python -m legacy_tf1.basic_lstm [--train_steps=N] [--seed=S] [--results_json=PATH]
"""


from legacy_tf1 import common

tf = common.import_tf1()
from legacy_tf1 import input_data  # noqa: E402  (needs TF_USE_LEGACY_KERAS set first)

FLAGS = common.FLAGS
TF1_PACKAGES = ("tensorflow", "tf-keras", "numpy")
common.define_flags("6 epochs x 1100 steps")
common.define_tf1_checkpoint_flags()


# One long function on purpose: it is the tutorial's script, kept line for line so that it can be
# diffed against the tutorial it ports (named in variants.py); the additions live in common.py.
def main(argv):
  del argv
  run = common.tf1_run(tf, "basic_lstm")
  tf.set_random_seed(FLAGS.seed)

  #载入数据集
  mnist = common.read_data_sets(input_data)

  # 输入图片是28*28
  n_inputs = 28 #输入一行,一行有28个数据
  max_time = 28 #一共28行
  lstm_size = 100 #隐层单元
  n_classes = 10 # 10个分类
  batch_size = 50 #每批次50个样本
  n_batch = mnist.train.num_examples // batch_size #计算一共有多少个批次
  total_steps = run.steps(6 * n_batch)

  #这里的none表示第一个维度可以是任意的长度
  x = tf.placeholder(tf.float32,[None,784])
  #正确的标签
  y = tf.placeholder(tf.float32,[None,10])

  #初始化权值
  weights = tf.Variable(tf.truncated_normal([lstm_size, n_classes], stddev=0.1))
  #初始化偏置值
  biases = tf.Variable(tf.constant(0.1, shape=[n_classes]))


  #定义RNN网络
  def RNN(X,weights,biases):
      # inputs=[batch_size, max_time, n_inputs]
      inputs = tf.reshape(X,[-1,max_time,n_inputs])
      #定义LSTM基本CELL
      lstm_cell = tf.nn.rnn_cell.BasicLSTMCell(lstm_size)
      # final_state[0]是cell state
      # final_state[1]是hidden_state
      outputs,final_state = tf.nn.dynamic_rnn(lstm_cell,inputs,dtype=tf.float32)
      results = tf.nn.softmax(tf.matmul(final_state[1],weights) + biases)
      return results


  #计算RNN的返回结果
  prediction= RNN(x, weights, biases)
  #损失函数
  cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=prediction,labels=y))
  #使用AdamOptimizer进行优化
  train_step = tf.train.AdamOptimizer(1e-4).minimize(cross_entropy)
  #结果存放在一个布尔型列表中
  correct_prediction = tf.equal(tf.argmax(y,1),tf.argmax(prediction,1))#argmax返回一维张量中最大的值所在的位置
  #求准确率
  accuracy = tf.reduce_mean(tf.cast(correct_prediction,tf.float32))#把correct_prediction变为float32类型
  #初始化
  init = tf.global_variables_initializer()

  with tf.Session() as sess:
      sess.run(init)
      common.start_tf1_session(tf, sess)
      if common.measure_tf1_initial_losses(tf, sess, cross_entropy, lambda xs, ys: {x: xs, y: ys}, mnist.test):
          return
      for step in range(total_steps):
          batch_xs,batch_ys =  mnist.train.next_batch(batch_size)
          run.timed(sess.run, train_step, feed_dict={x:batch_xs,y:batch_ys})
          if (step + 1) % n_batch == 0:  # the tutorial's end of an epoch
              epoch = step // n_batch
              acc = sess.run(accuracy,feed_dict={x:mnist.test.images,y:mnist.test.labels})
              run.test_metric(step + 1, acc, mnist.test.num_examples)
              print ("Iter " + str(epoch) + ", Testing Accuracy= " + str(acc))

      acc = run.timed_eval(mnist.test.num_examples, sess.run, accuracy,feed_dict={x:mnist.test.images,y:mnist.test.labels})
      run.save_test_outputs(*sess.run([prediction, cross_entropy], feed_dict={x:mnist.test.images,y:mnist.test.labels}))
      common.save_tf1_checkpoint(tf, sess, total_steps)
      run.finish(steps=total_steps, batch_size=batch_size, learning_rate=1e-4,
                 examples=total_steps * batch_size, test_accuracy=acc,
                 test_examples=mnist.test.num_examples, tutorial_accuracy=acc,
                 tutorial_examples=mnist.test.num_examples,
                 packages=TF1_PACKAGES)


if __name__ == "__main__":
  common.run_main(main)
