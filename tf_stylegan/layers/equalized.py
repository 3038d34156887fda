"""Equalized learning rate dense and convolution layers, and the separate bias.

StyleGAN (Karras et al. 2019, section 2 and appendix C) inherits the equalized learning rate of
ProGAN: a weight is stored as N(0, 1/lrmul) and scaled at runtime by `lrmul * gain / sqrt(fan_in)`,
so that every layer learns at the same speed under Adam. The official code keeps the bias in a
separate op (`apply_bias`, multiplied by lrmul); the synthesis network adds it after the noise, so
the bias here is optional and also available as the stand-alone `Bias` layer.

StyleGAN2 keeps the weight rule but uses gain 1 in every weight and multiplies by the activation's
gain (sqrt(2) for leaky ReLU) after the activation (official `fused_bias_act`): `act_gain` of
`EqualizedDense` and the `bias_act` function.
"""

import math

import keras
import tensorflow as tf

from tf_stylegan.layers.resample import downscale2d, upscale2d

_LRELU_ALPHA = 0.2
# Output (up) / input (down) size from which resampling convs always use the fused form: the
# measured crossover on CPU (bench/RESULTS.md); below it the fused form is slower.
_FUSED_FROM_SIZE = 32


def _scale_cheaper(x, weight, coef):
    """(x, weight) with `coef` applied to the smaller of the two: `conv(x, w * c) =
    conv(x * c, w)`. With 512x512x3x3 weights and 4x4 or 8x8 activations scaling
    the input is 10-100x less work (and its gradient too); at high resolution the weight is
    the smaller one. Needs a static input shape; otherwise the weight is scaled."""
    w = tf.cast(weight, x.dtype)
    if x.shape.is_fully_defined() and x.shape.num_elements() < weight.shape.num_elements():
        return x * tf.cast(coef, x.dtype), w
    return x, w * coef


# Gain applied after each activation by StyleGAN2's `fused_bias_act` (its `activation_funcs`).
ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2)}


def _activate(x, activation):
    if activation == "lrelu":
        return tf.nn.leaky_relu(x, alpha=_LRELU_ALPHA)
    return x


def bias_act(x, bias=None, activation="linear", lrmul=1.0, gain=None, clamp=None):
    """`act(x + bias * lrmul) * gain`, StyleGAN2's `apply_bias_act` / `fused_bias_act`.

    The bias [C] is added on the last axis (NHWC channels, dense features). `gain` defaults to
    the activation's official gain: sqrt(2) for "lrelu" (alpha 0.2), 1 for "linear". With
    `clamp` (a positive number), the result is then clipped to [-clamp, clamp], as
    stylegan2-ada-pytorch's `bias_act(..., clamp=)` does (`torch_utils/ops/bias_act.py`: the
    clamp follows the gain).
    """
    _check_activation(activation)
    if bias is not None:
        x = x + tf.cast(bias, x.dtype) * lrmul
    x = _activate(x, activation)
    gain = ACTIVATION_GAINS[activation] if gain is None else gain
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = tf.clip_by_value(x, -float(clamp), float(clamp))
    return x


def _check_activation(activation):
    if activation not in ("linear", "lrelu"):
        raise ValueError(
            f"`activation` must be 'linear' or 'lrelu'. Received: activation={activation!r}"
        )


def weight_coefficients(fan_in, gain, lrmul, use_wscale):
    """Returns (init_std, runtime_coef) of an equalized-LR weight, as the official `get_weight`."""
    he_std = gain / math.sqrt(fan_in)
    if use_wscale:
        return 1.0 / lrmul, he_std * lrmul
    return he_std / lrmul, lrmul


@keras.saving.register_keras_serializable(package="tf_stylegan")
class Bias(keras.layers.Layer):
    """Adds a learned per-channel bias (zero init) scaled at runtime by `lrmul`.

    Args:
        lrmul: float. Learning-rate multiplier of the bias.
    """

    def __init__(self, lrmul=1.0, **kwargs):
        super().__init__(**kwargs)
        self.lrmul = float(lrmul)

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias", shape=(input_shape[-1],), initializer="zeros", trainable=True
        )

    def call(self, x):
        b = tf.cast(self.bias, x.dtype)
        if self.lrmul != 1.0:
            b = b * self.lrmul
        return x + b

    def get_config(self):
        return {**super().get_config(), "lrmul": self.lrmul}


@keras.saving.register_keras_serializable(package="tf_stylegan")
class EqualizedDense(keras.layers.Layer):
    """Fully connected layer with equalized learning rate: `act((x @ W) * c + b * lrmul) * g`.

    `W` is initialised N(0, 1/lrmul) and `c = lrmul * gain / sqrt(fan_in)` (official `dense` +
    `apply_bias`). Inputs with more than two axes are flattened, as the official layer does.
    StyleGAN puts the activation's gain into `gain` (sqrt(2)) and has `g = act_gain = 1`;
    StyleGAN2 uses `gain=1` and `act_gain=sqrt(2)` after leaky ReLU (official `fused_bias_act`).

    Args:
        units: int. Output features.
        gain: float. He-init gain: sqrt(2) for lrelu layers, 1 for linear outputs.
        lrmul: float. Learning-rate multiplier (0.01 in the mapping network).
        use_wscale: bool. Equalized learning rate (False: He init, coefficient lrmul).
        use_bias: bool. Add the bias (zero init, times lrmul).
        activation: "linear" | "lrelu" (leaky ReLU, alpha 0.2).
        act_gain: float. Multiplies the output after the activation.
    """

    def __init__(self, units, gain=math.sqrt(2), lrmul=1.0, use_wscale=True, use_bias=True,
                 activation="linear", act_gain=1.0, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        self.units = int(units)
        self.gain = float(gain)
        self.lrmul = float(lrmul)
        self.use_wscale = bool(use_wscale)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self.act_gain = float(act_gain)

    def build(self, input_shape):
        fan_in = int(math.prod(input_shape[1:]))
        init_std, self.runtime_coef = weight_coefficients(
            fan_in, self.gain, self.lrmul, self.use_wscale
        )
        self.weight = self.add_weight(
            name="weight", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=init_std), trainable=True,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer="zeros", trainable=True
            )

    def call(self, x):
        if len(x.shape) > 2:
            x = tf.reshape(x, [-1, self.weight.shape[0]])
        # The weight is always the one scaled here: as the official `dense`, so the mapping
        # network reproduces official dlatents to 1e-6 (tests/tf_stylegan/test_legacy.py).
        w = tf.cast(self.weight, x.dtype) * self.runtime_coef
        x = tf.matmul(x, w)
        if self.use_bias:
            x = x + tf.cast(self.bias, x.dtype) * self.lrmul
        x = _activate(x, self.activation)
        return x if self.act_gain == 1.0 else x * self.act_gain

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "gain": self.gain, "lrmul": self.lrmul,
            "use_wscale": self.use_wscale, "use_bias": self.use_bias,
            "activation": self.activation, "act_gain": self.act_gain,
        }


@keras.saving.register_keras_serializable(package="tf_stylegan")
class EqualizedConv2D(keras.layers.Layer):
    """2-D convolution (SAME, NHWC) with equalized learning rate and optional 2x resampling.

    Computes `act(conv(x, W * c) + b * lrmul)`, `W` of shape [k, k, in, out] (the official layout)
    with `c = lrmul * gain / sqrt(k*k*in)`. With `resample`:
      - "up": nearest 2x upscale then conv (official `upscale2d` + `conv2d`). In the fused form
        (official `upscale2d_conv2d`, used by G where the output is >= 128 px) the 3x3 kernel is
        padded to 5x5, its four 1-px shifts summed into a 4x4 kernel and applied as a stride-2
        transposed convolution. That equals upscale + conv with the kernel flipped spatially, so
        official weights load as they are into either form by flipping only between forms.
      - "down": conv then 2x2 box average (official `conv2d` + `downscale2d`). The fused form
        (official `conv2d_downscale2d`, used by D where the input is >= 128 px) is the same 4x4
        kernel times 0.25 in a stride-2 conv, exactly equal to conv + average.

    Args:
        filters: int. Output channels.
        kernel_size: int. Odd kernel size.
        gain, lrmul, use_wscale, use_bias, activation: as in `EqualizedDense`.
        resample: None | "up" | "down".
        fused: bool. Use the fused resampling form (only with `resample`).
    """

    def __init__(self, filters, kernel_size=3, gain=math.sqrt(2), lrmul=1.0, use_wscale=True,
                 use_bias=True, activation="linear", resample=None, fused=False, **kwargs):
        super().__init__(**kwargs)
        _check_activation(activation)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"`kernel_size` must be odd. Received: kernel_size={kernel_size}")
        if resample not in (None, "up", "down"):
            raise ValueError(
                f"`resample` must be None, 'up' or 'down'. Received: resample={resample!r}"
            )
        if fused and (resample is None or kernel_size != 3):
            raise ValueError("`fused` needs resample='up'|'down' and kernel_size=3.")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.lrmul = float(lrmul)
        self.use_wscale = bool(use_wscale)
        self.use_bias = bool(use_bias)
        self.activation = activation
        self.resample = resample
        self.fused = bool(fused)

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        fan_in = self.kernel_size * self.kernel_size * in_channels
        init_std, self.runtime_coef = weight_coefficients(
            fan_in, self.gain, self.lrmul, self.use_wscale
        )
        self.weight = self.add_weight(
            name="weight", shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=keras.initializers.RandomNormal(stddev=init_std), trainable=True,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer="zeros", trainable=True
            )

    @staticmethod
    def _sum_shifts(w):
        # [3,3,a,b] -> [4,4,a,b]: the four 1-pixel shifts of the kernel summed.
        w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
        return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]

    def _compute_fused(self, x):
        """Whether to run the resampling in the fused form (exactly equal, see the class doc).

        The fused forms do 4x4 taps at the low resolution instead of 3x3 at the high one
        (2.25x fewer multiply-adds); measured on CPU (bench/RESULTS.md) they are faster from
        32 px up, slower below (small spatial sizes), so layers built non-fused switch to the
        fused computation from `_FUSED_FROM_SIZE` px. The result is the same up to float
        rounding; the weights and the layer config are unchanged.
        """
        if self.fused or self.resample is None or self.kernel_size != 3:
            return self.fused
        size = x.shape[1]
        if size is None:
            return False
        return (2 * size if self.resample == "up" else size) >= _FUSED_FROM_SIZE

    def call(self, x):
        fused = self._compute_fused(x)
        x, w = _scale_cheaper(x, self.weight, self.runtime_coef)
        if self.resample == "up" and fused:
            if not self.fused:  # upscale + conv(w) == fused transposed conv(flip(w))
                w = tf.reverse(w, [0, 1])
            w = self._sum_shifts(tf.transpose(w, [0, 1, 3, 2]))  # [4,4,out,in]
            shape = tf.shape(x)
            out_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, self.filters])
            static_shape = self.compute_output_shape(x.shape)
            x = tf.nn.conv2d_transpose(x, w, out_shape, strides=2, padding="SAME")
            x = tf.ensure_shape(x, static_shape)
        elif self.resample == "down" and fused:
            w = self._sum_shifts(w) * 0.25
            x = tf.nn.conv2d(x, w, strides=2, padding="SAME")
        else:
            if self.resample == "up":
                x = upscale2d(x)
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
            if self.resample == "down":
                x = downscale2d(x)
        if self.use_bias:
            x = x + tf.cast(self.bias, x.dtype) * self.lrmul
        return _activate(x, self.activation)

    def compute_output_shape(self, input_shape):
        n, h, w = input_shape[0], input_shape[1], input_shape[2]
        if self.resample == "up":
            h, w = (None if h is None else h * 2), (None if w is None else w * 2)
        elif self.resample == "down":
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (n, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
            "gain": self.gain, "lrmul": self.lrmul, "use_wscale": self.use_wscale,
            "use_bias": self.use_bias, "activation": self.activation,
            "resample": self.resample, "fused": self.fused,
        }
