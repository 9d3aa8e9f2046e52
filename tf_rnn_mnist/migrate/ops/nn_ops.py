"""Handlers of the convolutional front ends TF1 programs put before their RNNs (CRNN's conv
and pooling stack, DeepSpeech's conv1d windows, speech models' depthwise convolutions):
Conv2D (tf.layers.conv1d is ExpandDims, Conv2D, Squeeze), DepthwiseConv2dNative, MaxPool,
AvgPool, and FusedBatchNorm in inference mode (the moving statistics).

Kernels keep TF's layouts, which are Keras's: [h, w, in, out] and [h, w, in, multiplier]. A
graph laid out NCHW is computed NHWC between two transposes (what TensorFlow's CPU kernels
need too); TF's SAME padding is Keras's "same".
"""

from keras import ops

from tf_rnn_mnist.migrate.ops.registry import tf_op

_WINDOW_ATTRS = ("strides", "padding", "data_format", "dilations")


def _nchw(attrs):
  return attrs.get("data_format", "NHWC") == "NCHW"


def _spatial(values, attrs):
  """The two spatial entries of a 4-element NHWC/NCHW list (strides, dilations, ksize)."""
  values = list(values or [1, 1, 1, 1])
  return tuple(values[2:4] if _nchw(attrs) else values[1:3])


def _in_nhwc(compute):
  """`compute` on NHWC tensors, for a graph in either layout."""
  def run(args, attrs):
    x = args[0]
    if _nchw(attrs):
      x = ops.transpose(x, (0, 2, 3, 1))
    y = compute(x, args[1:], attrs)
    return ops.transpose(y, (0, 3, 1, 2)) if _nchw(attrs) else y
  return run


def _refuse_window(attrs):
  if attrs.get("padding") not in ("SAME", "VALID"):
    return f"padding {attrs.get('padding')!r} (SAME and VALID are converted)"
  batch_channels = (0, 1) if _nchw(attrs) else (0, 3)
  for key in ("ksize", "strides", "dilations"):
    values = attrs.get(key)
    if values and any(values[k] != 1 for k in batch_channels):
      return f"{key} {values} (a window over the batch or the channels)"
  return None


def _conv(x, rest, attrs):
  return ops.conv(x, rest[0], strides=_spatial(attrs.get("strides"), attrs),
                  padding=attrs["padding"].lower(), data_format="channels_last",
                  dilation_rate=_spatial(attrs.get("dilations"), attrs))


def _depthwise(x, rest, attrs):
  return ops.depthwise_conv(x, rest[0], strides=_spatial(attrs.get("strides"), attrs),
                            padding=attrs["padding"].lower(), data_format="channels_last",
                            dilation_rate=_spatial(attrs.get("dilations"), attrs))


tf_op("Conv2D", attrs=_WINDOW_ATTRS, refuse=_refuse_window)(_in_nhwc(_conv))
tf_op("DepthwiseConv2dNative", attrs=_WINDOW_ATTRS, refuse=_refuse_window)(_in_nhwc(_depthwise))


def _pool(pool):
  def compute(x, rest, attrs):
    return pool(x, _spatial(attrs["ksize"], attrs), strides=_spatial(attrs["strides"], attrs),
                padding=attrs["padding"].lower(), data_format="channels_last")
  return _in_nhwc(compute)


tf_op("MaxPool", attrs=("ksize", "strides", "padding", "data_format"),
      refuse=_refuse_window)(_pool(ops.max_pool))
# TF's AvgPool with SAME padding averages over the window's cells inside the input only;
# so does Keras's average_pool (checked against the graph on every backend by the tests).
tf_op("AvgPool", attrs=("ksize", "strides", "padding", "data_format"),
      refuse=_refuse_window)(_pool(ops.average_pool))


def _refuse_training(attrs):
  if attrs.get("is_training", True):
    return ("is_training=True (normalised by each batch's own statistics: training mode; "
            "build or feed the inference graph, is_training False)")
  return None


def _batch_norm(x, rest, attrs):
  """y = (x - moving mean) / sqrt(moving variance + epsilon) * scale + offset."""
  scale, offset, mean, variance = rest
  return (x - mean) * ops.rsqrt(variance + attrs.get("epsilon", 1e-4)) * scale + offset


for _op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
  # Outputs 1.. are the statistics a training step updates: nothing an inference graph reads
  # (a read of one is refused by name).
  tf_op(_op, attrs=("epsilon", "data_format", "is_training"),
        refuse=_refuse_training)(_in_nhwc(_batch_norm))
