"""Keras layers of StyleGAN and StyleGAN2, one module per concept."""

from tf_stylegan.layers.adain import InstanceNorm, StyleMod, adain
from tf_stylegan.layers.blur import Blur2D, blur_kernel
from tf_stylegan.layers.const_input import ConstantInput
from tf_stylegan.layers.equalized import Bias, EqualizedConv2D, EqualizedDense, bias_act
from tf_stylegan.layers.fade_in import FadeIn, lerp_clip
from tf_stylegan.layers.fir_conv import FirConv2D, conv_downsample_2d, upsample_conv_2d
from tf_stylegan.layers.minibatch_stddev import MinibatchStddev
from tf_stylegan.layers.modulated_conv import ModulatedConv2D
from tf_stylegan.layers.noise import NOISE_MODES, NoiseInjection, ScalarNoiseInjection
from tf_stylegan.layers.pixel_norm import PixelNorm
from tf_stylegan.layers.resample import Downscale2D, Upscale2D, downscale2d, upscale2d
from tf_stylegan.layers.to_rgb import ToRGB
from tf_stylegan.layers.upfirdn import (
    FirDownsample2D,
    FirUpsample2D,
    downsample_2d,
    upfirdn_2d,
    upsample_2d,
)

__all__ = [
    "Bias", "Blur2D", "ConstantInput", "Downscale2D", "EqualizedConv2D", "EqualizedDense",
    "FadeIn", "FirConv2D", "FirDownsample2D", "FirUpsample2D", "InstanceNorm", "MinibatchStddev",
    "ModulatedConv2D", "NOISE_MODES", "NoiseInjection", "PixelNorm", "ScalarNoiseInjection",
    "StyleMod", "ToRGB", "Upscale2D", "adain", "bias_act", "blur_kernel", "conv_downsample_2d",
    "downsample_2d", "downscale2d", "lerp_clip", "upfirdn_2d", "upsample_2d", "upsample_conv_2d",
    "upscale2d",
]
