"""Measures what a wavefront over multilayer's three LSTM(256) layers would gain (issue 27).

    python scripts/wavefront_stack_ab.py

One hand-written graph computes the three layers step by step, layer l+1's step t right after
layer l's step t, so TensorFlow's executor can run layer l+1's step t beside layer l's step
t+1 (what the TF1 graph's MultiRNNCell while_loop does); its backward mirrors SequenceLSTM's
(per step the gate derivatives and `dz @ U^T`, here also `dz @ W^T` for the layer below; the
weight gradients over all steps at once). Against three stacked SequenceLSTM layers, forward
and backward of sum(sin(top layer's last h)), no dropout, batch 100, alternating in one
process; and the same wavefront compiled by XLA (jit_compile=True). Prints whether the outputs are bitwise equal and the gradients' largest relative
difference, then the times. A measurement for docs/benchmarks.md, not part of the trainer.
"""
import time, numpy as np, tensorflow as tf, keras
from tf_rnn_mnist.model.layers import SequenceLSTM
B, T, U = 100, 28, 256
bmm = lambda a, b, adj_y=False: tf.raw_ops.BatchMatMulV2(x=a, y=b, adj_y=adj_y)

def wavefront(x, *weights):
  @tf.custom_gradient
  def run(x, *weights):
    Ws, Us, bs = weights[0::3], weights[1::3], weights[2::3]
    Uts = [tf.transpose(u) for u in Us]
    Wts = [tf.transpose(w) for w in Ws]
    x_tm = tf.transpose(x, (1, 0, 2))
    proj0 = tf.unstack(tf.reshape(tf.matmul(tf.reshape(x_tm, (-1, x.shape[2])), Ws[0]), (T, -1, 4 * U)))
    zeros = tf.zeros((tf.shape(x)[0], U))
    h, c = [zeros] * 3, [zeros] * 3
    saved = [[None] * T for _ in range(3)]
    out = [[None] * T for _ in range(3)]
    for t in range(T):
      for l in range(3):
        xw = proj0[t] if l == 0 else bmm(out[l - 1][t], Wts[l], adj_y=True)
        z = tf.add(tf.add(xw, bmm(h[l], Uts[l], adj_y=True)), bs[l])
        zi, zf, zc, zo = tf.split(z, 4, axis=1)
        i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zc), tf.sigmoid(zo)
        hp, cp = h[l], c[l]
        c[l] = f * cp + i * g
        tc = tf.tanh(c[l])
        h[l] = o * tc
        saved[l][t] = (hp, cp, i, f, g, o, tc)
        out[l][t] = h[l]

    def grad(dtop):
      dh, dc = [zeros, zeros, dtop], [zeros] * 3
      d_in = [[None] * T for _ in range(3)]
      dzs = [[None] * T for _ in range(3)]
      for t in reversed(range(T)):
        for l in (2, 1, 0):
          hp, cp, i, f, g, o, tc = saved[l][t]
          d = dh[l] if l == 2 else dh[l] + d_in[l + 1][t]
          dcl = dc[l] + tf.raw_ops.TanhGrad(y=tc, dy=d * o)
          dz = tf.concat([tf.raw_ops.SigmoidGrad(y=i, dy=dcl * g), tf.raw_ops.SigmoidGrad(y=f, dy=dcl * cp),
                          tf.raw_ops.TanhGrad(y=g, dy=dcl * i), tf.raw_ops.SigmoidGrad(y=o, dy=d * tc)], axis=1)
          dzs[l][t] = dz
          dc[l] = dcl * f
          dh[l] = bmm(dz, Us[l], adj_y=True)
          if l > 0:
            d_in[l][t] = bmm(dz, Ws[l], adj_y=True)
      grads = []
      for l in range(3):
        dz = tf.concat(dzs[l], axis=0)
        hps = tf.concat([s[0] for s in saved[l]], axis=0)
        xin = tf.reshape(x_tm, (-1, x.shape[2])) if l == 0 else tf.concat(out[l - 1], axis=0)
        grads += [tf.matmul(xin, dz, transpose_a=True), tf.matmul(hps, dz, transpose_a=True),
                  tf.raw_ops.BiasAddGrad(out_backprop=dz)]
      return [tf.zeros_like(x)] + grads
    return h[2], grad
  return run(x, *weights)

keras.utils.set_random_seed(0)
x = tf.random.normal((B, T, 28))
layers = [SequenceLSTM(U, return_sequences=(l < 2), bias_initializer="random_uniform") for l in range(3)]
y = x
for l in layers: y = l(y)
weights = [w for l in layers for w in (l.cell.kernel, l.cell.recurrent_kernel, l.cell.bias)]

@tf.function
def stacked():
  with tf.GradientTape() as tape:
    y = x
    for l in layers: y = l(y)
    loss = tf.reduce_sum(tf.sin(y))
  return y, tape.gradient(loss, weights)

@tf.function
def wave():
  with tf.GradientTape() as tape:
    ws = [tf.convert_to_tensor(w.value) for w in weights]
    tape.watch(ws)
    y = wavefront(x, *ws)
    loss = tf.reduce_sum(tf.sin(y))
  return y, tape.gradient(loss, ws)

a, ga = stacked(); b, gb = wave()
print("forward bitwise:", np.array_equal(a.numpy(), b.numpy()))
print("grads max rel diff:", max(float(np.abs(p.numpy() - q.numpy()).max() / (np.abs(p.numpy()).max() + 1e-30)) for p, q in zip(ga, gb)))
# The wavefront combined with XLA (issue 35): the same graph compiled (XLA's CPU runtime runs
# one op at a time with threads inside each, so the overlap may not survive).
wave_xla = tf.function(wave.python_function, jit_compile=True)
c, gc = wave_xla()
print("wavefront under XLA: outputs' largest relative difference",
      float(np.abs(a.numpy() - c.numpy()).max() / np.abs(a.numpy()).max()), "gradients'",
      max(float(np.abs(p.numpy() - q.numpy()).max() / (np.abs(p.numpy()).max() + 1e-30)) for p, q in zip(ga, gc)))
sides = {"stacked": stacked, "wavefront": wave, "wavefront_xla": wave_xla}
res = {k: [] for k in sides}
for r in range(10):
  for k in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
    t0 = time.perf_counter()
    for _ in range(5): sides[k]()[0].numpy()
    res[k].append((time.perf_counter() - t0) / 5 * 1e3)
for k in sides: print(k, "ms median %.1f min %.1f" % (np.median(res[k]), min(res[k])))
for k in ("wavefront", "wavefront_xla"):
  r = np.array(res["stacked"]) / np.array(res[k])
  print(f"stacked/{k} per round", np.round(r, 3), "gmean %.3f" % np.exp(np.mean(np.log(r))))
