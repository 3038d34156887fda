"""Keras layers of StyleGAN, one module per concept."""

from tf_stylegan.layers.adain import InstanceNorm, StyleMod, adain
from tf_stylegan.layers.blur import Blur2D, blur_kernel
from tf_stylegan.layers.equalized import Bias, EqualizedConv2D, EqualizedDense
from tf_stylegan.layers.fade_in import FadeIn, lerp_clip
from tf_stylegan.layers.minibatch_stddev import MinibatchStddev
from tf_stylegan.layers.noise import NOISE_MODES, NoiseInjection
from tf_stylegan.layers.pixel_norm import PixelNorm
from tf_stylegan.layers.resample import Downscale2D, Upscale2D, downscale2d, upscale2d

__all__ = [
    "Bias", "Blur2D", "Downscale2D", "EqualizedConv2D", "EqualizedDense", "FadeIn",
    "InstanceNorm", "MinibatchStddev", "NOISE_MODES", "NoiseInjection", "PixelNorm", "StyleMod",
    "Upscale2D", "adain", "blur_kernel", "downscale2d", "lerp_clip", "upscale2d",
]
