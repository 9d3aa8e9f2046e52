# GPU image of the trainer: `docker run --gpus all IMAGE --variant=multilayer`.
# TensorFlow 2.21 with its CUDA and cuDNN wheels (tensorflow[and-cuda]) on a slim Python: the
# host needs only the NVIDIA driver and the NVIDIA Container Toolkit.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=1 \
    XDG_CACHE_HOME=/cache \
    TFDS_DATA_DIR=/cache/tensorflow_datasets

WORKDIR /opt/tf_rnn_mnist
COPY setup.cfg pyproject.toml README.md ./
COPY tf_rnn_mnist ./tf_rnn_mnist
COPY legacy_tf1 ./legacy_tf1
COPY legacy_torch ./legacy_torch
# The versions are pinned in setup.cfg (tensorflow[and-cuda]~=2.21.0 and the rest).
# hadolint ignore=DL3013
RUN pip install ".[gpu]" \
    && useradd --create-home --uid 1000 trainer \
    && mkdir -p /cache /runs \
    && chown trainer:trainer /cache /runs

USER 1000:1000
# MNIST is fetched once into /cache/tf_rnn_mnist; checkpoints, TensorBoard scalars, results and
# exports go under /runs (pass --model_dir=/runs/NAME to keep and resume a run).
VOLUME ["/cache", "/runs"]
WORKDIR /runs
ENTRYPOINT ["python", "-m", "tf_rnn_mnist.train"]
CMD ["--variant=multilayer"]
