# The trainer's image: `docker run --gpus all IMAGE --variant=multilayer`.
# GPU (default): TensorFlow 2.21 with its CUDA and cuDNN wheels (tensorflow[and-cuda]) on a slim
# Python; the host needs only the NVIDIA driver and the NVIDIA Container Toolkit.
# CPU: --build-arg EXTRA= (no CUDA wheels). BASE_IMAGE: any python:3.11-slim equivalent, e.g. a
# locally built one where no registry is reachable (scripts/check_image.sh).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG EXTRA=gpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_CACHE_HOME=/cache \
    TFDS_DATA_DIR=/cache/tensorflow_datasets \
    MPLCONFIGDIR=/cache/matplotlib \
    CUDA_CACHE_PATH=/cache/nv \
    CUDA_CACHE_MAXSIZE=4294967296

# tini as PID 1: forwards `docker stop`'s SIGTERM to the trainer (which then checkpoints and
# exits 143) and reaps the processes that compare and bench start.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tf_rnn_mnist
# The dependencies first, from setup.cfg alone (empty packages and an empty README stand in for
# the sources), so that editing a source file or the README reuses this layer of gigabytes.
# setuptools and wheel are installed here so that the sources' layer builds without a network.
COPY setup.cfg pyproject.toml ./
# The versions are pinned in setup.cfg (tensorflow~=2.21.0 and the rest).
# hadolint ignore=DL3013
RUN mkdir -p tf_rnn_mnist legacy_tf1 legacy_torch \
    && touch tf_rnn_mnist/__init__.py legacy_tf1/__init__.py legacy_torch/__init__.py README.md \
    && pip install "setuptools>=70.1" wheel ".${EXTRA:+[$EXTRA]}" \
    && pip uninstall -y tf_rnn_mnist \
    && rm -rf tf_rnn_mnist legacy_tf1 legacy_torch build ./*.egg-info README.md \
    && useradd --create-home --uid 1000 trainer \
    && mkdir -p /cache /runs \
    && chown trainer:trainer /cache /runs
COPY README.md ./
COPY tf_rnn_mnist ./tf_rnn_mnist
COPY legacy_tf1 ./legacy_tf1
COPY legacy_torch ./legacy_torch
# hadolint ignore=DL3013
RUN pip install --no-deps --no-build-isolation . && rm -rf build ./*.egg-info

USER 1000:1000
# MNIST is fetched once into /cache/tf_rnn_mnist, and the GPU kernels TensorFlow JIT-compiles
# from PTX on GPUs newer than its wheels (compute capability 9.0 and up) are kept in /cache/nv;
# checkpoints, TensorBoard scalars, results and exports go under /runs (--model_dir=/runs/NAME
# keeps a run and resumes it).
VOLUME ["/cache", "/runs"]
WORKDIR /runs
STOPSIGNAL SIGTERM
# One entrypoint for every tool: `IMAGE compare ...`, `IMAGE migrate ...`; a first argument that
# is a flag means the trainer (tf_rnn_mnist/__main__.py).
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "tf_rnn_mnist"]
CMD ["--variant=multilayer"]
