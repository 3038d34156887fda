"""Small stand-ins for the metrics tests: a linear generator and a TFRecord writer.

The metrics only use the generator interface of DESIGN.md (``mapping``, ``synthesis``,
``__call__``, ``config``, ``dlatent_avg``), so a generator that is linear in w, whose answers
are known in closed form, exercises them without the real networks.
"""

import os

import numpy as np
import tensorflow as tf

from tf_stylegan.config import NetworkConfig


class _Synthesis:
    def __init__(self, G, explicit_noise=True):
        self.G = G
        if explicit_noise:
            self.noise_shapes = lambda resolution=None: [G.config.resolution] * 2

    def __call__(self, w, noise="random"):
        G = self.G
        cfg = G.config
        r, c = cfg.resolution, cfg.num_channels
        x = tf.reshape(tf.matmul(w[:, 0], G.B), [-1, r, r, c])
        if G.noise_strength:
            if isinstance(noise, str):
                if noise == "random":
                    n = tf.random.normal(tf.concat([tf.shape(x)[:3], [1]], 0))
                elif noise == "const":
                    n = G.noise_buffer
                else:
                    n = tf.zeros([1, r, r, 1])
            else:
                n = noise[0] + noise[1]
            x = x + G.noise_strength * G.noise_mask * n
        return x


class LinearGenerator(tf.Module):
    """w = (z @ A) broadcast to every layer; image = reshape(w[:, 0] @ B) + noise.

    Args:
        A: [latent_size, dlatent_size]. B: [dlatent_size, R*R*C] (NHWC pixel order).
        resolution, num_channels: image shape.
        noise_strength: float. Noise (masked by `noise_mask` [1, R, R, 1]) added per pixel.
        explicit_noise: bool. Offer `synthesis.noise_shapes` (explicit per-call noise, like
            tf_stylegan's Synthesis); else only stored `noise_buffers`.
    """

    def __init__(self, A, B, resolution, num_channels=3, noise_strength=0.0, noise_mask=None,
                 explicit_noise=True, label_size=0):
        super().__init__()
        A = np.asarray(A, np.float32)
        self.config = NetworkConfig(resolution=resolution, num_channels=num_channels,
                                    latent_size=A.shape[0], dlatent_size=A.shape[1],
                                    label_size=label_size)
        self.A = tf.constant(A)
        self.B = tf.constant(np.asarray(B, np.float32))
        self.noise_strength = float(noise_strength)
        mask = np.ones([1, resolution, resolution, 1]) if noise_mask is None else noise_mask
        self.noise_mask = tf.constant(np.asarray(mask, np.float32))
        self.noise_buffer = tf.Variable(tf.random.normal([1, resolution, resolution, 1]),
                                        trainable=False, name="noise_buffer")
        self.dlatent_avg = tf.Variable(tf.zeros([A.shape[1]]), trainable=False)
        self.synthesis = _Synthesis(self, explicit_noise)
        if not explicit_noise:
            self.synthesis.noise_buffers = [self.noise_buffer]
        self.calls = []

    def mapping(self, z, labels=None):
        w = tf.matmul(tf.convert_to_tensor(z, tf.float32), self.A)
        return tf.tile(w[:, None, :], [1, self.config.num_layers, 1])

    def __call__(self, z, labels=None, truncation_psi=0.7, noise="random", **kwargs):
        self.calls.append(dict(truncation_psi=truncation_psi, noise=noise, labels=labels))
        return self.synthesis(self.mapping(z, labels), noise=noise)


def random_linear_generator(resolution=32, latent_size=8, num_channels=3, seed=0):
    """A LinearGenerator with random A, B giving images of about unit scale."""
    rng = np.random.RandomState(seed)
    A = rng.standard_normal([latent_size, latent_size]) / np.sqrt(latent_size)
    B = rng.standard_normal([latent_size, resolution * resolution * num_channels]) * 0.3
    return LinearGenerator(A, B, resolution, num_channels)


def write_tfrecord_dataset(tfrecord_dir, images, labels=None):
    """Writes uint8 NHWC `images` as the official pyramid (`<name>-rNN.tfrecords`, every level
    down to 4x4 by 2x2 box averaging, records `shape` [C,H,W] and raw CHW `data`)."""
    os.makedirs(tfrecord_dir, exist_ok=True)
    name = os.path.basename(os.path.normpath(tfrecord_dir))
    images = np.asarray(images, np.uint8)
    level = images.astype(np.float32)
    res_log2 = int(np.log2(images.shape[1]))
    for lg in range(res_log2, 1, -1):
        path = os.path.join(tfrecord_dir, f"{name}-r{lg:02d}.tfrecords")
        with tf.io.TFRecordWriter(path) as writer:
            for img in np.rint(level).clip(0, 255).astype(np.uint8):
                chw = img.transpose(2, 0, 1)
                example = tf.train.Example(features=tf.train.Features(feature={
                    "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=chw.shape)),
                    "data": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[chw.tobytes()])),
                }))
                writer.write(example.SerializeToString())
        n, h, w, c = level.shape
        level = level.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    if labels is not None:
        with open(os.path.join(tfrecord_dir, f"{name}-rxx.labels"), "wb") as f:
            np.save(f, np.asarray(labels, np.float32))


def write_tiny_inception_graph(path, features=2048):
    """A GraphDef shaped like classify_image_graph_def.pb: DecodeJpeg -> Cast -> ExpandDims
    (batch fixed at 1) -> ResizeBilinear 299 -> Sub 128 -> Mul 1/128 -> ... -> pool_3
    [1, 1, 1, features] -> a softmax head whose Reshape is hard-wired to batch 1."""
    graph = tf.Graph()
    rng = np.random.RandomState(0)
    with graph.as_default():
        contents = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        x = tf.cast(tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg"), tf.float32,
                    name="Cast")
        x = tf.expand_dims(x, 0, name="ExpandDims")
        assert x.shape.as_list() == [1, None, None, 3]
        x = tf.compat.v1.image.resize_bilinear(x, tf.constant([299, 299]), name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
        x = tf.nn.avg_pool2d(x, 37, 37, "VALID")  # [1, 8, 8, 3]
        kernel = tf.constant(rng.standard_normal([1, 1, 3, features]).astype(np.float32))
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "VALID"))
        pool = tf.nn.avg_pool2d(x, 8, 8, "VALID", name="pool_3")
        assert pool.shape.as_list() == [1, 1, 1, features]
        head = tf.reshape(pool, [1, features], name="pool_3/_reshape")
        logits = tf.matmul(head, tf.constant(rng.standard_normal([features, 5]), tf.float32))
        tf.nn.softmax(logits, name="softmax")
    tf.io.write_graph(graph.as_graph_def(), os.path.dirname(path), os.path.basename(path),
                      as_text=False)
    return graph
