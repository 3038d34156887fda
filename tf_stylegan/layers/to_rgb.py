"""StyleGAN2's ToRGB: a modulated 1x1 convolution without demodulation, plus a bias (official
`torgb` in `G_synthesis_stylegan2`, NVlabs/stylegan2 `training/networks_stylegan2.py`)."""

import keras

from tf_stylegan.layers.equalized import bias_act
from tf_stylegan.layers.modulated_conv import ModulatedConv2D


@keras.saving.register_keras_serializable(package="tf_stylegan")
class ToRGB(keras.layers.Layer):
    """Features -> image: `conv1x1(x * s, W * c) + b`, linear, with `s = affine(w) + 1`.

    The style modulates the input channels as in every StyleGAN2 convolution, but the output is
    not demodulated (the image keeps its scale) and no noise is added. `c = 1 / sqrt(C)`.

    Args:
        channels: int. Image channels (3 for RGB).
        conv_clamp: float or None. Clip the output to [-conv_clamp, conv_clamp]
            (stylegan2-ada-pytorch `ToRGBLayer`, `networks.py:323`).

    Call arguments:
        x: [N, H, W, C] features.
        w: [N, dlatent_size] the dlatent of this ToRGB (official index 2 * log2(H) - 3).

    Returns:
        [N, H, W, channels].
    """

    def __init__(self, channels, conv_clamp=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.conv = ModulatedConv2D(self.channels, 1, demodulate=False, name="conv",
                                    dtype=self.dtype_policy)

    def build(self, x_shape, w_shape=None):
        if w_shape is None:  # Built from a single shape by Keras' build_from_config.
            raise ValueError("ToRGB.build needs the shapes of x and w.")
        self.conv.build(x_shape, w_shape)
        self.bias = self.add_weight(
            name="bias", shape=(self.channels,), initializer="zeros", trainable=True
        )

    def call(self, x, w):
        return bias_act(self.conv(x, w), self.bias, "linear", clamp=self.conv_clamp)

    def compute_output_shape(self, x_shape, w_shape=None):
        return (*x_shape[:3], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "conv_clamp": self.conv_clamp}
