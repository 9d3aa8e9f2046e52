"""Handlers of TF1's array and shape ops: reshapes, slices, gathers, concatenation, padding,
and the integer arithmetic TF1 graphs do on shapes (evaluated in numpy where known)."""

import keras
import numpy as np
from keras import ops

from tf_rnn_mnist.migrate.ops.registry import (dtype_name, known, scalar, static, tf_op)
from tf_rnn_mnist.migrate.ops.shape_inference import reshape_shape, static_tensor


def _common(arrays):
  return [a.astype(object) for a in arrays] if any(a.dtype == object for a in arrays) else arrays


def _shape_of(x, dtype="int32"):
  """tf.shape: numpy when every dim is static (always so within JAX's jit, on PyTorch, and in
  TensorFlow's eager mode), so that what a graph computes from it (a Reshape's target, a
  Range's limit, a Gather's offsets) stays static too: JAX and PyTorch need Python ints there."""
  dims = tuple(x.shape)
  if all(isinstance(d, (int, np.integer)) for d in dims):
    return np.asarray(dims, dtype=dtype)
  return ops.stack([ops.cast(d, dtype) for d in ops.shape(x)])


def _shape_spec(attrs, specs):
  dims = np.array([None if d is None else int(d) for d in specs[0][1]], dtype=object)
  return static_tensor(dims, dtype_name(attrs.get("out_type", "int32")))


@tf_op("Shape", attrs=("out_type",), spec=_shape_spec)
def _shape(args, attrs):
  return _shape_of(args[0], dtype_name(attrs.get("out_type", "int32")))


def _size_of(x, dtype):
  """tf.size: numpy when every dim is static (as tf.shape), else the product of the dims."""
  dims = tuple(x.shape)
  if all(isinstance(d, (int, np.integer)) for d in dims):
    return np.asarray(int(np.prod(dims, dtype=np.int64)), dtype=dtype)
  return ops.cast(ops.prod(ops.shape(x)), dtype)


@tf_op("Size", attrs=("out_type",))
def _size(args, attrs):
  return _size_of(args[0], dtype_name(attrs.get("out_type", "int32")))


def _cast_dtype(attrs, dtypes):
  return dtype_name(attrs["DstT"])


@tf_op("Cast", attrs=("DstT",), fold=lambda args, attrs: args[0], fold_dtype=_cast_dtype)
def _cast(args, attrs):
  return ops.cast(args[0], dtype_name(attrs["DstT"]))


@tf_op("Reshape", fold=lambda args, attrs: np.reshape(args[0], known(args[1]).reshape(-1).tolist()),
       spec=lambda attrs, specs: keras.KerasTensor(reshape_shape(specs[0][1], specs[1]),
                                                   dtype=specs[0][2]))
def _reshape(args, attrs):
  return ops.reshape(args[0], static(args[1]))


@tf_op("Transpose")
def _transpose(args, attrs):
  return ops.transpose(args[0], static(args[1]))


@tf_op("ConcatV2", fold=lambda args, attrs: np.concatenate(_common(args[:-1]),
                                                         axis=int(known(args[-1]))))
def _concat(args, attrs):
  return ops.concatenate(list(args[:-1]), axis=int(static(args[-1])))


@tf_op("Pack", attrs=("axis",),
       fold=lambda args, attrs: np.stack(_common(args), axis=attrs.get("axis", 0)))
def _pack(args, attrs):
  return ops.stack(list(args), axis=attrs.get("axis", 0))


@tf_op("Unpack", attrs=("num", "axis"), outputs=lambda attrs: attrs["num"])
def _unpack(args, attrs):
  return ops.unstack(args[0], num=attrs["num"], axis=attrs.get("axis", 0))


def _slice_index(begin, end, strides, attrs):
  masks = {k: attrs.get(k, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                        "new_axis_mask", "shrink_axis_mask")}
  index = []
  for i in range(len(begin)):
    bit = 1 << i
    if masks["ellipsis_mask"] & bit:
      index.append(Ellipsis)
    elif masks["new_axis_mask"] & bit:
      index.append(None)
    elif masks["shrink_axis_mask"] & bit:
      index.append(int(begin[i]))
    else:
      index.append(slice(None if masks["begin_mask"] & bit else int(begin[i]),
                         None if masks["end_mask"] & bit else int(end[i]), int(strides[i])))
  return tuple(index)


@tf_op("StridedSlice", attrs=("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                              "shrink_axis_mask"),
       fold=lambda args, attrs: args[0][_slice_index(*(known(a).reshape(-1) for a in args[1:4]),
                                                     attrs)])
def _strided_slice(args, attrs):
  begin, end, strides = (np.asarray(static(v)).reshape(-1) for v in args[1:4])
  return args[0][_slice_index(begin, end, strides, attrs)]


def _fold_slice(args, attrs):
  begin, size = (known(a).reshape(-1) for a in args[1:3])
  return args[0][tuple(slice(int(b), None if s == -1 else int(b + s))
                       for b, s in zip(begin, size))]


@tf_op("Slice", fold=_fold_slice)
def _slice(args, attrs):
  begin, size = (np.asarray(static(v)).reshape(-1) for v in args[1:])
  return ops.slice(args[0], begin.tolist(), size.tolist())


def _range_dtype(attrs, dtypes):
  return dtype_name(attrs.get("Tidx", dtypes[0]))


@tf_op("Range", attrs=("Tidx",), fold_dtype=_range_dtype,
       fold=lambda args, attrs: np.arange(*(known(a).item() for a in args)),
       spec=lambda attrs, specs: keras.KerasTensor((None,), dtype=_range_dtype(
           attrs, [s[2] for s in specs])))
def _range(args, attrs):  # bounds as Python numbers where they can be had (PyTorch: no tensor)
  dtype = dtype_name(attrs.get("Tidx") or keras.backend.standardize_dtype(args[0].dtype))
  return ops.arange(*(scalar(a) for a in args), dtype=dtype)


def _axis(value):
  """A 0-d or one-element axis argument (tf.expand_dims(x, [-1]) gives [-1]) as an int."""
  values = np.reshape(value, -1)
  if values.size != 1:
    raise ValueError(f"an axis of {values.size} elements")
  return int(values[0])


@tf_op("ExpandDims", fold=lambda args, attrs: np.expand_dims(args[0], _axis(known(args[1]))))
def _expand_dims(args, attrs):
  return ops.expand_dims(args[0], _axis(static(args[1])))


def _squeezed(x, attrs):
  return tuple(attrs.get("squeeze_dims") or [i for i, d in enumerate(x.shape) if d == 1])


@tf_op("Squeeze", attrs=("squeeze_dims",),
       fold=lambda args, attrs: np.squeeze(args[0], axis=_squeezed(args[0], attrs)))
def _squeeze(args, attrs):
  return ops.squeeze(args[0], axis=_squeezed(args[0], attrs))


@tf_op("GatherV2", attrs=("batch_dims",),
       fold=lambda args, attrs: np.take(args[0], known(args[1]), axis=int(known(args[2]))))
def _gather_v2(args, attrs):
  if attrs.get("batch_dims"):
    raise ValueError("GatherV2 with batch_dims has no Keras translation here")
  return ops.take(args[0], args[1], axis=int(static(args[2])))


@tf_op("Gather", fold=lambda args, attrs: np.take(args[0], known(args[1]), axis=0))
def _gather(args, attrs):
  return ops.take(args[0], args[1], axis=0)


@tf_op("GatherNd")
def _gather_nd(args, attrs):
  """tf.gather_nd: the last axis of `indices` indexes the leading axes of `params`, as one
  index into those axes flattened (Keras has no gather_nd)."""
  params, indices = args
  depth = indices.shape[-1]
  if depth is None:
    raise ValueError("GatherNd with an index depth unknown before the run is not converted")
  dims = ops.shape(params)
  flat = ops.reshape(params, (-1,) + tuple(params.shape[depth:]))
  linear = ops.zeros(ops.shape(indices)[:-1], dtype=indices.dtype)
  for k in range(depth):
    linear = linear * ops.cast(dims[k], indices.dtype) + indices[..., k]
  return ops.take(flat, linear, axis=0)


@tf_op("Fill", fold_dtype=lambda attrs, dtypes: dtypes[1],
       fold=lambda args, attrs: np.full(known(args[0]).reshape(-1).tolist(), args[1],
                                        dtype=args[1].dtype),
       spec=lambda attrs, specs: keras.KerasTensor(reshape_shape((None,), specs[0]),
                                                   dtype=specs[1][2]))
def _fill(args, attrs):
  return ops.full(static(args[0]), args[1])


@tf_op("Tile", fold=lambda args, attrs: np.tile(args[0], known(args[1]).reshape(-1).tolist()))
def _tile(args, attrs):
  return ops.tile(args[0], static(args[1]))


@tf_op("ReverseV2")
def _reverse(args, attrs):
  return ops.flip(args[0], axis=tuple(np.reshape(static(args[1]), -1).tolist()))


@tf_op("ReverseSequence", attrs=("seq_dim", "batch_dim"),
       spec=lambda attrs, specs: keras.KerasTensor(specs[0][1], dtype=specs[0][2]))
def _reverse_sequence(args, attrs):
  """tf.reverse_sequence: each example's first `length` steps reversed, the rest kept."""
  x, lengths = args
  seq_axis, batch_axis = attrs["seq_dim"], attrs.get("batch_dim", 0)
  perm = [batch_axis, seq_axis] + [a for a in range(len(x.shape)) if a not in (batch_axis,
                                                                                 seq_axis)]
  moved = ops.transpose(x, perm)
  steps = ops.shape(moved)[1]
  t = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
  lengths = ops.expand_dims(ops.cast(lengths, "int32"), 1)
  index = ops.where(t < lengths, lengths - 1 - t, t)
  index = ops.reshape(index, ops.shape(index) + (1,) * (len(moved.shape) - 2))
  gathered = ops.take_along_axis(moved, ops.broadcast_to(index, ops.shape(moved)), axis=1)
  return ops.transpose(gathered, list(np.argsort(perm)))


@tf_op("Split", attrs=("num_split",), outputs=lambda attrs: attrs["num_split"])
def _split(args, attrs):
  axis, x = args
  return ops.split(x, int(attrs["num_split"]), axis=int(static(axis)))


@tf_op("SplitV", attrs=("num_split",), outputs=lambda attrs: attrs["num_split"])
def _split_v(args, attrs):
  x, sizes, axis = args
  sizes = np.asarray(static(sizes)).reshape(-1).tolist()
  return ops.split(x, np.cumsum(sizes)[:-1].tolist(), axis=int(static(axis)))


@tf_op("OneHot", attrs=("axis",))
def _one_hot(args, attrs):
  indices, depth, on, off = args
  hot = ops.one_hot(indices, int(static(depth)), axis=attrs.get("axis", -1))
  return hot * on + (1 - hot) * off


def _padding(args):
  return [tuple(int(v) for v in row) for row in np.asarray(static(args[1])).reshape(-1, 2)]


@tf_op("Pad")
def _pad(args, attrs):
  return ops.pad(args[0], _padding(args))


@tf_op("PadV2")
def _pad_v2(args, attrs):
  return ops.pad(args[0], _padding(args), constant_values=scalar(args[2]))


@tf_op("MirrorPad", attrs=("mode",))
def _mirror_pad(args, attrs):
  mode = attrs["mode"].lower()  # TF's REFLECT and SYMMETRIC are numpy's (Keras's) modes
  return ops.pad(args[0], _padding(args), mode=mode)
