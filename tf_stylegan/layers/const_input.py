"""The learned constant input of the StyleGAN2 synthesis network (official `4x4/Const`)."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_stylegan")
class ConstantInput(keras.layers.Layer):
    """A learned [1, size, size, channels] tensor, initialised N(0, 1), tiled over the batch.

    Official `G_synthesis_stylegan2`: `const` [1, C, 4, 4] (NCHW) with a random-normal
    initializer, where StyleGAN initialised it to ones. It has no noise, bias or style of its
    own: the first modulated convolution follows it.

    Args:
        channels: int. Feature maps.
        size: int. Spatial size (4 in the official networks).

    Call arguments:
        w: any tensor whose first axis is the batch (the dlatents); only its batch size is used.

    Returns:
        [N, size, size, channels].
    """

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.size = int(size)

    def build(self, input_shape=None):
        self.const = self.add_weight(
            name="const", shape=(1, self.size, self.size, self.channels),
            initializer=keras.initializers.RandomNormal(stddev=1.0), trainable=True,
        )

    def call(self, w):
        return tf.tile(tf.cast(self.const, self.compute_dtype), [tf.shape(w)[0], 1, 1, 1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}
