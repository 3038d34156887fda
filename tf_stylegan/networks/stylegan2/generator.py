"""The StyleGAN2 generator: mapping + synthesis, truncation, style mixing (official `G_main` in
NVlabs/stylegan2 `training/networks_stylegan2.py`)."""

import keras

from tf_stylegan.config import StyleGAN2Config
from tf_stylegan.networks.generator import Generator
from tf_stylegan.networks.stylegan2.mapping import StyleGAN2Mapping
from tf_stylegan.networks.stylegan2.synthesis import StyleGAN2Synthesis


@keras.saving.register_keras_serializable(package="tf_stylegan")
class StyleGAN2Generator(Generator):
    """z -> w (StyleGAN2Mapping) -> images (StyleGAN2Synthesis), official `G_main`.

    `G_main` computes what StyleGAN's `G_style` does, so this is StyleGAN's `Generator` with the
    StyleGAN2 sub-networks: the same `dlatent_avg` moving average (beta 0.995), style mixing
    (probability 0.9, crossover in [1, num_layers)) and truncation `avg + psi * (w - avg)`. Only
    the defaults differ: psi 0.5 on *all* layers (`truncation_cutoff` None). There is no
    progressive growing, so `resolution` and `alpha` accept only their defaults.

    Args:
        config: StyleGAN2Config.

    Call arguments:
        z: [N, latent_size].
        labels: [N, label_size] or None.
        truncation_psi: float, scalar tensor or None (None: the config's default, 0.5).
        truncation_cutoff: int or None (None: the config's default, all layers).
        noise: "random" | "const" | "none" | list of tensors, as `StyleGAN2Synthesis`.
        training: bool. True: no truncation, style mixing, dlatent_avg update.
        seed: optional int32 [2]; makes every random draw of the call stateless.
        return_dlatents: bool. Also return the dlatents fed to synthesis (post-mixing in
            training), official `return_dlatents=True` (used by path-length regularization).

    Returns:
        images: [N, resolution, resolution, num_channels] in about [-1, 1]; with
        `return_dlatents`, the pair (images, dlatents [N, num_layers, dlatent_size]).

    Example:
        >>> cfg = StyleGAN2Config(resolution=32, fmap_base=512, fmap_max=64)
        >>> G = StyleGAN2Generator(cfg)
        >>> images = G(tf.random.normal([4, 512]))   # psi 0.5 on all layers
    """

    config_class = StyleGAN2Config
    mapping_class = StyleGAN2Mapping
    synthesis_class = StyleGAN2Synthesis
