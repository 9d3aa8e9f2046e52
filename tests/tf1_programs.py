"""A corpus of small TF1 programs, each written from a reading of one public TF1 project (its
scopes, wrappers, placeholders, heads and training part, not only its cell), checkpointed with
its meta graph so that `migrate` can be tried on graphs as users actually wrote them.

    python tests/tf1_programs.py OUTDIR [NAME ...]
    python tests/tf1_programs.py --forms OUTDIR NAME ...   (frozen .pb/.pbtxt, SavedModel)
    python tests/tf1_programs.py --eval OUTDIR NAME IN.npz OUT.npz  (a training program's
                                                                       inference graph)

Writes, for each program NAME (all of them when no NAME is given):
- OUTDIR/NAME/model.ckpt* by `tf.train.Saver().save`, so model.ckpt.meta holds the MetaGraphDef,
  optimizer slots and gradient ops included. Every float variable holds random values (biases
  are not zero); integer ones (global_step) keep their initial value;
- OUTDIR/NAME/program.json: {"inputs", "outputs", "feed", "expect", "refuse_mentions", "source"}:
  the placeholders a user would name as inputs, the inference tensors a user would fetch, the
  values fixing the other placeholders at inference, whether `migrate` should "convert",
  "refuse" or may do either ("refuse_or_convert"), what a refusal must name, and where the
  program comes from;
- OUTDIR/NAME/reference.npz: the graph's own outputs on inputs drawn here (ids in [0, vocab),
  lengths in [1, T] with one == T and one < T, floats N(0, 1)), keyed by tensor name with ':'
  and '/' replaced by '__': an independent record of what the program computes.

Sizes are tiny (vocab <= 50, units <= 16, time <= 7) so the whole corpus builds in seconds.

Programs, their public sources (each builder's docstring and its "source" say what was taken):

  ptb_lm                    tensorflow/models tutorials/rnn/ptb/ptb_word_lm.py
  char_rnn_gru              sherjilozair/char-rnn-tensorflow model.py
  char_rnn_dropout          sherjilozair/char-rnn-tensorflow model.py (training=True)
  bi_classifier             dennybritz/cnn-text-classification-tf text_cnn.py, train.py
                            + aymericdamien/TensorFlow-Examples 3_NeuralNetworks/dynamic_rnn.py
  peephole_projection_flat  MorvanZhou/Tensorflow-Tutorial 402_RNN_classification.py
                            + dave-chatmost/TF-punctuator src/model/lstm.py
  nmt_residual_encoder      tensorflow/nmt nmt/model.py, nmt/model_helper.py
  one_cell_multi            ageron/handson-ml 14_recurrent_neural_networks.ipynb
  attention_pooled          ilivans/tf-rnn-attention attention.py, train.py
  nmt_projection            tensorflow/nmt nmt/model.py, nmt/model_helper.py
  nmt_training              tensorflow/nmt nmt/model.py, nmt/model_helper.py (TRAIN mode)
  punctuator_bi_perstep     dave-chatmost/TF-punctuator src/model/blstm.py
                            + guillaumegenthial/sequence_tagging model/ner_model.py
  saturated                 MorvanZhou/Tensorflow-Tutorial 403_RNN_regression.py
  rnn_regression            MorvanZhou/Tensorflow-Tutorial 403_RNN_regression.py (as written)
  decoder_with_helper       tensorflow/nmt nmt/model.py (infer_mode greedy)
  raw_rnn_decoder           ematvey/tensorflow-seq2seq-tutorials 2-seq2seq-advanced.ipynb
  toy_seqlen_static         aymericdamien/TensorFlow-Examples 3_NeuralNetworks/dynamic_rnn.py
  static_bidirectional_seqlen  aymericdamien/TensorFlow-Examples bidirectional_rnn.py
  text_length_from_ids      roomylee/rnn-text-classification-tf rnn.py, train.py
  crnn_ocr                  MaybeShewill-CV/CRNN_Tensorflow crnn_model/crnn_net.py, cnn_basenet.py
  tf_ner_fused              guillaumegenthial/tf_ner models/lstm_crf/main.py
  ptb_block                 tensorflow/models tutorials/rnn/ptb/ptb_word_lm.py (rnn_mode BLOCK)
  sequence_tagging_chars    guillaumegenthial/sequence_tagging model/ner_model.py (use_chars)
  seq2seq_teacher_forced    ematvey/tensorflow-seq2seq-tutorials 1-seq2seq.ipynb
  keras_layers_in_session   tf.keras layers called in a TF1 session (keras.io's 2016 post)
  *_tf2                     bi_classifier, nmt_residual_encoder, char_rnn_gru and
                            speech_conv_bn_gru as TF1 code runs on TF 2.x with only
                            disable_eager_execution() (control flow v2: While over TensorLists,
                            If over branch functions; resource variables)
  gru_block_lm              a public GRUBlockCell language model (build_model)
  deepspeech_fused          mozilla/DeepSpeech 0.6 DeepSpeech.py
  speech_conv_bn_gru        mozilla/DeepSpeech 0.x DeepSpeech.py create_model (+ conv1d, BN)

and the constructs they exercise:

  program                   emb  run    bi  len  cells and wrappers             head        tm  opt
  ptb_lm                    cpu  loop   -   -    Drop(out) 2 BasicLSTM fb=0     step+smax   -   SGD
  char_rnn_gru              get  dyn    -   -    2 GRU, fixed batch             flat+smax   -   Adam
  char_rnn_dropout          get  dyn    -   -    Drop(in+out) 2 GRU, nn/layers drop flat+smax   -   Adam
  bi_classifier             Var  dyn    bi  ph   LSTMCell                       gather      -   Adam
  peephole_projection_flat  -    dyn    -   -    LSTMCell peep proj clips fb=.5 last        -   Adam
  nmt_residual_encoder      cpu  dyn    -   ph   Drop(in) Res Dev 4 BasicLSTM   seq+h       out -
  one_cell_multi            -    dyn    -   -    MultiRNNCell([BasicLSTM])      state h     -   Adam
  attention_pooled          Var  dyn    bi  ph   GRU                            attention   -   Adam
  nmt_projection            cpu  dyn    -   ph   Res Dev 2 GRU                  step 3-D    -   Adam
  nmt_training              cpu  dyn    -   ph   Drop(in)=.8 Res Dev 2+2 LSTM   step 3-D    yes Adam
  punctuator_bi_perstep     cpu  dyn    2bi ph   LSTMCell peep proj fb=0        step+smax   -   Adam
  saturated                 -    dyn    -   -    BasicLSTM, weights std 20      step dense  -   Adam
  rnn_regression            -    dyn    -   -    BasicRNNCell                   step dense  -   Adam
  decoder_with_helper       cpu  while  -   ph   BasicLSTM encoder + decoder    greedy      out -
  raw_rnn_decoder           Var  raw    bi  ph   one LSTMCell as fw and bw      greedy      yes Adam
  toy_seqlen_static         -    static -   ph   BasicLSTM                      gather      -   SGD
  static_bidirectional_seqlen -  static bi  ph   BasicLSTM fw and bw            last, seq   -   Adam
  text_length_from_ids      Var  dyn    -   ids  Drop(out) GRU                  gather      -   Adam
  crnn_ocr                  -    dyn    2bi -    conv+BN+pool, LSTMCell, cond   step logits out -
  speech_conv_bn_gru        -    dyn    -   ph   conv1d+BN cond, clipped ReLU   step logits out Adam
  tf_ner_fused              Var  fused  bi  ph   LSTMBlockFusedCell (BlockLSTM) step dense  yes -
  ptb_block                 get  loop   -   -    Drop(out) 2 LSTMBlockCell fb=0 step        -   -
  sequence_tagging_chars    get  dyn    2bi ph   LSTMCell, chars over [B*W, C]  step        -   Adam
  seq2seq_teacher_forced    Var  dyn    -   -    LSTMCell encoder -> decoder    step 3-D    yes Adam
  keras_layers_in_session   K    keras  bi  mask tf.keras LSTM, GRU, Embedding mask_zero  dense smax  -   -
  gru_block_lm              get  dyn    -   ph   GRUBlockCell (w_ru names)      step+state  -   -
  deepspeech_fused          -    fused  -   ph   conv windows, clipped ReLU, fb=0  step+smax out -

emb: get = tf.get_variable, cpu = the same on /cpu:0, Var = tf.Variable, - = float inputs.
run: loop = the cell called per step by hand, static = tf.nn.static_rnn (or
  static_bidirectional_rnn; with lengths: per-step conds), dyn = dynamic_rnn (or
  bidirectional_dynamic_rnn), while = tf.while_loop, raw = tf.nn.raw_rnn, fused = contrib's
  LSTMBlockFusedCell (one BlockLSTM op over the sequence).
cond: a tf.cond whose predicate is known at conversion (string constants in crnn_ocr, a
  placeholder_with_default in speech_conv_bn_gru).
len: ph = a lengths placeholder, ids = lengths computed in the graph from the ids.
Drop(in|out) = DropoutWrapper(input|output_keep_prob), Res = ResidualWrapper, Dev =
  DeviceWrapper, fb = forget_bias, peep/proj/clips = use_peepholes/num_proj/cell+proj_clip.
head: step+smax = a projection at every step then softmax; flat = over [batch * time] rows;
  gather = tf.gather of each sequence's step len - 1; last = outputs[:, -1]; state h = the
  final state's h; seq+h = all outputs and each layer's final h; step 3-D = tf.layers.Dense on
  the 3-D outputs (Tensordot); greedy = its own ArgMax fed back as the next input (refused).
tm: time-major; out = time-major outputs of a batch-major input transposed in the graph,
  yes = time-major placeholder too.
opt: the optimizer of the training part kept in the graph and checkpoint (- = none).
"""

import json
import os
import sys
import time
import zlib

os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.disable_v2_behavior()
import tf_keras  # noqa: E402,F401  (tf.nn.rnn_cell and tf.layers live in tf_keras under TF 2.16+)

R = tf.nn.rnn_cell
BATCH = 4  # the batch the references are computed on
PROGRAMS = {}


def _program(source, expect="convert", refuse_mentions=(), stddev=None, name=None,
             tf2=False):
  """Registers a builder under its function name (or `name`). A builder builds its graph in
  the default graph and returns dict(inputs=[...], outputs=[...], feed={placeholder: value},
  draw=f) where f(rng) gives {input placeholder: value}. `stddev(variable name)` is the spread
  of the random values saved (0.3 unless given). `tf2`: built as TF1 code runs on TF 2.x with
  only `disable_eager_execution()` (control flow v2, resource variables)."""
  def register(build):
    PROGRAMS[name or build.__name__] = dict(build=build, source=source, expect=expect,
                                            refuse_mentions=list(refuse_mentions),
                                            stddev=stddev or (lambda name: 0.3), tf2=tf2)
    return build
  return register


class _TF2Behaviour:
  """What `disable_v2_behavior()` turned off and plain `disable_eager_execution()` keeps:
  control flow v2 (While/If over functions, TensorLists) and resource variables."""

  def __enter__(self):
    tf.enable_control_flow_v2()
    tf.enable_resource_variables()

  def __exit__(self, *exc):
    tf.disable_control_flow_v2()
    tf.disable_resource_variables()


def _lengths(rng, batch, time_steps):
  """Lengths in [1, T], the first == T and the second < T, so padding is always exercised."""
  lengths = rng.integers(1, time_steps + 1, batch)
  lengths[0], lengths[1] = time_steps, rng.integers(1, time_steps)
  return lengths.astype(np.int32)


def _padded_ids(rng, lengths, time_steps, low, vocab, pad=0):
  """Ids in [low, vocab) up to each length, `pad` after it, as the programs' data helpers pad."""
  ids = rng.integers(low, vocab, (len(lengths), time_steps)).astype(np.int32)
  ids[np.arange(time_steps)[None, :] >= lengths[:, None]] = pad
  return ids


def _ptb_unrolled(cell, inputs, input_data, num_steps):
  """ptb_word_lm's own "simplified version of tf.nn.static_rnn()": the cell called step by step
  in scope RNN from its zero state, the variables reused after the first step."""
  state = cell.zero_state(tf.shape(input_data)[0], tf.float32)
  outputs = []
  with tf.variable_scope("RNN"):
    for time_step in range(num_steps):
      if time_step > 0:
        tf.get_variable_scope().reuse_variables()
      cell_output, state = cell(inputs[:, time_step, :], state)
      outputs.append(cell_output)
  return outputs, state


@_program("tensorflow/models tutorials/rnn/ptb/ptb_word_lm.py: PTBModel with rnn_mode BASIC "
          "(embedding on /cpu:0, input dropout, DropoutWrapper(output_keep_prob) over "
          "BasicLSTMCell(forget_bias=0.0) in a MultiRNNCell, the unrolled loop in scope RNN with "
          "reuse_variables, softmax_w/softmax_b xw_plus_b, logits reshaped to [batch, num_steps, "
          "vocab], sequence loss, SGD on a lr variable with clip_by_global_norm and "
          "get_or_create_global_step, new_learning_rate/lr_update, the Train name scope and "
          "the Model variable scope with a uniform initializer); keep_prob is a placeholder "
          "here (the original bakes config.keep_prob in) and the batch is None")
def ptb_lm():
  """tensorflow/models ptb_word_lm.py's PTBModel (rnn_mode BASIC), as main() builds it under
  name_scope("Train") and variable_scope("Model"). The unrolled loop is the file's own
  "simplified version of tf.nn.static_rnn()"; softmax on the 3-D logits is added because a user
  sampling from the model fetches probabilities."""
  num_layers, num_steps, size, vocab_size, max_grad_norm = 2, 5, 8, 30, 5
  with tf.name_scope("Train"):
    input_data = tf.placeholder(tf.int32, [None, num_steps], name="input_data")
    targets = tf.placeholder(tf.int32, [None, num_steps], name="targets")
    keep_prob = tf.placeholder(tf.float32, [], name="keep_prob")
    initializer = tf.random_uniform_initializer(-0.1, 0.1)
    with tf.variable_scope("Model", reuse=None, initializer=initializer):
      with tf.device("/cpu:0"):
        embedding = tf.get_variable("embedding", [vocab_size, size], dtype=tf.float32)
        inputs = tf.nn.embedding_lookup(embedding, input_data)
      inputs = tf.nn.dropout(inputs, keep_prob)

      def make_cell():
        cell = R.BasicLSTMCell(size, forget_bias=0.0, state_is_tuple=True)
        return R.DropoutWrapper(cell, output_keep_prob=keep_prob)

      cell = R.MultiRNNCell([make_cell() for _ in range(num_layers)], state_is_tuple=True)
      outputs, state = _ptb_unrolled(cell, inputs, input_data, num_steps)
      output = tf.reshape(tf.concat(outputs, 1), [-1, size])
      softmax_w = tf.get_variable("softmax_w", [size, vocab_size], dtype=tf.float32)
      softmax_b = tf.get_variable("softmax_b", [vocab_size], dtype=tf.float32)
      logits = tf.nn.xw_plus_b(output, softmax_w, softmax_b)
      logits = tf.reshape(logits, [-1, num_steps, vocab_size])
      probabilities = tf.nn.softmax(logits, name="probabilities")
      # contrib.seq2seq.sequence_loss(average_across_timesteps=False, average_across_batch=True)
      crossent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
      cost = tf.reduce_sum(tf.reduce_mean(crossent, 0))
      lr = tf.Variable(0.0, trainable=False)
      tvars = tf.trainable_variables()
      grads, _ = tf.clip_by_global_norm(tf.gradients(cost, tvars), max_grad_norm)
      optimizer = tf.train.GradientDescentOptimizer(lr)
      optimizer.apply_gradients(zip(grads, tvars),
                                global_step=tf.train.get_or_create_global_step())
      new_lr = tf.placeholder(tf.float32, shape=[], name="new_learning_rate")
      tf.assign(lr, new_lr)
  final_state = [t for layer in state for t in (layer.c, layer.h)]
  return dict(inputs=[input_data], outputs=[probabilities, *final_state], feed={keep_prob: 1.0},
              draw=lambda rng: {input_data: rng.integers(0, vocab_size, (BATCH, num_steps))})


@_program("sherjilozair/char-rnn-tensorflow model.py: Model(args, training=True) with "
          "model=gru, num_layers=2 and the default keep probabilities of 1.0 (no "
          "DropoutWrapper): unnamed fixed-size placeholders, zero_state(batch_size), "
          "rnnlm/softmax_w, embedding, the per-step outputs reshaped to [-1, rnn_size], flat "
          "softmax probs, cost name scope, Adam on a lr variable with clip_by_global_norm in "
          "name scope optimizer, no global_step, summaries; legacy_seq2seq.rnn_decoder (gone) "
          "is replaced by dynamic_rnn in the same scope rnnlm, which names the variables the "
          "same")
def char_rnn_gru():
  """sherjilozair/char-rnn-tensorflow's Model, training graph (train.py saves it). Its
  placeholders have no names and a fixed batch, its probs are flat [batch * seq_length, vocab],
  its initial state is zero_state (sample() feeds that tensor; it is left at zeros here)."""
  batch_size, seq_length, rnn_size, vocab_size, num_layers, grad_clip = BATCH, 6, 8, 26, 2, 5.0
  cells = [R.GRUCell(rnn_size) for _ in range(num_layers)]
  cell = R.MultiRNNCell(cells, state_is_tuple=True)
  input_data = tf.placeholder(tf.int32, [batch_size, seq_length])
  targets = tf.placeholder(tf.int32, [batch_size, seq_length])
  initial_state = cell.zero_state(batch_size, tf.float32)
  with tf.variable_scope("rnnlm"):
    softmax_w = tf.get_variable("softmax_w", [rnn_size, vocab_size])
    softmax_b = tf.get_variable("softmax_b", [vocab_size])
  embedding = tf.get_variable("embedding", [vocab_size, rnn_size])
  inputs = tf.nn.embedding_lookup(embedding, input_data)
  outputs, last_state = tf.nn.dynamic_rnn(cell, inputs, initial_state=initial_state,
                                          scope="rnnlm")
  output = tf.reshape(outputs, [-1, rnn_size])
  logits = tf.matmul(output, softmax_w) + softmax_b
  probs = tf.nn.softmax(logits)
  loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(targets, [-1]),
                                                        logits=logits)
  with tf.name_scope("cost"):
    cost = tf.reduce_sum(loss) / batch_size / seq_length
  lr = tf.Variable(0.0, trainable=False)
  tvars = tf.trainable_variables()
  grads, _ = tf.clip_by_global_norm(tf.gradients(cost, tvars), grad_clip)
  with tf.name_scope("optimizer"):
    optimizer = tf.train.AdamOptimizer(lr)
  optimizer.apply_gradients(zip(grads, tvars))
  tf.summary.histogram("logits", logits)
  tf.summary.histogram("loss", loss)
  tf.summary.scalar("train_loss", cost)
  return dict(inputs=[input_data], outputs=[probs, *last_state], feed={},
              draw=lambda rng: {input_data: rng.integers(0, vocab_size, (batch_size, seq_length))})


def _char_rnn(training):
  """sherjilozair/char-rnn-tensorflow's Model(args, training): with training, each GRUCell in a
  DropoutWrapper(input_keep_prob=0.9, output_keep_prob=0.8) and the embedded inputs through
  tf.nn.dropout(inputs, 0.8) (its "dropout beta testing" line), all constants."""
  batch_size, seq_length, rnn_size, vocab_size, num_layers = BATCH, 6, 8, 26, 2
  input_keep_prob, output_keep_prob = 0.9, 0.8
  cells = []
  for _ in range(num_layers):
    cell = R.GRUCell(rnn_size)
    if training:
      cell = R.DropoutWrapper(cell, input_keep_prob=input_keep_prob,
                              output_keep_prob=output_keep_prob)
    cells.append(cell)
  cell = R.MultiRNNCell(cells, state_is_tuple=True)
  input_data = tf.placeholder(tf.int32, [None, seq_length], name="input_data")
  with tf.variable_scope("rnnlm"):
    softmax_w = tf.get_variable("softmax_w", [rnn_size, vocab_size])
    softmax_b = tf.get_variable("softmax_b", [vocab_size])
  embedding = tf.get_variable("embedding", [vocab_size, rnn_size])
  inputs = tf.nn.embedding_lookup(embedding, input_data)
  if training:
    inputs = tf.nn.dropout(inputs, output_keep_prob)
  outputs, _ = tf.nn.dynamic_rnn(cell, inputs, dtype=tf.float32, scope="rnnlm")
  output = tf.reshape(outputs, [-1, rnn_size])
  output = tf.layers.dropout(output, rate=0.1, training=training)
  logits = tf.matmul(output, softmax_w) + softmax_b
  probs = tf.nn.softmax(logits, name="probs")
  targets = tf.placeholder(tf.int32, [None, seq_length])
  loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(targets, [-1]),
                                                        logits=logits)
  tf.train.AdamOptimizer(0.002).minimize(tf.reduce_mean(loss))
  return dict(inputs=[input_data], outputs=[probs], feed={},
              draw=lambda rng: {input_data: rng.integers(0, vocab_size, (batch_size, seq_length))})


@_program("sherjilozair/char-rnn-tensorflow model.py with training=True, as train.py saves "
          "it: DropoutWrapper(input_keep_prob, output_keep_prob) on each cell and "
          "tf.nn.dropout on the embedded inputs, the keep probabilities constants; plus "
          "tf.layers.dropout(rate=0.1, training=True) on the flat outputs; dynamic_rnn in "
          "place of legacy_seq2seq.rnn_decoder; the inference graph (training=False) restores "
          "the same checkpoint (EVAL_BUILDS)")
def char_rnn_dropout():
  """char-rnn's training graph: three kinds of built-in dropout, every one random."""
  return _char_rnn(training=True)


@_program("dennybritz/cnn-text-classification-tf text_cnn.py and train.py: input_x/input_y/"
          "dropout_keep_prob placeholders, embedding/W tf.Variable on /cpu:0, dropout, output/W "
          "by get_variable (so named W at the top level) and output/b, scores by xw_plus_b, "
          "predictions, l2 loss, Adam compute_gradients/apply_gradients with a global_step "
          "variable; the convolutions replaced by bidirectional_dynamic_rnn(LSTMCell, LSTMCell, "
          "sequence_length) and aymericdamien/TensorFlow-Examples examples/3_NeuralNetworks/"
          "dynamic_rnn.py's gather at range(batch) * max_len + (seqlen - 1) on the concatenated "
          "outputs")
def bi_classifier():
  """A text classifier as dennybritz's TextCNN is scaffolded, with a bidirectional LSTM and
  aymericdamien's "last relevant output" gather. Gathering the concatenated outputs at len - 1
  takes the backward direction after a single step: what such programs compute, bug or not."""
  max_len, num_classes, vocab_size, embedding_size, units = 6, 3, 40, 8, 6
  input_x = tf.placeholder(tf.int32, [None, max_len], name="input_x")
  input_y = tf.placeholder(tf.float32, [None, num_classes], name="input_y")
  seqlen = tf.placeholder(tf.int32, [None], name="seqlen")
  dropout_keep_prob = tf.placeholder(tf.float32, name="dropout_keep_prob")
  l2_loss = tf.constant(0.0)
  with tf.device("/cpu:0"), tf.name_scope("embedding"):
    embedding = tf.Variable(tf.random_uniform([vocab_size, embedding_size], -1.0, 1.0), name="W")
    embedded_chars = tf.nn.embedding_lookup(embedding, input_x)
  (output_fw, output_bw), _ = tf.nn.bidirectional_dynamic_rnn(
      R.LSTMCell(units), R.LSTMCell(units), embedded_chars, sequence_length=seqlen,
      dtype=tf.float32)
  outputs = tf.concat([output_fw, output_bw], axis=-1)
  batch_size = tf.shape(outputs)[0]
  index = tf.range(0, batch_size) * max_len + (seqlen - 1)
  last = tf.gather(tf.reshape(outputs, [-1, 2 * units]), index)
  with tf.name_scope("dropout"):
    h_drop = tf.nn.dropout(last, dropout_keep_prob)
  with tf.name_scope("output"):
    w = tf.get_variable("W", shape=[2 * units, num_classes],
                        initializer=tf.glorot_uniform_initializer())
    b = tf.Variable(tf.constant(0.1, shape=[num_classes]), name="b")
    l2_loss += tf.nn.l2_loss(w) + tf.nn.l2_loss(b)
    scores = tf.nn.xw_plus_b(h_drop, w, b, name="scores")
    predictions = tf.argmax(scores, 1, name="predictions")
  with tf.name_scope("loss"):
    losses = tf.nn.softmax_cross_entropy_with_logits_v2(logits=scores, labels=input_y)
    loss = tf.reduce_mean(losses) + 0.1 * l2_loss
  with tf.name_scope("accuracy"):
    correct = tf.equal(predictions, tf.argmax(input_y, 1))
    tf.reduce_mean(tf.cast(correct, "float"), name="accuracy")
  global_step = tf.Variable(0, name="global_step", trainable=False)
  optimizer = tf.train.AdamOptimizer(1e-3)
  grads_and_vars = optimizer.compute_gradients(loss)
  optimizer.apply_gradients(grads_and_vars, global_step=global_step)

  def draw(rng):
    lengths = _lengths(rng, BATCH, max_len)
    return {input_x: _padded_ids(rng, lengths, max_len, 1, vocab_size), seqlen: lengths}
  return dict(inputs=[input_x, seqlen], outputs=[scores], feed={dropout_keep_prob: 1.0},
              draw=draw)


@_program("MorvanZhou/Tensorflow-Tutorial tutorial-contents/402_RNN_classification.py: the "
          "flat [None, TIME_STEP * INPUT_SIZE] placeholder divided by 255. in the graph and "
          "reshaped to [-1, TIME_STEP, INPUT_SIZE], dynamic_rnn(time_major=False), "
          "tf.layers.dense(outputs[:, -1, :], 10), tf.losses.softmax_cross_entropy, "
          "AdamOptimizer(LR).minimize, tf.metrics.accuracy; its BasicLSTMCell replaced by "
          "dave-chatmost/TF-punctuator src/model/lstm.py's LSTMCell(use_peepholes=True, "
          "num_proj=...) with cell_clip, proj_clip and forget_bias=0.5")
def peephole_projection_flat():
  """MorvanZhou's MNIST RNN classifier (flat pixels scaled by 1/255 inside the graph) with the
  peephole-and-projection LSTMCell of TF-punctuator, plus both clips. The reference feeds
  pixel-like values in [0, 255)."""
  time_step, input_size, units, num_proj, classes = 5, 4, 8, 5, 10
  tf_x_placeholder = tf.placeholder(tf.float32, [None, time_step * input_size])
  tf_x = tf_x_placeholder / 255.
  image = tf.reshape(tf_x, [-1, time_step, input_size])
  tf_y = tf.placeholder(tf.int32, [None, classes])
  rnn_cell = R.LSTMCell(units, use_peepholes=True, num_proj=num_proj, cell_clip=0.7,
                        proj_clip=0.4, forget_bias=0.5)
  outputs, _ = tf.nn.dynamic_rnn(rnn_cell, image, initial_state=None, dtype=tf.float32,
                                 time_major=False)
  output = tf.layers.dense(outputs[:, -1, :], classes)
  loss = tf.losses.softmax_cross_entropy(onehot_labels=tf_y, logits=output)
  tf.train.AdamOptimizer(0.01).minimize(loss)
  tf.metrics.accuracy(labels=tf.argmax(tf_y, axis=1), predictions=tf.argmax(output, axis=1))
  return dict(inputs=[tf_x_placeholder], outputs=[output], feed={},
              draw=lambda rng: {tf_x_placeholder: rng.uniform(
                  0, 255, (BATCH, time_step * input_size)).astype(np.float32)})


def _nmt_embedding(name, vocab_size, embed_size):
  """model_helper.create_emb_for_encoder_and_decoder without share_vocab: embeddings/encoder/
  embedding_encoder and embeddings/decoder/embedding_decoder (small vocab: /gpu:0 is asked for
  there; /cpu:0 here, this machine has no GPU)."""
  with tf.variable_scope("embeddings", dtype=tf.float32):
    with tf.variable_scope(name.split("_")[1]):
      with tf.device("/cpu:0"):
        return tf.get_variable(name, [vocab_size, embed_size], tf.float32)


def _nmt_parts(src_vocab_size, tgt_vocab_size, num_units):
  """The embeddings and BaseModel's output_layer (made under build_network/decoder/
  output_projection, its kernel named where it is first called)."""
  embedding_encoder = _nmt_embedding("embedding_encoder", src_vocab_size, num_units)
  embedding_decoder = _nmt_embedding("embedding_decoder", tgt_vocab_size, num_units)
  with tf.variable_scope("build_network"):
    with tf.variable_scope("decoder/output_projection"):
      output_layer = tf.layers.Dense(tgt_vocab_size, use_bias=False, name="output_projection")
  return embedding_encoder, embedding_decoder, output_layer


def _nmt_cell_list(unit_type, num_units, num_layers, num_residual_layers, forget_bias, dropout):
  """model_helper._cell_list / _single_cell with num_gpus=0 (DeviceWrapper on /cpu:0). The
  DropoutWrapper is built when `dropout` is a tensor (a placeholder here) or a float > 0."""
  cells = []
  for i in range(num_layers):
    if unit_type == "lstm":
      single_cell = R.BasicLSTMCell(num_units, forget_bias=forget_bias)
    else:
      single_cell = R.GRUCell(num_units)
    if isinstance(dropout, tf.Tensor) or dropout > 0.0:
      single_cell = R.DropoutWrapper(cell=single_cell, input_keep_prob=(1.0 - dropout))
    if i >= num_layers - num_residual_layers:
      single_cell = R.ResidualWrapper(single_cell)
    single_cell = R.DeviceWrapper(single_cell, "/cpu:0")
    cells.append(single_cell)
  return cells[0] if len(cells) == 1 else R.MultiRNNCell(cells)


@_program("tensorflow/nmt nmt/model.py (BaseModel/Model _build_encoder_from_sequence, "
          "encoder_type uni, time_major=True, extract_encoder_layers: only the encoder is "
          "built) and nmt/model_helper.py (create_emb_for_encoder_and_decoder, _single_cell, "
          "_cell_list: BasicLSTMCell(forget_bias=1.0), DropoutWrapper(input_keep_prob=1 - "
          "dropout), ResidualWrapper on the last num_residual_layers, DeviceWrapper, "
          "MultiRNNCell); the dropout hparam is a placeholder here, the iterator's source and "
          "source_sequence_length are placeholders")
def nmt_residual_encoder():
  """tensorflow/nmt's encoder as its extract_encoder_layers mode builds it: 4 layers, the top 2
  residual. The source arrives batch-major (as nmt's iterator gives it) and is transposed to
  time-major inside, so the encoder outputs are [time, batch, units]."""
  num_units, num_layers, num_residual_layers, src_vocab_size = 8, 4, 2, 40
  source = tf.placeholder(tf.int32, [None, None], name="source")
  source_sequence_length = tf.placeholder(tf.int32, [None], name="source_sequence_length")
  dropout = tf.placeholder(tf.float32, [], name="dropout")
  embedding_encoder = _nmt_embedding("embedding_encoder", src_vocab_size, num_units)
  with tf.variable_scope("dynamic_seq2seq", dtype=tf.float32):
    sequence = tf.transpose(source)
    with tf.variable_scope("encoder") as scope:
      encoder_emb_inp = tf.nn.embedding_lookup(embedding_encoder, sequence)
      cell = _nmt_cell_list("lstm", num_units, num_layers, num_residual_layers, 1.0, dropout)
      encoder_outputs, encoder_state = tf.nn.dynamic_rnn(
          cell, encoder_emb_inp, dtype=scope.dtype, sequence_length=source_sequence_length,
          time_major=True, swap_memory=True)

  def draw(rng):
    lengths = _lengths(rng, BATCH, 7)
    return {source: _padded_ids(rng, lengths, 7, 3, src_vocab_size, pad=2),
            source_sequence_length: lengths}
  return dict(inputs=[source, source_sequence_length],
              outputs=[encoder_outputs, *[layer.h for layer in encoder_state]],
              feed={dropout: 0.0}, draw=draw)


@_program("ageron/handson-ml 14_recurrent_neural_networks.ipynb: the MNIST LSTM cell "
          "(BasicLSTMCell list in a MultiRNNCell, dynamic_rnn, top_layer_h_state = "
          "states[-1][1], tf.layers.dense(..., name=\"softmax\"), sparse softmax loss, "
          "AdamOptimizer.minimize, in_top_k accuracy) with n_layers = 1")
def one_cell_multi():
  """ageron's MNIST LSTM with one layer: a MultiRNNCell holding a single cell (names
  rnn/multi_rnn_cell/cell_0/...), the head reading the final state's h, not the outputs."""
  n_steps, n_inputs, n_neurons, n_outputs, n_layers = 6, 5, 7, 10, 1
  x = tf.placeholder(tf.float32, [None, n_steps, n_inputs])
  y = tf.placeholder(tf.int32, [None])
  lstm_cells = [R.BasicLSTMCell(num_units=n_neurons) for layer in range(n_layers)]
  multi_cell = R.MultiRNNCell(lstm_cells)
  _, states = tf.nn.dynamic_rnn(multi_cell, x, dtype=tf.float32)
  top_layer_h_state = states[-1][1]
  logits = tf.layers.dense(top_layer_h_state, n_outputs, name="softmax")
  xentropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
  loss = tf.reduce_mean(xentropy, name="loss")
  tf.train.AdamOptimizer(learning_rate=0.001).minimize(loss)
  correct = tf.nn.in_top_k(logits, y, 1)
  tf.reduce_mean(tf.cast(correct, tf.float32))
  return dict(inputs=[x], outputs=[logits], feed={},
              draw=lambda rng: {x: rng.standard_normal((BATCH, n_steps, n_inputs))})


def _attention(inputs, attention_size):
  """ilivans/tf-rnn-attention attention.py (the tensordot version), return_alphas=True."""
  if isinstance(inputs, tuple):
    inputs = tf.concat(inputs, 2)
  hidden_size = tf.compat.dimension_value(inputs.shape[2])
  w_omega = tf.Variable(tf.random_normal([hidden_size, attention_size], stddev=0.1))
  b_omega = tf.Variable(tf.random_normal([attention_size], stddev=0.1))
  u_omega = tf.Variable(tf.random_normal([attention_size], stddev=0.1))
  with tf.name_scope("v"):
    v = tf.tanh(tf.tensordot(inputs, w_omega, axes=1) + b_omega)
  vu = tf.tensordot(v, u_omega, axes=1, name="vu")
  alphas = tf.nn.softmax(vu, name="alphas")
  output = tf.reduce_sum(inputs * tf.expand_dims(alphas, -1), 1)
  return output, alphas


@_program("ilivans/tf-rnn-attention train.py and attention.py: Inputs/batch_ph, target_ph, "
          "seq_len_ph, keep_prob_ph; Embedding_layer tf.Variable; bidirectional_dynamic_rnn("
          "GRUCell, GRUCell, sequence_length=seq_len_ph); Attention_layer (w_omega, b_omega, "
          "u_omega tf.Variables; tensordot, tanh, softmax over time named alphas, weighted "
          "reduce_sum); dropout; Fully_connected_layer xw_plus_b squeezed; sigmoid loss; "
          "AdamOptimizer(1e-3).minimize in Metrics",
          expect="refuse_or_convert", refuse_mentions=["Attention_layer"])
def attention_pooled():
  """ilivans/tf-rnn-attention: a bidirectional GRU pooled by additive attention over time.
  Every weight outside the GRUs is a bare tf.Variable (Variable, Variable_1, ...)."""
  sequence_length, vocabulary_size, embedding_dim, hidden_size, attention_size = 6, 30, 6, 5, 4
  with tf.name_scope("Inputs"):
    batch_ph = tf.placeholder(tf.int32, [None, sequence_length], name="batch_ph")
    target_ph = tf.placeholder(tf.float32, [None], name="target_ph")
    seq_len_ph = tf.placeholder(tf.int32, [None], name="seq_len_ph")
    keep_prob_ph = tf.placeholder(tf.float32, name="keep_prob_ph")
  with tf.name_scope("Embedding_layer"):
    embeddings_var = tf.Variable(tf.random_uniform([vocabulary_size, embedding_dim], -1.0, 1.0),
                                 trainable=True)
    tf.summary.histogram("embeddings_var", embeddings_var)
    batch_embedded = tf.nn.embedding_lookup(embeddings_var, batch_ph)
  rnn_outputs, _ = tf.nn.bidirectional_dynamic_rnn(
      R.GRUCell(hidden_size), R.GRUCell(hidden_size), inputs=batch_embedded,
      sequence_length=seq_len_ph, dtype=tf.float32)
  with tf.name_scope("Attention_layer"):
    attention_output, alphas = _attention(rnn_outputs, attention_size)
    tf.summary.histogram("alphas", alphas)
  drop = tf.nn.dropout(attention_output, keep_prob_ph)
  with tf.name_scope("Fully_connected_layer"):
    w = tf.Variable(tf.truncated_normal([hidden_size * 2, 1], stddev=0.1))
    b = tf.Variable(tf.constant(0., shape=[1]))
    y_hat = tf.squeeze(tf.nn.xw_plus_b(drop, w, b))
  with tf.name_scope("Metrics"):
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=y_hat, labels=target_ph))
    tf.summary.scalar("loss", loss)
    tf.train.AdamOptimizer(learning_rate=1e-3).minimize(loss)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.round(tf.sigmoid(y_hat)), target_ph),
                                      tf.float32))
    tf.summary.scalar("accuracy", accuracy)

  def draw(rng):
    lengths = _lengths(rng, BATCH, sequence_length)
    return {batch_ph: _padded_ids(rng, lengths, sequence_length, 1, vocabulary_size),
            seq_len_ph: lengths}
  return dict(inputs=[batch_ph, seq_len_ph], outputs=[y_hat, alphas],
              feed={keep_prob_ph: 1.0}, draw=draw)


def _nmt_training(train_loss, learning_rate=0.001, warmup_steps=10, max_gradient_norm=5.0):
  """BaseModel's training part: global_step, the t2t warm-up and the decay tf.conds, Adam,
  gradients clipped by global norm (model_helper.gradient_clip, with its summaries)."""
  global_step = tf.Variable(0, trainable=False)
  params = tf.trainable_variables()
  learning_rate = tf.constant(learning_rate)
  warmup_factor = tf.exp(tf.log(0.01) / warmup_steps)
  inv_decay = warmup_factor ** (tf.to_float(warmup_steps - global_step))
  learning_rate = tf.cond(global_step < warmup_steps, lambda: inv_decay * learning_rate,
                          lambda: learning_rate, name="learning_rate_warump_cond")
  learning_rate = tf.cond(
      global_step < 100, lambda: learning_rate,
      lambda: tf.train.exponential_decay(learning_rate, global_step - 100, 20, 0.5,
                                         staircase=True),
      name="learning_rate_decay_cond")
  opt = tf.train.AdamOptimizer(learning_rate)
  gradients = tf.gradients(train_loss, params, colocate_gradients_with_ops=True)
  clipped_grads, gradient_norm = tf.clip_by_global_norm(gradients, max_gradient_norm)
  tf.summary.scalar("grad_norm", gradient_norm)
  tf.summary.scalar("clipped_gradient", tf.global_norm(clipped_grads))
  opt.apply_gradients(zip(clipped_grads, params), global_step=global_step)
  tf.summary.scalar("lr", learning_rate)
  tf.summary.scalar("train_loss", train_loss)


@_program("tensorflow/nmt nmt/model.py (build_graph's output_layer = tf.layers.Dense("
          "tgt_vocab_size, use_bias=False, name=\"output_projection\") made under "
          "build_network/decoder/output_projection, language_model=True: no encoder and "
          "zero_state as the decoder's initial state, time_major=False, the train-mode "
          "TrainingHelper decoding = dynamic_rnn over the embedded target_input in scope "
          "dynamic_seq2seq/decoder, logits = output_layer(rnn_output) on all steps at once, "
          "_compute_loss with sequence_mask weights, Adam with warm-up/decay conds, "
          "gradient_clip, global_step) and nmt/model_helper.py (unit_type gru, 2 layers, 1 "
          "residual, dropout 0 so no DropoutWrapper, DeviceWrapper)")
def nmt_projection():
  """tensorflow/nmt as a language model (hparams.language_model, time_major=False): a residual
  GRU decoder whose 3-D outputs go through a bias-free Dense, which builds Tensordot ops. Its
  kernel is named dynamic_seq2seq/decoder/output_projection/kernel: tf.layers take their
  variable scope where they are first called, not where they are made."""
  num_units, tgt_vocab_size, max_time = 8, 35, 6
  target_input = tf.placeholder(tf.int32, [None, None], name="target_input")
  target_output = tf.placeholder(tf.int32, [None, None], name="target_output")
  target_sequence_length = tf.placeholder(tf.int32, [None], name="target_sequence_length")
  embedding_decoder = _nmt_embedding("embedding_decoder", tgt_vocab_size, num_units)
  with tf.variable_scope("build_network"):
    with tf.variable_scope("decoder/output_projection"):
      output_layer = tf.layers.Dense(tgt_vocab_size, use_bias=False, name="output_projection")
  with tf.variable_scope("dynamic_seq2seq", dtype=tf.float32):
    with tf.variable_scope("decoder") as decoder_scope:
      cell = _nmt_cell_list("gru", num_units, 2, 1, 1.0, 0.0)
      batch_size = tf.size(target_sequence_length)
      decoder_initial_state = cell.zero_state(batch_size, tf.float32)
      decoder_emb_inp = tf.nn.embedding_lookup(embedding_decoder, target_input)
      rnn_output, _ = tf.nn.dynamic_rnn(
          cell, decoder_emb_inp, sequence_length=target_sequence_length,
          initial_state=decoder_initial_state, time_major=False, swap_memory=True,
          scope=decoder_scope)
      logits = output_layer(rnn_output)
    crossent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target_output,
                                                              logits=logits)
    target_weights = tf.sequence_mask(target_sequence_length, tf.shape(target_output)[1],
                                      dtype=tf.float32)
    train_loss = tf.reduce_sum(crossent * target_weights) / tf.to_float(batch_size)
  _nmt_training(train_loss)

  def draw(rng):
    lengths = _lengths(rng, BATCH, max_time)
    return {target_input: _padded_ids(rng, lengths, max_time, 3, tgt_vocab_size, pad=2),
            target_sequence_length: lengths}
  return dict(inputs=[target_input, target_sequence_length], outputs=[logits], feed={},
              draw=draw)


def _nmt_seq2seq(dropout):
  """tensorflow/nmt's Model as build_graph makes it for one mode: TRAIN builds every cell with
  DropoutWrapper(input_keep_prob=1 - dropout), dropout a Python float (hparams.dropout: a
  constant in the graph); EVAL and INFER pass dropout 0.0, so no wrapper. Encoder: uni, 2
  layers, the top one residual, time_major; decoder: the encoder's state as its initial state,
  TrainingHelper decoding over the embedded target_input (dynamic_rnn here), output_projection
  on its outputs, the masked loss and BaseModel's training part."""
  num_units, src_vocab, tgt_vocab, max_time = 8, 30, 25, 6
  source = tf.placeholder(tf.int32, [None, None], name="source")
  source_sequence_length = tf.placeholder(tf.int32, [None], name="source_sequence_length")
  target_input = tf.placeholder(tf.int32, [None, None], name="target_input")
  target_output = tf.placeholder(tf.int32, [None, None], name="target_output")
  target_sequence_length = tf.placeholder(tf.int32, [None], name="target_sequence_length")
  embedding_encoder, embedding_decoder, output_layer = _nmt_parts(src_vocab, tgt_vocab,
                                                                  num_units)
  with tf.variable_scope("dynamic_seq2seq", dtype=tf.float32):
    with tf.variable_scope("encoder") as scope:
      encoder_emb_inp = tf.nn.embedding_lookup(embedding_encoder, tf.transpose(source))
      cell = _nmt_cell_list("lstm", num_units, 2, 1, 1.0, dropout)
      encoder_outputs, encoder_state = tf.nn.dynamic_rnn(
          cell, encoder_emb_inp, dtype=scope.dtype, sequence_length=source_sequence_length,
          time_major=True, swap_memory=True)
    with tf.variable_scope("decoder") as decoder_scope:
      cell = _nmt_cell_list("lstm", num_units, 2, 1, 1.0, dropout)
      decoder_emb_inp = tf.nn.embedding_lookup(embedding_decoder, tf.transpose(target_input))
      outputs, _ = tf.nn.dynamic_rnn(cell, decoder_emb_inp, initial_state=encoder_state,
                                     sequence_length=target_sequence_length, time_major=True,
                                     swap_memory=True, scope=decoder_scope)
      logits = output_layer(outputs)
    crossent = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.transpose(target_output), logits=logits)
    weights = tf.transpose(tf.sequence_mask(target_sequence_length, tf.shape(target_output)[1],
                                            dtype=tf.float32))
    train_loss = tf.reduce_sum(crossent * weights) / tf.to_float(tf.size(source_sequence_length))
  _nmt_training(train_loss)

  def draw(rng):
    lengths, targets = _lengths(rng, BATCH, max_time), _lengths(rng, BATCH, max_time)
    return {source: _padded_ids(rng, lengths, max_time, 3, src_vocab, pad=2),
            source_sequence_length: lengths,
            target_input: _padded_ids(rng, targets, max_time, 3, tgt_vocab, pad=2),
            target_sequence_length: targets}
  return dict(inputs=[source, source_sequence_length, target_input, target_sequence_length],
              outputs=[encoder_outputs, logits], feed={}, draw=draw)


@_program("tensorflow/nmt nmt/model.py and model_helper.py in TRAIN mode, as its training "
          "checkpoints are saved (nmt's train.py saves from the train model's graph): "
          "hparams.dropout 0.2 built in as DropoutWrapper(input_keep_prob=0.8) constants on "
          "every encoder and decoder cell; the EVAL graph (dropout 0) restores the same "
          "checkpoint (EVAL_BUILDS)", expect="convert")
def nmt_training():
  """nmt's seq2seq model as its TRAIN graph: the only graph the user has with the checkpoint,
  its dropouts random until bypassed."""
  return _nmt_seq2seq(0.2)


# Programs whose inference graph differs from the one saved (a training graph): that graph,
# built apart, restores the same checkpoint (`--eval` runs it).
EVAL_BUILDS = {"nmt_training": lambda: _nmt_seq2seq(0.0),
               "char_rnn_dropout": lambda: _char_rnn(training=False)}


def _stack_bidirectional_dynamic_rnn(cells_fw, cells_bw, inputs, sequence_length):
  """contrib.rnn.stack_bidirectional_dynamic_rnn (gone from TF 2): one bidirectional_dynamic_rnn
  per layer in stack_bidirectional_rnn/cell_K, each layer's concatenated outputs feeding the
  next."""
  states_fw, states_bw = [], []
  prev_layer = inputs
  with tf.variable_scope("stack_bidirectional_rnn"):
    for i, (cell_fw, cell_bw) in enumerate(zip(cells_fw, cells_bw)):
      with tf.variable_scope("cell_%d" % i):
        outputs, (state_fw, state_bw) = tf.nn.bidirectional_dynamic_rnn(
            cell_fw, cell_bw, prev_layer, sequence_length=sequence_length, dtype=tf.float32)
        prev_layer = tf.concat(outputs, 2)
      states_fw.append(state_fw)
      states_bw.append(state_bw)
  return prev_layer, tuple(states_fw), tuple(states_bw)


@_program("dave-chatmost/TF-punctuator src/model/blstm.py: BLSTMPunctuator (LSTMCell("
          "hidden_size, use_peepholes=True, num_proj=num_proj, forget_bias=0.0), embedding on "
          "/cpu:0, contrib.rnn.stack_bidirectional_dynamic_rnn in scope BRNN with "
          "sequence_length=seq_len, outputs reshaped to [-1, num_proj * 2], softmax_w/"
          "softmax_b, softmax, the matrix_band_part mask gathered at seq_len - 1, masked loss, "
          "Adam on a lr variable with clip_by_global_norm and get_or_create_global_step); the "
          "logits reshaped back to [-1, nsteps, classes] before the softmax as "
          "guillaumegenthial/sequence_tagging model/ner_model.py's proj scope does")
def punctuator_bi_perstep():
  """TF-punctuator's bidirectional punctuation model: two stacked bidirectional layers of
  peephole-and-projection LSTMCells, a per-step softmax applied by flattening the time axis
  into the batch and back (nsteps taken from tf.shape, as ner_model.py does)."""
  return _punctuator(num_layers=2)


CHAOTIC_STD = 2.0


def _punctuator(num_layers):
  vocab_size, embedding_size, hidden_size, num_proj, punc_size = 45, 6, 7, 4, 5
  max_time, max_grad_norm = 7, 5
  input_batch = tf.placeholder(tf.int32, [None, None], name="input_batch")
  label_batch = tf.placeholder(tf.int32, [None, None], name="label_batch")
  seq_len = tf.placeholder(tf.int32, [None], name="seq_len")

  def lstm_cell():
    return R.LSTMCell(hidden_size, use_peepholes=True, num_proj=num_proj, forget_bias=0.0,
                      state_is_tuple=True, reuse=tf.get_variable_scope().reuse)
  cells_fw = [lstm_cell() for _ in range(num_layers)]
  cells_bw = [lstm_cell() for _ in range(num_layers)]
  with tf.device("/cpu:0"):
    embedding = tf.get_variable("embedding", [vocab_size, embedding_size], dtype=tf.float32)
    inputs = tf.nn.embedding_lookup(embedding, input_batch)
  with tf.variable_scope("BRNN"):
    outputs, _, _ = _stack_bidirectional_dynamic_rnn(cells_fw, cells_bw, inputs, seq_len)
  nsteps = tf.shape(outputs)[1]
  output = tf.reshape(outputs, [-1, num_proj * 2])
  softmax_w = tf.get_variable("softmax_w", [num_proj * 2, punc_size], dtype=tf.float32)
  softmax_b = tf.get_variable("softmax_b", [punc_size], dtype=tf.float32)
  logits = tf.matmul(output, softmax_w) + softmax_b
  logits = tf.reshape(logits, [-1, nsteps, punc_size])
  predicts = tf.nn.softmax(logits)
  maxlen = tf.cast(tf.reduce_max(seq_len), tf.int32)
  low_triangular_ones = tf.matrix_band_part(tf.ones([maxlen, maxlen], dtype=tf.float32), -1, 0)
  mask_flat = tf.reshape(tf.gather(low_triangular_ones, seq_len - 1), [-1])
  loss = tf.nn.sparse_softmax_cross_entropy_with_logits(
      logits=tf.reshape(logits, [-1, punc_size]), labels=tf.reshape(label_batch, [-1]))
  cost = tf.reduce_sum(mask_flat * loss) / tf.reduce_sum(mask_flat)
  lr = tf.Variable(0.0, trainable=False)
  tvars = tf.trainable_variables()
  grads, _ = tf.clip_by_global_norm(tf.gradients(cost, tvars), max_grad_norm)
  optimizer = tf.train.AdamOptimizer(lr)
  optimizer.apply_gradients(zip(grads, tvars), global_step=tf.train.get_or_create_global_step())
  new_lr = tf.placeholder(tf.float32, shape=[], name="new_learning_rate")
  tf.assign(lr, new_lr)

  def draw(rng):
    lengths = _lengths(rng, BATCH, max_time)
    return {input_batch: _padded_ids(rng, lengths, max_time, 1, vocab_size), seq_len: lengths}
  return dict(inputs=[input_batch, seq_len], outputs=[predicts], feed={}, draw=draw)


@_program("dave-chatmost/TF-punctuator src/model/blstm.py as punctuator_bi_perstep, with three "
          "stacked bidirectional layers (num_layers=3) and its cells' weights drawn with std "
          "CHAOTIC_STD: long sequences through it are chaotic, a 1-ulp change of what the "
          "embedding returns moves the softmax by more than 1e-5",
          stddev=lambda name: CHAOTIC_STD if "lstm_cell" in name else 0.3)
def punctuator_chaotic():
  """A graph whose own outputs a 1-ulp input change moves by more than the bound at the
  default 28 steps: verify proves it on shorter sequences only (exit 3), and must still catch
  a gate bias off by 0.01 there."""
  return _punctuator(num_layers=3)


@_program("MorvanZhou/Tensorflow-Tutorial tutorial-contents/403_RNN_regression.py: float "
          "[None, TIME_STEP, INPUT_SIZE] input, dynamic_rnn, outputs reshaped to [-1, "
          "CELL_SIZE], tf.layers.dense, reshaped back to [-1, TIME_STEP, INPUT_SIZE], "
          "tf.losses.mean_squared_error, AdamOptimizer(LR).minimize; BasicLSTMCell instead "
          "of its BasicRNNCell, and the cell's weights drawn with std 20 so its gates saturate",
          stddev=lambda name: 20.0 if "basic_lstm_cell" in name else 0.3)
def saturated():
  """MorvanZhou's sin -> cos regression with an LSTM whose kernel and bias have std 20: every
  gate sits at 0 or 1 and tanh at +-1, where float rounding and tiny input changes move the
  outputs most. A conversion must still match."""
  time_step, input_size, cell_size = 7, 1, 6
  tf_x = tf.placeholder(tf.float32, [None, time_step, input_size])
  tf_y = tf.placeholder(tf.float32, [None, time_step, input_size])
  rnn_cell = R.BasicLSTMCell(num_units=cell_size)
  outputs, _ = tf.nn.dynamic_rnn(rnn_cell, tf_x, dtype=tf.float32, time_major=False)
  outs2d = tf.reshape(outputs, [-1, cell_size])
  net_outs2d = tf.layers.dense(outs2d, input_size)
  outs = tf.reshape(net_outs2d, [-1, time_step, input_size])
  loss = tf.losses.mean_squared_error(labels=tf_y, predictions=outs)
  tf.train.AdamOptimizer(0.02).minimize(loss)
  return dict(inputs=[tf_x], outputs=[outs, outputs], feed={},
              draw=lambda rng: {tf_x: rng.standard_normal((BATCH, time_step, input_size))})


@_program("MorvanZhou/Tensorflow-Tutorial tutorial-contents/403_RNN_regression.py as written: "
          "BasicRNNCell(num_units=CELL_SIZE), its zero_state as the initial state (sized here "
          "from the input's batch: the original's batch of 1 is fed its last final state), "
          "dynamic_rnn, the [-1, CELL_SIZE] reshape, tf.layers.dense, reshaped back, "
          "mean_squared_error, Adam")
def rnn_regression():
  """MorvanZhou's sin -> cos regression on the plain tanh RNN cell it uses."""
  time_step, input_size, cell_size = 7, 1, 6
  tf_x = tf.placeholder(tf.float32, [None, time_step, input_size])
  tf_y = tf.placeholder(tf.float32, [None, time_step, input_size])
  rnn_cell = R.BasicRNNCell(num_units=cell_size)
  init_s = rnn_cell.zero_state(batch_size=tf.shape(tf_x)[0], dtype=tf.float32)
  outputs, final_s = tf.nn.dynamic_rnn(rnn_cell, tf_x, initial_state=init_s, time_major=False)
  outs2d = tf.reshape(outputs, [-1, cell_size])
  net_outs2d = tf.layers.dense(outs2d, input_size)
  outs = tf.reshape(net_outs2d, [-1, time_step, input_size])
  loss = tf.losses.mean_squared_error(labels=tf_y, predictions=outs)
  tf.train.AdamOptimizer(0.02).minimize(loss)
  return dict(inputs=[tf_x], outputs=[outs, final_s], feed={},
              draw=lambda rng: {tf_x: rng.standard_normal((BATCH, time_step, input_size))})


@_program("tensorflow/nmt nmt/model.py: the INFER graph with infer_mode greedy (encoder_type "
          "uni, time_major=True, pass_hidden_state, GreedyEmbeddingHelper(embedding_decoder, "
          "start_tokens = fill(batch, sos), eos) in a BasicDecoder with output_layer, "
          "dynamic_decode(maximum_iterations = round(max source length * 2), "
          "output_time_major=True, swap_memory=True, scope=decoder_scope)); contrib.seq2seq "
          "is gone, so the decoding loop is the tf.while_loop dynamic_decode builds: the cell "
          "and output_projection stepped inside, ArgMax cast to int32 fed back through "
          "embedding_lookup",
          expect="refuse", refuse_mentions=["ArgMax"])
def decoder_with_helper():
  """tensorflow/nmt's greedy inference graph: the decoder's next input is the embedding of its
  own previous ArgMax, inside a tf.while_loop that stops on EOS. No Keras RNN layer computes
  that from the given inputs, so `migrate` must refuse it."""
  num_units, src_vocab_size, tgt_vocab_size, sos, eos, max_time = 8, 30, 25, 1, 2, 6
  source = tf.placeholder(tf.int32, [None, None], name="source")
  source_sequence_length = tf.placeholder(tf.int32, [None], name="source_sequence_length")
  embedding_encoder, embedding_decoder, output_layer = _nmt_parts(src_vocab_size,
                                                                  tgt_vocab_size, num_units)
  with tf.variable_scope("dynamic_seq2seq", dtype=tf.float32):
    with tf.variable_scope("encoder") as scope:
      encoder_emb_inp = tf.nn.embedding_lookup(embedding_encoder, tf.transpose(source))
      _, encoder_state = tf.nn.dynamic_rnn(
          _nmt_cell_list("lstm", num_units, 1, 0, 1.0, 0.0), encoder_emb_inp, dtype=scope.dtype,
          sequence_length=source_sequence_length, time_major=True, swap_memory=True)
    with tf.variable_scope("decoder") as decoder_scope:
      cell = _nmt_cell_list("lstm", num_units, 1, 0, 1.0, 0.0)
      batch_size = tf.size(source_sequence_length)
      maximum_iterations = tf.to_int32(tf.round(
          tf.to_float(tf.reduce_max(source_sequence_length)) * 2.0))
      start_tokens = tf.fill([batch_size], sos)
      with tf.variable_scope(decoder_scope, "decoder"):
        def condition(unused_time, unused_inputs, unused_state, finished, *unused_arrays):
          return tf.logical_not(tf.reduce_all(finished))

        def body(time, inputs, state, finished, logits_ta, ids_ta):
          with tf.name_scope("BasicDecoderStep"):
            cell_outputs, cell_state = cell(inputs, state)
            cell_outputs = output_layer(cell_outputs)
            sample_ids = tf.cast(tf.argmax(cell_outputs, axis=-1), tf.int32)
            next_finished = tf.logical_or(finished, tf.equal(sample_ids, eos))
            next_inputs = tf.nn.embedding_lookup(embedding_decoder, sample_ids)
          return (time + 1, next_inputs, cell_state, next_finished,
                  logits_ta.write(time, cell_outputs), ids_ta.write(time, sample_ids))

        loop_vars = (tf.constant(0, tf.int32), tf.nn.embedding_lookup(embedding_decoder,
                                                                      start_tokens),
                     encoder_state, tf.tile([False], [batch_size]),
                     tf.TensorArray(tf.float32, size=0, dynamic_size=True),
                     tf.TensorArray(tf.int32, size=0, dynamic_size=True))
        results = tf.while_loop(condition, body, loop_vars, maximum_iterations=maximum_iterations,
                                swap_memory=True)
        logits = results[4].stack()
        sample_id = results[5].stack()

  def draw(rng):
    lengths = _lengths(rng, BATCH, max_time)
    return {source: _padded_ids(rng, lengths, max_time, 3, src_vocab_size, pad=eos),
            source_sequence_length: lengths}
  return dict(inputs=[source, source_sequence_length], outputs=[logits, sample_id], feed={},
              draw=draw)


@_program("ematvey/tensorflow-seq2seq-tutorials 2-seq2seq-advanced.ipynb: time-major "
          "encoder_inputs [max_time, batch] placeholders, one tf.Variable embeddings, a single "
          "LSTMCell object passed as both cell_fw and cell_bw of bidirectional_dynamic_rnn("
          "time_major=True), fw/bw final states concatenated into the decoder's LSTMStateTuple, "
          "tf.nn.raw_rnn with loop_fn_initial/loop_fn_transition (decoder_lengths = "
          "encoder_inputs_length + 3, EOS/PAD slices, tf.cond on all finished, ArgMax of the "
          "previous output through W, b fed back through embedding_lookup), logits flattened, "
          "projected and reshaped, argmax predictions, Adam minimize",
          expect="refuse", refuse_mentions=["ArgMax"])
def raw_rnn_decoder():
  """ematvey's seq2seq with a raw_rnn decoder that feeds back its own predictions. The encoder
  passes one LSTMCell object as both directions, so the backward pass reuses the forward
  weights and the checkpoint holds no bidirectional_rnn/bw variables."""
  pad, eos_id, vocab_size, input_embedding_size = 0, 1, 12, 6
  encoder_hidden_units, max_time = 5, 6
  decoder_hidden_units = encoder_hidden_units * 2
  encoder_inputs = tf.placeholder(shape=(None, None), dtype=tf.int32, name="encoder_inputs")
  encoder_inputs_length = tf.placeholder(shape=(None,), dtype=tf.int32,
                                         name="encoder_inputs_length")
  decoder_targets = tf.placeholder(shape=(None, None), dtype=tf.int32, name="decoder_targets")
  embeddings = tf.Variable(tf.random_uniform([vocab_size, input_embedding_size], -1.0, 1.0),
                           dtype=tf.float32)
  encoder_inputs_embedded = tf.nn.embedding_lookup(embeddings, encoder_inputs)
  encoder_cell = R.LSTMCell(encoder_hidden_units)
  (_, _), (encoder_fw_final_state, encoder_bw_final_state) = tf.nn.bidirectional_dynamic_rnn(
      cell_fw=encoder_cell, cell_bw=encoder_cell, inputs=encoder_inputs_embedded,
      sequence_length=encoder_inputs_length, dtype=tf.float32, time_major=True)
  encoder_final_state = R.LSTMStateTuple(
      c=tf.concat((encoder_fw_final_state.c, encoder_bw_final_state.c), 1),
      h=tf.concat((encoder_fw_final_state.h, encoder_bw_final_state.h), 1))
  decoder_cell = R.LSTMCell(decoder_hidden_units)
  _, batch_size = tf.unstack(tf.shape(encoder_inputs))
  decoder_lengths = encoder_inputs_length + 3
  w = tf.Variable(tf.random_uniform([decoder_hidden_units, vocab_size], -1, 1), dtype=tf.float32)
  b = tf.Variable(tf.zeros([vocab_size]), dtype=tf.float32)
  eos_step_embedded = tf.nn.embedding_lookup(embeddings, tf.ones([batch_size], tf.int32,
                                                                 name="EOS"))
  pad_step_embedded = tf.nn.embedding_lookup(embeddings, tf.zeros([batch_size], tf.int32,
                                                                  name="PAD"))

  def loop_fn(time, previous_output, previous_state, previous_loop_state):
    if previous_state is None:  # time == 0
      return (0 >= decoder_lengths, eos_step_embedded, encoder_final_state, None, None)

    def get_next_input():
      output_logits = tf.add(tf.matmul(previous_output, w), b)
      prediction = tf.argmax(output_logits, axis=1)
      return tf.nn.embedding_lookup(embeddings, prediction)
    elements_finished = time >= decoder_lengths
    finished = tf.reduce_all(elements_finished)
    next_input = tf.cond(finished, lambda: pad_step_embedded, get_next_input)
    return elements_finished, next_input, previous_state, previous_output, None

  decoder_outputs_ta, _, _ = tf.nn.raw_rnn(decoder_cell, loop_fn)
  decoder_outputs = decoder_outputs_ta.stack()
  decoder_max_steps, decoder_batch_size, decoder_dim = tf.unstack(tf.shape(decoder_outputs))
  decoder_outputs_flat = tf.reshape(decoder_outputs, (-1, decoder_dim))
  decoder_logits_flat = tf.add(tf.matmul(decoder_outputs_flat, w), b)
  decoder_logits = tf.reshape(decoder_logits_flat,
                              (decoder_max_steps, decoder_batch_size, vocab_size))
  decoder_prediction = tf.argmax(decoder_logits, 2)
  stepwise_cross_entropy = tf.nn.softmax_cross_entropy_with_logits_v2(
      labels=tf.one_hot(decoder_targets, depth=vocab_size, dtype=tf.float32),
      logits=decoder_logits)
  tf.train.AdamOptimizer().minimize(tf.reduce_mean(stepwise_cross_entropy))

  def draw(rng):  # helpers.batch: time-major, PAD after each sequence, ids in [2, vocab)
    lengths = _lengths(rng, BATCH, max_time)
    return {encoder_inputs: _padded_ids(rng, lengths, max_time, 2, vocab_size, pad).T.copy(),
            encoder_inputs_length: lengths}
  return dict(inputs=[encoder_inputs, encoder_inputs_length],
              outputs=[decoder_logits, decoder_prediction], feed={}, draw=draw)


@_program("aymericdamien/TensorFlow-Examples examples/3_NeuralNetworks/dynamic_rnn.py: x "
          "[None, seq_max_len, 1] and seqlen placeholders, weights/biases dicts of "
          "tf.Variable(tf.random_normal), tf.unstack(x, seq_max_len, 1), static_rnn("
          "BasicLSTMCell, sequence_length=seqlen), tf.stack + transpose, the gather at "
          "range(batch) * seq_max_len + (seqlen - 1), matmul + bias, softmax cross entropy, "
          "GradientDescentOptimizer.minimize")
def toy_seqlen_static():
  """aymericdamien's "dynamic" RNN, which is a static_rnn given sequence_length: past each
  length the outputs are zeros and the state is carried, and the head gathers each sequence's
  last valid output from the flattened [batch * time, units] outputs."""
  seq_max_len, n_hidden, n_classes = 7, 8, 2
  x = tf.placeholder("float", [None, seq_max_len, 1])
  y = tf.placeholder("float", [None, n_classes])
  seqlen = tf.placeholder(tf.int32, [None])
  weights = {"out": tf.Variable(tf.random_normal([n_hidden, n_classes]))}
  biases = {"out": tf.Variable(tf.random_normal([n_classes]))}
  inputs = tf.unstack(x, seq_max_len, 1)
  lstm_cell = R.BasicLSTMCell(n_hidden)
  outputs, _ = tf.nn.static_rnn(lstm_cell, inputs, dtype=tf.float32, sequence_length=seqlen)
  outputs = tf.transpose(tf.stack(outputs), [1, 0, 2])
  batch_size = tf.shape(outputs)[0]
  index = tf.range(0, batch_size) * seq_max_len + (seqlen - 1)
  outputs = tf.gather(tf.reshape(outputs, [-1, n_hidden]), index)
  pred = tf.matmul(outputs, weights["out"]) + biases["out"]
  cost = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(logits=pred, labels=y))
  tf.train.GradientDescentOptimizer(learning_rate=0.01).minimize(cost)

  def draw(rng):
    lengths = _lengths(rng, BATCH, seq_max_len)
    values = rng.standard_normal((BATCH, seq_max_len, 1)).astype(np.float32)
    values[np.arange(seq_max_len)[None, :] >= lengths[:, None]] = 0.0  # ToySequenceData pads
    return {x: values, seqlen: lengths}
  return dict(inputs=[x, seqlen], outputs=[pred], feed={}, draw=draw)


@_program("aymericdamien/TensorFlow-Examples examples/3_NeuralNetworks/bidirectional_rnn.py "
          "(tf.unstack of [batch, timesteps, num_input], BasicLSTMCell fw and bw with "
          "forget_bias=1.0, rnn.static_bidirectional_rnn, weights['out'] of [2 * num_hidden, "
          "num_classes], the last output's logits, softmax prediction) given sequence_length "
          "as his dynamic_rnn.py gives static_rnn; a tagger's per-step outputs and the final "
          "states fetched too")
def static_bidirectional_seqlen():
  """A static bidirectional RNN over padded sequences: each direction's per-step conds, the
  backward one over tf.reverse_sequence'd steps; outputs are zero past each length, states
  are the states at each length."""
  timesteps, num_input, num_hidden, num_classes = 6, 3, 5, 4
  X = tf.placeholder("float", [None, timesteps, num_input])
  seqlen = tf.placeholder(tf.int32, [None], name="seqlen")
  weights = {"out": tf.Variable(tf.random_normal([2 * num_hidden, num_classes]))}
  biases = {"out": tf.Variable(tf.random_normal([num_classes]))}
  x = tf.unstack(X, timesteps, 1)
  lstm_fw_cell = R.BasicLSTMCell(num_hidden, forget_bias=1.0)
  lstm_bw_cell = R.BasicLSTMCell(num_hidden, forget_bias=1.0)
  outputs, state_fw, state_bw = tf.nn.static_bidirectional_rnn(
      lstm_fw_cell, lstm_bw_cell, x, dtype=tf.float32, sequence_length=seqlen)
  logits = tf.matmul(outputs[-1], weights["out"]) + biases["out"]
  prediction = tf.nn.softmax(logits, name="prediction")
  per_step = tf.stack(outputs, axis=1, name="per_step")
  loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
      logits=logits, labels=tf.one_hot(tf.zeros_like(seqlen), num_classes)))
  tf.train.AdamOptimizer(learning_rate=0.001).minimize(loss_op)

  def draw(rng):
    lengths = _lengths(rng, BATCH, timesteps)
    return {X: rng.standard_normal((BATCH, timesteps, num_input)), seqlen: lengths}
  return dict(inputs=[X, seqlen], outputs=[prediction, per_step, state_fw.c, state_fw.h,
                                          state_bw.c, state_bw.h], feed={}, draw=draw)


@_program("roomylee/rnn-text-classification-tf rnn.py and train.py: input_text/input_y/"
          "dropout_keep_prob placeholders, text_length = reduce_sum(sign(abs(input_text))), "
          "text-embedding/W_text tf.Variable on /cpu:0, DropoutWrapper(output_keep_prob) over "
          "the cell (cell_type gru) in name scope rnn, dynamic_rnn(sequence_length="
          "text_length), last_relevant gather, output W (get_variable) and output/b, "
          "output/logits by xw_plus_b, predictions, l2 loss, Adam minimize with global_step",
          expect="refuse_or_convert", refuse_mentions=["Sign"])
def text_length_from_ids():
  """roomylee's RNN text classifier: no lengths placeholder, the lengths are the count of
  non-zero ids, computed in the graph. A conversion needs Keras masking of id 0 to match (the
  same here, where zeros only pad the end)."""
  sequence_length, num_classes, vocab_size, embedding_size, hidden_size = 7, 2, 50, 6, 5
  input_text = tf.placeholder(tf.int32, shape=[None, sequence_length], name="input_text")
  input_y = tf.placeholder(tf.float32, shape=[None, num_classes], name="input_y")
  dropout_keep_prob = tf.placeholder(tf.float32, name="dropout_keep_prob")
  l2_loss = tf.constant(0.0)
  text_length = tf.cast(tf.reduce_sum(tf.sign(tf.abs(input_text)), reduction_indices=1),
                        tf.int32)
  with tf.device("/cpu:0"), tf.name_scope("text-embedding"):
    w_text = tf.Variable(tf.random_uniform([vocab_size, embedding_size], -1.0, 1.0),
                         name="W_text")
    embedded_chars = tf.nn.embedding_lookup(w_text, input_text)
  with tf.name_scope("rnn"):
    cell = R.DropoutWrapper(R.GRUCell(hidden_size), output_keep_prob=dropout_keep_prob)
    all_outputs, _ = tf.nn.dynamic_rnn(cell=cell, inputs=embedded_chars,
                                       sequence_length=text_length, dtype=tf.float32)
    batch_size = tf.shape(all_outputs)[0]
    max_length = int(all_outputs.get_shape()[1])
    input_size = int(all_outputs.get_shape()[2])
    index = tf.range(0, batch_size) * max_length + (text_length - 1)
    h_outputs = tf.gather(tf.reshape(all_outputs, [-1, input_size]), index)
  with tf.name_scope("output"):
    w = tf.get_variable("W", shape=[hidden_size, num_classes],
                        initializer=tf.glorot_uniform_initializer())
    b = tf.Variable(tf.constant(0.1, shape=[num_classes]), name="b")
    l2_loss += tf.nn.l2_loss(w) + tf.nn.l2_loss(b)
    logits = tf.nn.xw_plus_b(h_outputs, w, b, name="logits")
    predictions = tf.argmax(logits, 1, name="predictions")
  with tf.name_scope("loss"):
    losses = tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=input_y)
    loss = tf.reduce_mean(losses) + 3.0 * l2_loss
  with tf.name_scope("accuracy"):
    correct_predictions = tf.equal(predictions, tf.argmax(input_y, axis=1))
    tf.reduce_mean(tf.cast(correct_predictions, tf.float32), name="accuracy")
  global_step = tf.Variable(0, name="global_step", trainable=False)
  tf.train.AdamOptimizer(1e-3).minimize(loss, global_step=global_step)

  def draw(rng):  # VocabularyProcessor pads with id 0 after the words
    lengths = _lengths(rng, BATCH, sequence_length)
    return {input_text: _padded_ids(rng, lengths, sequence_length, 1, vocab_size)}
  return dict(inputs=[input_text], outputs=[logits], feed={dropout_keep_prob: 1.0}, draw=draw)


@_program("aymericdamien/TensorFlow-Examples examples/3_NeuralNetworks/recurrent_network.py "
          "(the MNIST tutorial this project ports): tf.unstack of [batch, timesteps, "
          "num_input] into static_rnn over a BasicLSTMCell(forget_bias=1.0), the last output "
          "times weights['out'] + biases['out'] (bare tf.Variables), softmax prediction")
def mnist_static_rnn():
  """The MNIST tutorial's own graph: `tf.nn.static_rnn` on `tf.unstack(x, timesteps, 1)`,
  head on outputs[-1] through bare tf.Variable weights, prediction = softmax."""
  timesteps, num_input, num_hidden, num_classes = 6, 5, 7, 10
  X = tf.placeholder("float", [None, timesteps, num_input])
  Y = tf.placeholder("float", [None, num_classes])
  weights = {"out": tf.Variable(tf.random_normal([num_hidden, num_classes]))}
  biases = {"out": tf.Variable(tf.random_normal([num_classes]))}
  x = tf.unstack(X, timesteps, 1)
  lstm_cell = R.BasicLSTMCell(num_hidden, forget_bias=1.0)
  outputs, _ = tf.nn.static_rnn(lstm_cell, x, dtype=tf.float32)
  logits = tf.matmul(outputs[-1], weights["out"]) + biases["out"]
  prediction = tf.nn.softmax(logits)
  loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=Y))
  tf.train.GradientDescentOptimizer(learning_rate=1.0).minimize(loss_op)
  return dict(inputs=[X], outputs=[prediction], feed={},
              draw=lambda rng: {X: rng.standard_normal((BATCH, timesteps, num_input))})


@_program("Press & Wolf's weight tying as language models written for TF1 do it (e.g. "
          "tensorflow/models research/lm_1b's softmax over the embedding, many PTB variants): "
          "the output projection is tf.matmul(h, embedding, transpose_b=True) + softmax_b, "
          "reusing the input embedding; a GRU under dynamic_rnn")
def tied_lm():
  """An LM whose softmax weights are its embedding (tied): logits on every step."""
  vocab, size, steps = 23, 6, 5
  ids = tf.placeholder(tf.int32, [None, steps], name="ids")
  with tf.variable_scope("lm"):
    embedding = tf.get_variable("embedding", [vocab, size])
    inputs = tf.nn.embedding_lookup(embedding, ids)
    outputs, _ = tf.nn.dynamic_rnn(R.GRUCell(size), inputs, dtype=tf.float32)
    softmax_b = tf.get_variable("softmax_b", [vocab])
    flat = tf.reshape(outputs, [-1, size])
    logits = tf.matmul(flat, embedding, transpose_b=True) + softmax_b
    probabilities = tf.reshape(tf.nn.softmax(logits), [-1, steps, vocab], name="probabilities")
  return dict(inputs=[ids], outputs=[probabilities], feed={},
              draw=lambda rng: {ids: rng.integers(0, vocab, (BATCH, steps))})


@_program("MaybeShewill-CV/CRNN_Tensorflow crnn_model/crnn_net.py and cnn_basenet.py: "
          "ShadowNet(phase='test') (phase a tf.string constant, is_training = tf.equal(phase, "
          "'train')), VGG conv stages conv2d W/b + tf.layers.batch_normalization(training="
          "is_training) + relu + max_pool (2x2, then [2, 1] VALID), conv7 kernel 2 stride [2, 1], "
          "map_to_sequence squeeze of axis 1, stack_bidirectional_dynamic_rnn of LSTMCell("
          "forget_bias=1.0) x 2 per direction, the sequence dropout under tf.cond(is_training) "
          "(the later crnn_net's form), rnn_reshaped [shape[0] * shape[1], shape[2]] @ w (no "
          "bias), logits_reshape, raw_prediction argmax of softmax, transpose_time_major, "
          "ctc_loss on a sparse label placeholder; sizes shrunk (32 x 100 images -> 8 x 12)")
def crnn_ocr():
  """CRNN for text recognition as its evaluation graph is built: conv + batch norm + pooling
  front end, a stacked BiLSTM, per-step logits. Batch norm and dropout sit under conds whose
  predicate comes from string constants: converted as the test branch."""
  height, width, hidden, layers, num_classes = 8, 12, 5, 2, 7
  inputdata = tf.placeholder(tf.float32, [None, height, width, 1], name="input")
  labels = tf.sparse_placeholder(tf.int32, name="labels")
  phase = tf.constant("test", dtype=tf.string)
  is_training = tf.equal(phase, tf.constant("train", dtype=tf.string))

  def conv2d(x, out_channel, kernel_size, stride=1, use_bias=True, name=None):
    with tf.variable_scope(name):
      in_channel = x.get_shape().as_list()[3]
      k = kernel_size if isinstance(kernel_size, list) else [kernel_size, kernel_size]
      s = stride if isinstance(stride, list) else [stride, stride]
      w = tf.get_variable("W", k + [in_channel, out_channel])
      conv = tf.nn.conv2d(x, w, [1, s[0], s[1], 1], "SAME")
      if use_bias:
        conv = tf.nn.bias_add(conv, tf.get_variable("b", [out_channel]))
      return tf.identity(conv, name=name)

  def layerbn(x, name):
    with tf.variable_scope(name):
      return tf.layers.batch_normalization(x, scale=True, training=is_training)

  def maxpool(x, k, s, padding="VALID"):
    return tf.nn.max_pool(x, [1, k[0], k[1], 1], [1, s[0], s[1], 1], padding)

  with tf.variable_scope("shadow_net"):
    with tf.variable_scope("feature_extraction_module"):
      with tf.variable_scope("conv1"):
        x = maxpool(tf.nn.relu(layerbn(conv2d(inputdata, 4, 3, name="conv"), "bn")), [2, 2],
                    [2, 2])
      x = tf.nn.relu(layerbn(conv2d(x, 6, 3, use_bias=False, name="conv3"), "bn3"))
      x = maxpool(x, [2, 1], [2, 1])
      x = tf.nn.relu(layerbn(conv2d(x, 2 * hidden, 2, stride=[2, 1], use_bias=False,
                                    name="conv7"), "bn7"))
    with tf.variable_scope("map_to_sequence_module"):
      sequence = tf.squeeze(x, axis=1, name="squeeze")
    with tf.variable_scope("sequence_rnn_module"):
      fw = [R.LSTMCell(hidden, forget_bias=1.0) for _ in range(layers)]
      bw = [R.LSTMCell(hidden, forget_bias=1.0) for _ in range(layers)]
      stack_lstm_layer, _, _ = _stack_bidirectional_dynamic_rnn(fw, bw, sequence, None)
      stack_lstm_layer = tf.cond(is_training,
                                 lambda: tf.nn.dropout(stack_lstm_layer, keep_prob=0.5),
                                 lambda: stack_lstm_layer)
      [_, _, hidden_nums] = sequence.get_shape().as_list()  # [batch, width, 2 * n_hidden]
      shape = tf.shape(stack_lstm_layer)
      rnn_reshaped = tf.reshape(stack_lstm_layer, [shape[0] * shape[1], shape[2]])
      w = tf.get_variable("w", [hidden_nums, num_classes],
                          initializer=tf.truncated_normal_initializer(stddev=0.02))
      logits = tf.matmul(rnn_reshaped, w, name="logits")
      logits = tf.reshape(logits, [shape[0], shape[1], num_classes], name="logits_reshape")
      tf.argmax(tf.nn.softmax(logits), axis=2, name="raw_prediction")
      rnn_out = tf.transpose(logits, [1, 0, 2], name="transpose_time_major")
  steps = width // 2
  tf.reduce_mean(tf.nn.ctc_loss(labels=labels, inputs=rnn_out,
                                sequence_length=steps * np.ones(BATCH)), name="ctc_loss")
  return dict(inputs=[inputdata], outputs=[rnn_out], feed={},
              draw=lambda rng: {inputdata: rng.standard_normal((BATCH, height, width, 1))})


@_program("Mozilla DeepSpeech 0.x DeepSpeech.py create_model (the feature windows made by "
          "tf.nn.conv2d with an identity filter over n_context frames, dense layers h1..h3 "
          "as variable_on_cpu b/h with tf.minimum(tf.nn.relu(...), relu_clip), dropout by "
          "placeholder rates) with a conv1d front end as tensorflow/models research/audioset "
          "and speech-command models write it (tf.layers.conv1d), "
          "tf.layers.batch_normalization(training=is_training) on 3-D features (not fused: "
          "moments, under a cond), is_training a placeholder_with_default(False), a GRU "
          "under dynamic_rnn with seq_length, and the layer_6 logits time-major; the "
          "recurrent layer is a GRUCell here (DeepSpeech's LSTMBlockFusedCell is its own "
          "construct)")
def speech_conv_bn_gru():
  """An acoustic model: windows of frames by an identity conv2d, conv1d, batch norm whose
  training/inference choice is a placeholder_with_default cond, clipped ReLU dense layers, a
  GRU over the valid frames, per-frame logits time-major."""
  n_input, n_context, conv_filters, n_hidden, n_cell, n_classes, time_steps = 3, 1, 5, 6, 4, 5, 7
  relu_clip = 0.5
  batch_x = tf.placeholder(tf.float32, [None, None, n_input], name="input_node")
  seq_length = tf.placeholder(tf.int32, [None], name="input_lengths")
  is_training = tf.placeholder_with_default(False, [], name="is_training")
  dropout_rate = tf.placeholder_with_default(0.0, [], name="dropout_rate")
  window_width = 2 * n_context + 1
  num_channels = window_width * n_input
  eye_filter = tf.constant(np.eye(num_channels).reshape(window_width, n_input, num_channels),
                           tf.float32)
  batch_size = tf.shape(batch_x)[0]
  windows = tf.nn.conv1d(batch_x, eye_filter, stride=1, padding="SAME")
  windows = tf.reshape(windows, [batch_size, -1, window_width * n_input])
  features = tf.layers.conv1d(windows, conv_filters, 3, padding="same", name="conv1d")
  features = tf.layers.batch_normalization(features, training=is_training, name="bn")

  def dense(name, x, units):
    with tf.variable_scope(name):
      bias = tf.get_variable("bias", [units])
      weights = tf.get_variable("weights", [x.shape[-1], units])
      output = tf.minimum(tf.nn.relu(tf.add(tf.matmul(x, weights), bias)), relu_clip)
      return tf.nn.dropout(output, rate=dropout_rate)

  flat = tf.reshape(features, [-1, conv_filters])
  layer_1 = dense("layer_1", flat, n_hidden)
  layer_3 = dense("layer_3", layer_1, n_hidden)
  layer_3 = tf.reshape(layer_3, [batch_size, -1, n_hidden])
  outputs, _ = tf.nn.dynamic_rnn(R.GRUCell(n_cell), layer_3, sequence_length=seq_length,
                                 dtype=tf.float32, scope="rnn")
  with tf.variable_scope("layer_6"):
    b6 = tf.get_variable("bias", [n_classes])
    h6 = tf.get_variable("weights", [n_cell, n_classes])
    layer_6 = tf.add(tf.matmul(tf.reshape(outputs, [-1, n_cell]), h6), b6)
  layer_6 = tf.reshape(layer_6, [batch_size, -1, n_classes], name="raw_logits")
  logits = tf.transpose(layer_6, [1, 0, 2], name="logits")
  labels = tf.sparse_placeholder(tf.int32, name="labels")
  loss = tf.reduce_mean(tf.nn.ctc_loss(labels=labels, inputs=logits,
                                       sequence_length=seq_length))
  with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    tf.train.AdamOptimizer(1e-3, epsilon=1e-8).minimize(loss)

  def draw(rng):
    lengths = _lengths(rng, BATCH, time_steps)
    return {batch_x: rng.standard_normal((BATCH, time_steps, n_input)), seq_length: lengths}
  return dict(inputs=[batch_x, seq_length], outputs=[logits], feed={}, draw=draw)


def _lstm_block_fused_cell(x, num_units, sequence_length, initial_state, name,
                           forget_bias=1.0):
  """contrib.rnn.LSTMBlockFusedCell(num_units, forget_bias, name)(x, initial_state=..,
  sequence_length=..) as contrib's LSTMBlockWrapper builds it (gone from TF 2): variables
  NAME/kernel and NAME/bias, zero peepholes, BlockLSTM up to max(sequence_length), outputs
  masked past each length, final states gathered at each length from the sequences with the
  initial state prepended."""
  with tf.variable_scope(name):
    input_size = x.get_shape().as_list()[2]
    kernel = tf.get_variable("kernel", [input_size + num_units, 4 * num_units])
    bias = tf.get_variable("bias", [4 * num_units], initializer=tf.zeros_initializer())
    time_len = tf.shape(x)[0]
    batch_size = tf.shape(x)[1]
    zeros = tf.zeros([num_units])
    if initial_state is None:
      initial_state = (tf.zeros([batch_size, num_units]), tf.zeros([batch_size, num_units]))
    initial_cell_state, initial_output = initial_state
    max_seq_len = tf.cast(tf.reduce_max(sequence_length), tf.int64)
    _, cell_states, _, _, _, _, outputs = tf.raw_ops.BlockLSTM(
        seq_len_max=max_seq_len, x=x, cs_prev=initial_cell_state, h_prev=initial_output,
        w=kernel, wci=zeros, wcf=zeros, wco=zeros, b=bias, forget_bias=forget_bias,
        cell_clip=-1.0, use_peephole=False)
    mask = tf.transpose(tf.sequence_mask(sequence_length, time_len, dtype=tf.float32), [1, 0])
    mask = tf.tile(tf.expand_dims(mask, [-1]), [1, 1, num_units])
    outputs *= mask
    cell_states = tf.concat([tf.expand_dims(initial_cell_state, [0]), cell_states], 0)
    mod_outputs = tf.concat([tf.expand_dims(initial_output, [0]), outputs], 0)
    indices = tf.stack([sequence_length, tf.range(batch_size)], axis=1)
    final_state = R.LSTMStateTuple(tf.gather_nd(cell_states, indices),
                                   tf.gather_nd(mod_outputs, indices))
    return outputs, final_state


@_program("guillaumegenthial/tf_ner models/lstm_crf/main.py model_fn (PREDICT): words "
          "placeholder of strings replaced by ids, a non-trainable embedding variable looked "
          "up, the embeddings transposed to time-major, LSTMBlockFusedCell(lstm_size) forward "
          "and contrib.rnn.TimeReversedFusedRNN(LSTMBlockFusedCell(lstm_size)) backward "
          "(reverse_sequence by nwords around it) with sequence_length=nwords, the outputs "
          "concatenated and transposed back, tf.layers.dense logits; the CRF decode is left "
          "out (crf_decode is its own construct)")
def tf_ner_fused():
  """A NER tagger on LSTMBlockFusedCell in both directions (contrib's defaults: forget_bias
  1.0, no clip, no peepholes), the backward one time-reversed within each length."""
  vocab, dim, lstm_size, num_tags, steps = 20, 4, 5, 3, 6
  word_ids = tf.placeholder(tf.int32, [None, None], name="word_ids")
  nwords = tf.placeholder(tf.int32, [None], name="nwords")
  variable = tf.Variable(np.zeros((vocab, dim), np.float32), dtype=tf.float32,
                         trainable=False, name="embeddings")
  embeddings = tf.nn.embedding_lookup(variable, word_ids)
  t = tf.transpose(embeddings, perm=[1, 0, 2])  # Need time-major
  output_fw, _ = _lstm_block_fused_cell(t, lstm_size, nwords, None, "lstm_fused_cell")
  reversed_t = tf.reverse_sequence(t, nwords, seq_axis=0, batch_axis=1)
  output_bw, _ = _lstm_block_fused_cell(reversed_t, lstm_size, nwords, None,
                                        "lstm_fused_cell_1")
  output_bw = tf.reverse_sequence(output_bw, nwords, seq_axis=0, batch_axis=1)
  output = tf.concat([output_fw, output_bw], axis=-1)
  output = tf.transpose(output, perm=[1, 0, 2])
  logits = tf.layers.dense(output, num_tags)

  def draw(rng):
    lengths = _lengths(rng, BATCH, steps)
    return {word_ids: _padded_ids(rng, lengths, steps, 1, vocab), nwords: lengths}
  return dict(inputs=[word_ids, nwords], outputs=[logits], feed={}, draw=draw)


@_program("mozilla/DeepSpeech 0.6 DeepSpeech.py create_model + create_inference_graph "
          "(input_node [batch, time, n_input] with create_overlapping_windows' identity "
          "conv1d, the transpose to time-major and the reshape to [-1, n_input * window], "
          "dense() layers 1-3 and 5 as tf.nn.bias_add(tf.matmul(x, weights), bias) with "
          "tf.minimum(tf.nn.relu(...), relu_clip) and tf.nn.dropout(rate=...) from "
          "placeholder_with_default rates, rnn_impl_lstmblockfusedcell: LSTMBlockFusedCell("
          "n_cell_dim, forget_bias=0) in cudnn_lstm/rnn/multi_rnn_cell/cell_0 named "
          "cudnn_compatible_lstm_cell with sequence_length=input_lengths and initial_state "
          "from the previous_state_c/h placeholders, layer_6 linear, raw_logits [time, batch, "
          "classes], logits softmax, new_state_c/h identities); sizes shrunk")
def deepspeech_fused():
  """DeepSpeech's acoustic model as its inference graph is built: the BlockLSTM kernel over
  the whole time-major sequence, with the lengths masking and the state gathering contrib's
  wrapper adds around it."""
  n_input, n_context, n_hidden, n_cell_dim, n_classes, time_steps = 2, 1, 6, 5, 4, 6
  relu_clip = 0.5
  input_node = tf.placeholder(tf.float32, [None, None, n_input], name="input_node")
  input_lengths = tf.placeholder(tf.int32, [None], name="input_lengths")
  previous_state_c = tf.placeholder(tf.float32, [None, n_cell_dim], name="previous_state_c")
  previous_state_h = tf.placeholder(tf.float32, [None, n_cell_dim], name="previous_state_h")
  rates = [tf.placeholder_with_default(0.0, [], name=f"dropout_{i}") for i in range(6)]
  batch_size = tf.shape(input_node)[0]
  window_width = 2 * n_context + 1
  eye_filter = tf.constant(np.eye(window_width * n_input).reshape(
      window_width, n_input, window_width * n_input), tf.float32)
  batch_x = tf.nn.conv1d(input_node, eye_filter, stride=1, padding="SAME")
  batch_x = tf.reshape(batch_x, [batch_size, -1, window_width, n_input])
  batch_x = tf.transpose(batch_x, perm=[1, 0, 2, 3])
  batch_x = tf.reshape(batch_x, [-1, n_input * window_width])

  def dense(name, x, units, dropout_rate=None, relu=True):
    with tf.variable_scope(name):
      bias = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
      weights = tf.get_variable("weights", [x.shape[-1], units])
    output = tf.nn.bias_add(tf.matmul(x, weights), bias)
    if relu:
      output = tf.minimum(tf.nn.relu(output), relu_clip)
    if dropout_rate is not None:
      output = tf.nn.dropout(output, rate=dropout_rate)
    return output

  layer_1 = dense("layer_1", batch_x, n_hidden, dropout_rate=rates[0])
  layer_2 = dense("layer_2", layer_1, n_hidden, dropout_rate=rates[1])
  layer_3 = dense("layer_3", layer_2, n_hidden, dropout_rate=rates[2])
  layer_3 = tf.reshape(layer_3, [-1, batch_size, n_hidden])
  with tf.variable_scope("cudnn_lstm/rnn/multi_rnn_cell/cell_0"):
    output, output_state = _lstm_block_fused_cell(
        layer_3, n_cell_dim, input_lengths, R.LSTMStateTuple(previous_state_c, previous_state_h),
        "cudnn_compatible_lstm_cell", forget_bias=0.0)
  output = tf.reshape(output, [-1, n_cell_dim])
  layer_5 = dense("layer_5", output, n_hidden, dropout_rate=rates[5])
  layer_6 = dense("layer_6", layer_5, n_classes, relu=False)
  layer_6 = tf.reshape(layer_6, [-1, batch_size, n_classes], name="raw_logits")
  logits = tf.nn.softmax(layer_6, name="logits")
  new_state_c = tf.identity(output_state.c, name="new_state_c")
  new_state_h = tf.identity(output_state.h, name="new_state_h")

  def draw(rng):
    return {input_node: rng.standard_normal((BATCH, time_steps, n_input)),
            input_lengths: _lengths(rng, BATCH, time_steps),
            previous_state_c: rng.standard_normal((BATCH, n_cell_dim)),
            previous_state_h: rng.standard_normal((BATCH, n_cell_dim))}
  return dict(inputs=[input_node, input_lengths, previous_state_c, previous_state_h],
              outputs=[logits, new_state_c, new_state_h], feed={}, draw=draw)


@_program("guillaumegenthial/sequence_tagging model/ner_model.py and base_model.py (use_chars, "
          "no CRF): word_ids/sequence_lengths/char_ids/word_lengths/dropout/lr placeholders, "
          "words/_word_embeddings and chars/_char_embeddings get_variable lookups, the "
          "character BiLSTM (LSTMCell, state_is_tuple) over char embeddings reshaped to "
          "[s[0]*s[1], s[-2], dim_char] with word_lengths reshaped to [s[0]*s[1]], its final "
          "h's concatenated and reshaped back to [s[0], s[1], 2*hidden_size_char], concat with "
          "the word embeddings, tf.nn.dropout(keep prob), the word BiLSTM in bi-lstm with "
          "sequence_lengths, dropout, proj/W and proj/b on the [-1, 2*hidden] reshape, logits "
          "reshaped to [-1, nsteps, ntags], labels_pred argmax, masked softmax loss, "
          "train_step/Adam with clip_by_global_norm")
def sequence_tagging_chars():
  """The NER tagger with character embeddings: one BiLSTM over every word's characters (a
  batch of batch * words sequences, lengths from another input), then one over the words."""
  nwords, dim_word, nchars, dim_char, hidden_char, hidden, ntags = 30, 4, 12, 3, 2, 5, 4
  steps, max_chars = 5, 4
  word_ids = tf.placeholder(tf.int32, shape=[None, None], name="word_ids")
  sequence_lengths = tf.placeholder(tf.int32, shape=[None], name="sequence_lengths")
  char_ids = tf.placeholder(tf.int32, shape=[None, None, None], name="char_ids")
  word_lengths = tf.placeholder(tf.int32, shape=[None, None], name="word_lengths")
  labels = tf.placeholder(tf.int32, shape=[None, None], name="labels")
  dropout = tf.placeholder(dtype=tf.float32, shape=[], name="dropout")
  lr = tf.placeholder(dtype=tf.float32, shape=[], name="lr")
  with tf.variable_scope("words"):
    _word_embeddings = tf.get_variable(name="_word_embeddings", dtype=tf.float32,
                                       shape=[nwords, dim_word])
    word_embeddings = tf.nn.embedding_lookup(_word_embeddings, word_ids, name="word_embeddings")
  with tf.variable_scope("chars"):
    _char_embeddings = tf.get_variable(name="_char_embeddings", dtype=tf.float32,
                                       shape=[nchars, dim_char])
    char_embeddings = tf.nn.embedding_lookup(_char_embeddings, char_ids, name="char_embeddings")
    s = tf.shape(char_embeddings)
    char_embeddings = tf.reshape(char_embeddings, shape=[s[0] * s[1], s[-2], dim_char])
    flat_word_lengths = tf.reshape(word_lengths, shape=[s[0] * s[1]])
    cell_fw = R.LSTMCell(hidden_char, state_is_tuple=True)
    cell_bw = R.LSTMCell(hidden_char, state_is_tuple=True)
    _output = tf.nn.bidirectional_dynamic_rnn(cell_fw, cell_bw, char_embeddings,
                                              sequence_length=flat_word_lengths,
                                              dtype=tf.float32)
    _, ((_, output_fw), (_, output_bw)) = _output
    output = tf.concat([output_fw, output_bw], axis=-1)
    output = tf.reshape(output, shape=[s[0], s[1], 2 * hidden_char])
    word_embeddings = tf.concat([word_embeddings, output], axis=-1)
  word_embeddings = tf.nn.dropout(word_embeddings, dropout)
  with tf.variable_scope("bi-lstm"):
    cell_fw, cell_bw = R.LSTMCell(hidden), R.LSTMCell(hidden)
    (output_fw, output_bw), _ = tf.nn.bidirectional_dynamic_rnn(
        cell_fw, cell_bw, word_embeddings, sequence_length=sequence_lengths, dtype=tf.float32)
    output = tf.concat([output_fw, output_bw], axis=-1)
    output = tf.nn.dropout(output, dropout)
  with tf.variable_scope("proj"):
    W = tf.get_variable("W", dtype=tf.float32, shape=[2 * hidden, ntags])
    b = tf.get_variable("b", shape=[ntags], dtype=tf.float32,
                        initializer=tf.zeros_initializer())
    nsteps = tf.shape(output)[1]
    output = tf.reshape(output, [-1, 2 * hidden])
    pred = tf.matmul(output, W) + b
    logits = tf.reshape(pred, [-1, nsteps, ntags])
  tf.cast(tf.argmax(logits, axis=-1), tf.int32, name="labels_pred")
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=labels)
  loss = tf.reduce_mean(tf.boolean_mask(losses, tf.sequence_mask(sequence_lengths)))
  with tf.variable_scope("train_step"):
    optimizer = tf.train.AdamOptimizer(lr)
    grads, vs = zip(*optimizer.compute_gradients(loss))
    grads, _ = tf.clip_by_global_norm(grads, 5.0)
    optimizer.apply_gradients(zip(grads, vs))

  def draw(rng):  # pad_sequences: words and characters padded with id 0
    lengths = _lengths(rng, BATCH, steps)
    chars = rng.integers(1, max_chars + 1, (BATCH, steps))
    chars[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    char_values = rng.integers(1, nchars, (BATCH, steps, max_chars))
    char_values[np.arange(max_chars)[None, None, :] >= chars[:, :, None]] = 0
    return {word_ids: _padded_ids(rng, lengths, steps, 1, nwords), sequence_lengths: lengths,
            char_ids: char_values, word_lengths: chars}
  return dict(inputs=[word_ids, sequence_lengths, char_ids, word_lengths], outputs=[logits],
              feed={dropout: 1.0}, draw=draw)


@_program("ematvey/tensorflow-seq2seq-tutorials 1-seq2seq.ipynb: time-major encoder_inputs, "
          "decoder_inputs and decoder_targets placeholders, one embeddings tf.Variable "
          "looked up by both, an LSTMCell encoder under dynamic_rnn(time_major=True) whose "
          "outputs are discarded, an LSTMCell decoder under dynamic_rnn in scope "
          "plain_decoder fed the decoder inputs (teacher forcing) from the encoder's final "
          "state, contrib.layers.linear logits over the vocabulary, argmax prediction, "
          "softmax cross entropy on one-hot targets, Adam")
def seq2seq_teacher_forced():
  """An encoder-decoder trained with teacher forcing: the decoder is a dynamic_rnn fed the
  shifted targets and started from the encoder's final state: converted whole."""
  vocab_size, input_embedding_size, hidden = 10, 4, 6
  encoder_inputs = tf.placeholder(shape=(None, None), dtype=tf.int32, name="encoder_inputs")
  decoder_targets = tf.placeholder(shape=(None, None), dtype=tf.int32, name="decoder_targets")
  decoder_inputs = tf.placeholder(shape=(None, None), dtype=tf.int32, name="decoder_inputs")
  embeddings = tf.Variable(tf.random_uniform([vocab_size, input_embedding_size], -1.0, 1.0),
                           dtype=tf.float32)
  encoder_inputs_embedded = tf.nn.embedding_lookup(embeddings, encoder_inputs)
  decoder_inputs_embedded = tf.nn.embedding_lookup(embeddings, decoder_inputs)
  encoder_cell = R.LSTMCell(hidden)
  _, encoder_final_state = tf.nn.dynamic_rnn(encoder_cell, encoder_inputs_embedded,
                                             dtype=tf.float32, time_major=True)
  decoder_cell = R.LSTMCell(hidden)
  decoder_outputs, _ = tf.nn.dynamic_rnn(decoder_cell, decoder_inputs_embedded,
                                         initial_state=encoder_final_state, dtype=tf.float32,
                                         time_major=True, scope="plain_decoder")
  decoder_logits = tf.layers.dense(decoder_outputs, vocab_size, name="fully_connected")
  tf.argmax(decoder_logits, 2, name="decoder_prediction")
  stepwise_cross_entropy = tf.nn.softmax_cross_entropy_with_logits_v2(
      labels=tf.one_hot(decoder_targets, depth=vocab_size, dtype=tf.float32),
      logits=decoder_logits)
  tf.train.AdamOptimizer().minimize(tf.reduce_mean(stepwise_cross_entropy))
  steps = 5
  return dict(inputs=[encoder_inputs, decoder_inputs], outputs=[decoder_logits], feed={},
              draw=lambda rng: {encoder_inputs: rng.integers(2, vocab_size, (steps, BATCH)),
                                decoder_inputs: rng.integers(2, vocab_size, (steps, BATCH))})


@_program("The Keras-in-TF1 pattern of the 'Keras as a simplified interface to TensorFlow' "
          "blog post (keras.io, 2016) and the tf.keras guides of TF 1.x: tf.keras layers "
          "called on a placeholder inside a tf.Session (Embedding(mask_zero=True), "
          "Bidirectional(LSTM(return_sequences=True)), GRU, Dropout, Dense softmax), "
          "variables initialised and saved by tf.train.Saver")
def keras_layers_in_session():
  """Keras 2 layers in a session: their own while loops (backend.rnn) reading a mask
  TensorArray, Keras's masking rule (a masked step keeps the state and gives zeros, or the
  previous output for the GRU that returns its last output), cells as two matmuls, the GRU
  with reset_after, dropout under the learning phase's cond."""
  K = tf_keras.layers
  ids = tf.placeholder(tf.int32, [None, 6], name="ids")
  emb = K.Embedding(20, 4, mask_zero=True)(ids)
  seq = K.Bidirectional(K.LSTM(5, return_sequences=True))(emb)
  last = K.GRU(3)(seq)
  out = K.Dense(2, activation="softmax")(K.Dropout(0.5)(last))

  def draw(rng):
    return {ids: _padded_ids(rng, _lengths(rng, BATCH, 6), 6, 1, 20)}
  return dict(inputs=[ids], outputs=[out], feed={}, draw=draw)


class _LSTMBlockCell(R.RNNCell):
  """contrib.rnn.LSTMBlockCell (gone from TF 2): variables kernel [in + U, 4U], bias (zeros
  initializer) and, with peepholes, w_i_diag/w_f_diag/w_o_diag, under the cell's name
  (lstm_cell); one LSTMBlockCell op a step, zeros for the peepholes when off, cell_clip -1
  (off) unless given."""

  def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peephole=False,
               name="lstm_cell"):
    super().__init__(name=name)
    self._num_units, self._forget_bias, self._use_peephole = num_units, forget_bias, use_peephole
    self._cell_clip = cell_clip if cell_clip is not None else -1

  @property
  def state_size(self):
    return R.LSTMStateTuple(self._num_units, self._num_units)

  @property
  def output_size(self):
    return self._num_units

  def build(self, inputs_shape):
    input_size = inputs_shape[-1]
    self._kernel = self.add_variable("kernel", [input_size + self._num_units,
                                                self._num_units * 4])
    self._bias = self.add_variable("bias", [self._num_units * 4],
                                   initializer=tf.constant_initializer(0.0))
    if self._use_peephole:
      self._w_i_diag, self._w_f_diag, self._w_o_diag = (
          self.add_variable(n, [self._num_units]) for n in ("w_i_diag", "w_f_diag", "w_o_diag"))
    self.built = True

  def call(self, inputs, state):
    cell_state, cell_last_output = state
    if self._use_peephole:
      wci, wcf, wco = self._w_i_diag, self._w_f_diag, self._w_o_diag
    else:
      wci = wcf = wco = tf.zeros([self._num_units], dtype=self.dtype)
    (_, cs, _, _, _, _, h) = tf.raw_ops.LSTMBlockCell(
        x=inputs, cs_prev=cell_state, h_prev=cell_last_output, w=self._kernel, wci=wci,
        wcf=wcf, wco=wco, b=self._bias, forget_bias=self._forget_bias,
        cell_clip=self._cell_clip, use_peephole=self._use_peephole)
    return h, R.LSTMStateTuple(cs, h)


class _GRUBlockCell(R.RNNCell):
  """contrib.rnn.GRUBlockCell (V1, gone from TF 2): variables w_ru [in + U, 2U], b_ru (ones),
  w_c [in + U, U], b_c (zeros) under gru_cell; one GRUBlockCell op a step."""

  def __init__(self, num_units, name="gru_cell"):
    super().__init__(name=name)
    self._cell_size = num_units

  @property
  def state_size(self):
    return self._cell_size

  @property
  def output_size(self):
    return self._cell_size

  def build(self, input_shape):
    input_size = input_shape[-1]
    self._gate_kernel = self.add_variable("w_ru", [input_size + self._cell_size,
                                                   self._cell_size * 2])
    self._gate_bias = self.add_variable("b_ru", [self._cell_size * 2],
                                        initializer=tf.constant_initializer(1.0))
    self._candidate_kernel = self.add_variable("w_c", [input_size + self._cell_size,
                                                       self._cell_size])
    self._candidate_bias = self.add_variable("b_c", [self._cell_size],
                                             initializer=tf.constant_initializer(0.0))
    self.built = True

  def call(self, inputs, h_prev):
    _, _, _, new_h = tf.raw_ops.GRUBlockCell(
        x=inputs, h_prev=h_prev, w_ru=self._gate_kernel, b_ru=self._gate_bias,
        w_c=self._candidate_kernel, b_c=self._candidate_bias)
    return new_h, new_h


@_program("tensorflow/models tutorials/rnn/ptb/ptb_word_lm.py with rnn_mode BLOCK: "
          "_get_lstm_cell gives tf.contrib.rnn.LSTMBlockCell(hidden_size, forget_bias=0.0), "
          "DropoutWrapper(output_keep_prob) over it in a MultiRNNCell, the unrolled loop in "
          "scope RNN, softmax_w/softmax_b xw_plus_b, the Model variable scope; keep_prob a "
          "placeholder")
def ptb_block():
  """PTB's BLOCK mode: contrib's fused LSTMBlockCell called step by step by the model's own
  loop, two layers, forget_bias 0 read from each op's attribute."""
  num_layers, num_steps, size, vocab_size = 2, 4, 6, 20
  input_data = tf.placeholder(tf.int32, [None, num_steps], name="input_data")
  keep_prob = tf.placeholder(tf.float32, [], name="keep_prob")
  with tf.variable_scope("Model", initializer=tf.random_uniform_initializer(-0.1, 0.1)):
    embedding = tf.get_variable("embedding", [vocab_size, size], dtype=tf.float32)
    inputs = tf.nn.embedding_lookup(embedding, input_data)
    cell = R.MultiRNNCell([R.DropoutWrapper(_LSTMBlockCell(size, forget_bias=0.0),
                                            output_keep_prob=keep_prob)
                           for _ in range(num_layers)])
    outputs, state = _ptb_unrolled(cell, inputs, input_data, num_steps)
    output = tf.reshape(tf.concat(outputs, 1), [-1, size])
    softmax_w = tf.get_variable("softmax_w", [size, vocab_size], dtype=tf.float32)
    softmax_b = tf.get_variable("softmax_b", [vocab_size], dtype=tf.float32)
    logits = tf.reshape(tf.nn.xw_plus_b(output, softmax_w, softmax_b),
                        [-1, num_steps, vocab_size], name="logits")
  return dict(inputs=[input_data], outputs=[logits, state[1].c, state[1].h],
              feed={keep_prob: 1.0},
              draw=lambda rng: {input_data: rng.integers(0, vocab_size, (BATCH, num_steps))})


@_program("a public GRUBlockCell language model's build_model (tf.nn.embedding_lookup of a "
          "non-trainable embeddings variable with validate_indices=False, "
          "tf.contrib.rnn.GRUBlockCell(rnn_dim) under tf.nn.dynamic_rnn with seq_lens and "
          "cell.zero_state(tf.size(seq_lens)), the outputs reshaped to (-1, rnn_dim), "
          "contrib.layers.fully_connected token_logit, reshaped to (bs, -1, vocab), "
          "sequence_loss, in variable scope model); no optimizer: the op's gradient lived in "
          "contrib")
def gru_block_lm():
  """contrib's GRUBlockCell (V1: w_ru, b_ru, w_c, b_c) in a dynamic_rnn with lengths."""
  vocab_size, rnn_dim, steps = 17, 5, 6
  token_ids = tf.placeholder(tf.int32, [None, None], name="token_ids")
  seq_lens = tf.placeholder(tf.int32, [None], name="seq_lens")
  embeddings = tf.get_variable("embeddings", (vocab_size, rnn_dim), "float", trainable=False)
  with tf.variable_scope("model"):
    rnn_input = tf.nn.embedding_lookup(embeddings, token_ids)
    bs = tf.size(seq_lens)
    cell = _GRUBlockCell(rnn_dim)
    rnn_output, final_state = tf.nn.dynamic_rnn(cell, rnn_input, seq_lens,
                                                cell.zero_state(bs, "float"))
    decoder_input = tf.reshape(rnn_output, (-1, rnn_dim))
    token_logit = tf.layers.dense(decoder_input, vocab_size, name="token_logit")
    seq_logits = tf.reshape(token_logit, (bs, -1, vocab_size), name="seq_logits")
  targets = tf.placeholder(tf.int32, [None, None], name="targets")
  loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets,
                                                                       logits=seq_logits))
  # (The training part is left out: GRUBlockCell's gradient was registered by contrib, which
  # TF 2 no longer has.)
  tf.identity(loss, name="loss")

  def draw(rng):
    lengths = _lengths(rng, BATCH, steps)
    return {token_ids: _padded_ids(rng, lengths, steps, 1, vocab_size), seq_lens: lengths}
  return dict(inputs=[token_ids, seq_lens], outputs=[seq_logits, final_state], feed={},
              draw=draw)


# The same programs as TF1 code runs on TF 2.x with only disable_eager_execution(): their
# dynamic_rnn is one While op over TensorLists, their variables resource variables, and a
# training graph's forward loop carries the gradient's accumulators.
_program("dennybritz + aymericdamien's bidirectional classifier (bi_classifier) run on TF 2.x "
         "with tf.compat.v1 and only disable_eager_execution()", name="bi_classifier_tf2",
         tf2=True)(bi_classifier)
_program("tensorflow/nmt's residual encoder (nmt_residual_encoder) run on TF 2.x with "
         "tf.compat.v1 and only disable_eager_execution()", name="nmt_residual_encoder_tf2",
         tf2=True)(nmt_residual_encoder)
_program("the speech model (speech_conv_bn_gru: conv1d, batch norm under a "
         "placeholder_with_default cond, GRU with lengths, Adam) run on TF 2.x with "
         "tf.compat.v1 and only disable_eager_execution(): its conds are If ops over branch "
         "functions", name="speech_conv_bn_gru_tf2", tf2=True)(speech_conv_bn_gru)
_program("sherjilozair/char-rnn-tensorflow's training graph (char_rnn_gru: 2 GRUCells, Adam "
         "with clip_by_global_norm) run on TF 2.x with tf.compat.v1 and only "
         "disable_eager_execution()", name="char_rnn_gru_tf2",
         tf2=True)(char_rnn_gru)


def _key(tensor_name):
  return tensor_name.replace(":", "__").replace("/", "__")


def _random_values(variable, stddev, rng):
  """What training could have left in `variable`: Adam's second moments and batch norm's moving
  variances are >= 0 and Adam's beta powers lie in (0, 1); everything else N(0, stddev)."""
  name, shape = variable.op.name, variable.shape.as_list()
  if name.endswith(("/Adam_1", "/moving_variance")):
    return np.abs(rng.normal(0.0, 0.3, shape)).astype(np.float32)
  if name.split("/")[-1].startswith(("beta1_power", "beta2_power")):
    return rng.uniform(0.5, 0.99, shape).astype(np.float32)
  return rng.normal(0.0, stddev(name), shape).astype(np.float32)


class _NoChange:
  def __enter__(self):
    pass

  def __exit__(self, *exc):
    pass


def save(out, name):
  """Builds program `name` in a fresh graph, fills its variables, saves checkpoint + meta graph,
  then runs it once for reference.npz. The variables are filled by feeding each one's own
  initializer, so no op is added to the graph that the meta graph records."""
  spec = PROGRAMS[name]
  directory = os.path.join(out, name)
  os.makedirs(directory, exist_ok=True)
  # (seeded by the name: adding a program leaves every other program's values as they were)
  rng = np.random.default_rng(zlib.crc32(name.encode()))
  with tf.Graph().as_default(), (_TF2Behaviour() if spec["tf2"] else _NoChange()):
    tf.set_random_seed(1)
    program = spec["build"]()
    saver = tf.train.Saver()
    with tf.Session() as sess:  # local variables (tf.metrics') are neither saved nor run here
      for v in tf.global_variables():
        if v.dtype.base_dtype.is_floating:
          sess.run(v.initializer, {v.initializer.inputs[1]: _random_values(v, spec["stddev"], rng)})
        else:
          sess.run(v.initializer)
      saver.save(sess, os.path.join(directory, "model.ckpt"))
      inputs = {t: np.asarray(value, t.dtype.as_numpy_dtype)
                for t, value in program["draw"](rng).items()}
      results = sess.run(program["outputs"], {**inputs, **program["feed"]})
  np.savez(os.path.join(directory, "reference.npz"),
           **{_key(t.name): value for t, value in inputs.items()},
           **{_key(t.name): value for t, value in zip(program["outputs"], results)})
  description = {
      "inputs": [t.name for t in program["inputs"]],
      "outputs": [t.name for t in program["outputs"]],
      "feed": {t.name: value for t, value in program["feed"].items()},
      "expect": spec["expect"],
      "refuse_mentions": spec["refuse_mentions"],
      "source": spec["source"],
  }
  with open(os.path.join(directory, "program.json"), "w") as f:
    json.dump(description, f, indent=2)


def save_forms(out, name):
  """The other forms program `name` ships in, made from its checkpoint as users make them:
  OUTDIR/NAME/frozen.pb and frozen.pbtxt (tf.graph_util.convert_variables_to_constants on the
  outputs' ops, as freeze_graph.py does; tf.io.write_graph), OUTDIR/NAME/optimized.pb
  (optimize_for_inference after freezing) and OUTDIR/NAME/saved_model
  (tf.saved_model.simple_save with the program's inputs and outputs, keys in0.., out0..)."""
  spec = PROGRAMS[name]
  directory = os.path.join(out, name)
  with open(os.path.join(directory, "program.json")) as f:
    description = json.load(f)
  with tf.Graph().as_default() as graph, (_TF2Behaviour() if spec["tf2"] else _NoChange()):
    saver = tf.train.import_meta_graph(os.path.join(directory, "model.ckpt.meta"))
    with tf.Session() as sess:
      saver.restore(sess, os.path.join(directory, "model.ckpt"))
      outputs = [n.rpartition(":")[0] for n in description["outputs"]]
      frozen = tf.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
      tf.io.write_graph(frozen, directory, "frozen.pb", as_text=False)
      tf.io.write_graph(frozen, directory, "frozen.pbtxt", as_text=True)
      # optimize_for_inference.py as the Android/TF-Lite guides ran it after freezing: the
      # variables' /read Identities removed, weights read straight from their constants
      from tensorflow.python.tools import optimize_for_inference_lib
      inputs = [n.rpartition(":")[0] for n in description["inputs"]]
      optimized = optimize_for_inference_lib.optimize_for_inference(
          frozen, inputs, outputs,
          [graph.get_tensor_by_name(n).dtype.as_datatype_enum for n in description["inputs"]])
      tf.io.write_graph(optimized, directory, "optimized.pb", as_text=False)
      tensors = lambda names, key: {f"{key}{k}": graph.get_tensor_by_name(n)  # noqa: E731
                                    for k, n in enumerate(names)}
      tf.saved_model.simple_save(sess, os.path.join(directory, "saved_model"),
                                 tensors(description["inputs"], "in"),
                                 tensors(description["outputs"], "out"))


def run_eval(out, name, inputs_npz, outputs_npz):
  """Program `name`'s inference graph (EVAL_BUILDS), restored from its checkpoint, run on the
  arrays of `inputs_npz` (keyed by input tensor name) into `outputs_npz` (by output name)."""
  with tf.Graph().as_default():
    program = EVAL_BUILDS[name]()
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, os.path.join(out, name, "model.ckpt"))
      with np.load(inputs_npz) as arrays:
        feed = {t: arrays[t.name] for t in program["inputs"]}
      results = sess.run(program["outputs"], {**feed, **program["feed"]})
  np.savez(outputs_npz, **{t.name: r for t, r in zip(program["outputs"], results)})


if __name__ == "__main__":
  if sys.argv[1:2] == ["--eval"]:  # OUTDIR NAME INPUTS.npz OUTPUTS.npz
    run_eval(*sys.argv[2:6])
    sys.exit(0)
  if sys.argv[1:2] == ["--forms"]:  # OUTDIR NAME...: after the programs themselves
    for program_name in sys.argv[3:]:
      save_forms(sys.argv[2], program_name)
    sys.exit(0)
  if len(sys.argv) < 2:
    sys.exit(f"usage: {sys.argv[0]} OUTDIR [NAME ...] (NAME in {', '.join(PROGRAMS)})")
  unknown = [n for n in sys.argv[2:] if n not in PROGRAMS]
  if unknown:
    sys.exit(f"unknown program(s) {', '.join(unknown)}; known: {', '.join(PROGRAMS)}")
  for program_name in sys.argv[2:] or PROGRAMS:
    started = time.time()
    save(sys.argv[1], program_name)
    print(f"{program_name}: {time.time() - started:.1f}s")
