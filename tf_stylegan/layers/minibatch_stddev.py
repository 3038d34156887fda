"""Minibatch standard deviation (ProGAN section 3), the last block of the discriminator."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_stylegan")
class MinibatchStddev(keras.layers.Layer):
    """Appends the average standard deviation over groups of samples as extra feature maps.

    As the official `minibatch_stddev_layer`: the group size is `min(group_size, N)`, and the
    groups are strided: with M = N / G groups, sample i belongs to group i mod M. For each group
    the std over its members (`sqrt(var + 1e-8)`) is averaged over the pixels and the channels of
    each of `num_new_features` channel slices, then tiled over the group's samples and pixels.
    N must be divisible by the group size.

    Args:
        group_size: int. Maximum group size (4 in the paper).
        num_new_features: int. Feature maps appended (1 in the paper).
    """

    def __init__(self, group_size=4, num_new_features=1, **kwargs):
        super().__init__(**kwargs)
        self.group_size = int(group_size)
        self.num_new_features = int(num_new_features)

    def call(self, x):
        n_f = self.num_new_features
        _, h, w, c = x.shape
        batch = tf.shape(x)[0]
        g = tf.minimum(self.group_size, batch)
        tf.debugging.assert_equal(
            batch % g, 0,
            message=f"MinibatchStddev: the batch must be divisible by group_size={self.group_size}",
        )
        y = tf.reshape(x, [g, -1, h, w, n_f, c // n_f])  # [G, M, H, W, n, C/n]
        y = tf.cast(y, tf.float32)
        y = y - tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.reduce_mean(tf.square(y), axis=0)  # [M, H, W, n, C/n]
        y = tf.sqrt(y + 1e-8)
        y = tf.reduce_mean(y, axis=[1, 2, 4])  # [M, n]
        y = tf.cast(y, x.dtype)
        y = tf.reshape(y, [-1, 1, 1, n_f])
        y = tf.tile(y, [g, h, w, 1])  # [N, H, W, n]; sample i takes group i mod M
        return tf.concat([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], input_shape[3] + self.num_new_features)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_new_features": self.num_new_features}
