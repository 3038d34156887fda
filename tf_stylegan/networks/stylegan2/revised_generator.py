"""The progressive StyleGAN2 generator of the paper's configs B-D (official `G_main` with
`synthesis_func='G_synthesis_stylegan_revised'`, NVlabs/stylegan2 `run_training.py:93-94`)."""

import keras

from tf_stylegan.config import StyleGAN2RevisedConfig
from tf_stylegan.networks.generator import Generator
from tf_stylegan.networks.stylegan2.mapping import StyleGAN2Mapping
from tf_stylegan.networks.stylegan2.revised_synthesis import RevisedSynthesis


@keras.saving.register_keras_serializable(package="tf_stylegan")
class RevisedGenerator(Generator):
    """z -> w (StyleGAN2Mapping) -> images (RevisedSynthesis), official `G_main`.

    StyleGAN's `Generator` with StyleGAN2's mapping and the progressive revised synthesis: the
    `dlatent_avg` average, style mixing over the layers of the current level (official
    `cur_layers = num_layers - 2 * int(lod)`), truncation (psi 0.5 on all layers), and the
    growing arguments `resolution`, `alpha` and `lod` of StyleGAN's networks.

    Args:
        config: StyleGAN2RevisedConfig.
        lod: float. The level rendered when no `resolution` is given (`RevisedSynthesis`).

    Call arguments: as `Generator`.
    """

    config_class = StyleGAN2RevisedConfig
    mapping_class = StyleGAN2Mapping
    synthesis_class = RevisedSynthesis
