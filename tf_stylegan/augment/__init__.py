"""Adaptive discriminator augmentation (StyleGAN2-ADA, Karras et al. 2020, arXiv 2006.06676).

    from tf_stylegan.augment import AugmentPipe, AUGMENT_PRESETS
    pipe = AugmentPipe.from_preset("bgc")
    y = pipe(images, p, seed)                                  # NHWC, p float32, seed int32 [2]
    draws = pipe.draw(batch, height, width, channels, seed)    # the raw random draws
    y = pipe.apply(images, p, draws)                           # deterministic given the draws

Modules: `spec` (multipliers, strengths, presets), `draws` (random draws and gating),
`matrices` (homogeneous transforms), `geometric` (G_inv, padding and the resampling), `sym6`
(2x up/down-sampling), `grid_sample` (bilinear sampling), `color`, `imgfilter`, `corruption`
(noise and cutout) and `pipe` (the chain). Each formula is a public function, so it can be
checked on its own.
"""

from tf_stylegan.augment.color import apply_color, color_matrix
from tf_stylegan.augment.corruption import apply_cutout, apply_noise, cutout_mask
from tf_stylegan.augment.draws import draw, gated_values
from tf_stylegan.augment.geometric import apply_geometric, geometric_matrix, geometric_padding
from tf_stylegan.augment.imgfilter import apply_imgfilter, filter_bank, imgfilter_gains
from tf_stylegan.augment.pipe import AugmentPipe
from tf_stylegan.augment.spec import AUGMENT_PRESETS, DEFAULT_PRESET, AugmentSpec

__all__ = ["AUGMENT_PRESETS", "AugmentPipe", "AugmentSpec", "DEFAULT_PRESET", "apply_color",
           "apply_cutout", "apply_geometric", "apply_imgfilter", "apply_noise", "color_matrix",
           "cutout_mask", "draw", "filter_bank", "gated_values", "geometric_matrix",
           "geometric_padding", "imgfilter_gains"]
