"""MNIST for the ports: byte-exact, verified, from whichever source the network allows.

    mnist = load_mnist()                  # uint8, official order, digests verified
    tf1 = tf1_split(mnist, seed=0)        # TF1's read_data_sets(one_hot=True) + next_batch
    torch_data = torch_split(mnist)       # the PyTorch tutorial's 60000 / 10000, float32 /255
    TF1_SPLIT.datasets(mnist)             # a tutorial's split as the trainer reads it (tutorial_splits)

The tf.data index pipelines live in `pipelines`, imported on demand so that loading the data
does not pay for importing TensorFlow. Its command is tools/data.py (`python -m tf_rnn_mnist
data`): nothing here imports the plumbing above it.

May import: base.
"""

from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.data.sources import Mnist, SOURCES, default_cache_dir, load_mnist
from tf_rnn_mnist.data.splits import (ReplayOrder, TF1BatchOrder, TF1DataSet, TF1Datasets, TorchSplit,
                                      one_hot, tf1_scale, tf1_split, torch_scale, torch_split)
