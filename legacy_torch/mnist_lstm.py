"""Tutorial 004 (PyTorch LSTM on MNIST), as written.

Changes: the data comes from the project's verified loader instead of torchvision (which has no
CPU build here), with torchvision's exact scaling (ToTensor: float32 / 255); the deprecated
`Variable` wrappers are dropped (a no-op since PyTorch 0.4). Added: the legacy flags
(--train_steps overrides EPOCH epochs, --seed is torch.manual_seed, --save_state_dict,
--initial_state_dict, --batch_indices), and the full 10k test accuracy at the end.

    python -m legacy_torch.mnist_lstm [--train_steps=N] [--seed=S] [--results_json=PATH]
"""

import pickle
import sys

from absl import flags

from legacy_tf1 import common
from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.data import load_mnist, torch_split
from tf_rnn_mnist.errors import ConfigError

cli.install_stop_handlers()  # importing PyTorch takes seconds: a Ctrl-C is one line too
try:
  with cli.stops_end_quietly():
    import torch
    import torch.nn as nn
    import torch.utils.data as Data
except ImportError:
  sys.exit("error: legacy_torch needs PyTorch. Install the CPU build with "
           "`pip install torch==2.13.0` (or any torch >= 2.3; the default wheel is the CUDA build, "
           "2.7 GB, which runs on CPUs too), then run the script again.")

FLAGS = common.FLAGS
common.define_flags("1 epoch (938 steps)")
flags.DEFINE_string("save_state_dict", None, "Save the trained model's state_dict here.")
flags.DEFINE_string("save_initial_state_dict", None, "Save the initial state_dict (before "
                    "any update) here.")
flags.DEFINE_string("initial_state_dict", None, "Start from this state_dict instead of "
                    "PyTorch's random initialisation (matched runs).")
common.output_flags(save_state_dict="file", save_initial_state_dict="file")


def torch_scalar_writer():
  if not FLAGS.logdir:
    return None
  from torch.utils.tensorboard import SummaryWriter
  writer = SummaryWriter(FLAGS.logdir)

  def write(step, values):
    for tag, value in values.items():
      writer.add_scalar(tag, float(value), step)
    writer.flush()
  return write


# Hyper Parameters
EPOCH = 1               # train the training data n times, to save time, we just train 1 epoch
BATCH_SIZE = 64
LR = 0.01               # learning rate
TIME_STEP = 28          # 可理解为输入图像维度
INPUT_SIZE = 28


class RNN(nn.Module):
    def __init__(self):
        super(RNN, self).__init__()
        self.rnn = nn.LSTM(
            input_size=INPUT_SIZE,
            hidden_size=64,
            num_layers=1,
            batch_first=True
        )
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        r_out, (h_n, h_c) = self.rnn(x, None)
        out = self.out(r_out[:, -1, :])  # 数据格式为[batch,time_step,input],因此输出参考的是最后时刻的数据
        return out


def batches(train_data, train_loader):
    """The tutorial's DataLoader batches, or the recorded order of --batch_indices."""
    if not FLAGS.batch_indices:
        yield from enumerate(train_loader)
        return
    for step, indices in enumerate(common.load_batch_indices(len(train_data))):
        yield step, train_data[torch.from_numpy(indices)]


# One long function on purpose: it is the tutorial's script, kept line for line so that it can be
# diffed against the tutorial it ports (named in variants.py); the additions live in legacy_tf1/common.py.
def main(argv):
    del argv
    run = common.Run("torch_lstm", "pytorch", torch_scalar_writer())
    torch.manual_seed(FLAGS.seed)

    # Mnist digits dataset (the project's loader; torchvision's ToTensor scaling)
    mnist = torch_split(load_mnist(FLAGS.data_source, FLAGS.data_dir, FLAGS.verify_digests,
                                   FLAGS.tfds_data_dir))
    train_data = Data.TensorDataset(torch.from_numpy(mnist.train_images),
                                    torch.from_numpy(mnist.train_labels))
    # Data Loader for easy mini-batch return in training
    train_loader = Data.DataLoader(dataset=train_data, batch_size=BATCH_SIZE, shuffle=True)
    # pick 2000 samples to speed up testing
    test_x = torch.from_numpy(mnist.test_images)[:2000]  # shape (2000, 28, 28), value in range(0,1)
    test_y = mnist.test_labels[:2000]

    rnn = RNN()
    if FLAGS.initial_state_dict:
        try:
            # weights_only: a state_dict is tensors; never unpickle code from a file.
            rnn.load_state_dict(torch.load(FLAGS.initial_state_dict, weights_only=True))
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            # unreadable, not tensors only, or another model's state_dict
            raise ConfigError(f"--initial_state_dict={FLAGS.initial_state_dict} cannot "
                              f"initialise the tutorial's RNN: {str(e).splitlines()[0]}") from None
    if FLAGS.save_initial_state_dict:
        torch.save(rnn.state_dict(), FLAGS.save_initial_state_dict)
    print(rnn)  # net architecture
    loss_func = nn.CrossEntropyLoss()  # the target label is not one-hotted
    images, labels = common.initial_loss_batch(mnist.test_images, mnist.test_labels)
    with torch.no_grad():
        if common.measure_initial_losses(
                lambda: loss_func(RNN()(torch.from_numpy(images)), torch.from_numpy(labels)),
                images, labels):
            return
    optimizer = torch.optim.Adam(rnn.parameters(), lr=LR)  # optimize all cnn parameters

    def train_step(b_x, b_y):
        output = rnn(b_x)  # cnn output
        loss = loss_func(output, b_y)  # cross entropy loss
        optimizer.zero_grad()  # clear gradients for this training step
        loss.backward()  # backpropagation, compute gradients
        optimizer.step()  # apply gradients
        return loss, output

    total_steps = run.steps(EPOCH * len(train_loader))
    # Added: a recorded order must hold every update asked for, of the tutorial's batch size.
    common.load_batch_indices(len(train_data), total_steps, BATCH_SIZE)
    done, examples = 0, 0
    for epoch in range(-(-total_steps // len(train_loader))):
        for step, (x, y) in batches(train_data, train_loader):
            if done == total_steps:
                break
            b_x = x.view(-1, 28, 28)
            b_y = y
            loss, output = run.timed(train_step, b_x, b_y)
            done, examples = done + 1, examples + len(b_y)

            if step % 50 == 0:
                test_output = rnn(test_x)
                pred_y = torch.max(test_output, 1)[1].data.numpy().squeeze()
                accuracy = float((pred_y == test_y).astype(int).sum()) / float(test_y.size)
                run.train_metrics(done, loss.data.numpy(),
                                  float((torch.max(output, 1)[1] == b_y).float().mean()))
                run.test_metric(done, accuracy, test_y.size)
                print('Epoch: ', epoch, '| train loss: %.4f' % loss.data.numpy(), '| test accuracy: %.2f' % accuracy)

    # print 10 predictions from test data
    test_output = rnn(test_x[:10].view(-1, 28, 28))
    pred_y = torch.max(test_output, 1)[1].data.numpy().squeeze()
    print(pred_y, 'prediction number')
    print(test_y[:10], 'real number')

    with torch.no_grad():
        logits = run.timed_eval(len(mnist.test_images), rnn, torch.from_numpy(mnist.test_images))
        correct = logits.argmax(1).numpy() == mnist.test_labels
        run.save_test_outputs(logits.numpy(),
                              loss_func(logits, torch.from_numpy(mnist.test_labels)).item())
    if FLAGS.save_state_dict:
        torch.save(rnn.state_dict(), FLAGS.save_state_dict)
    run.finish(steps=done, batch_size=BATCH_SIZE, learning_rate=LR, examples=examples,
               test_accuracy=correct.mean(), test_examples=len(correct),
               tutorial_accuracy=correct[:2000].mean(), tutorial_examples=2000,
               packages=("torch", "numpy"))


if __name__ == "__main__":
    common.run_main(main)
