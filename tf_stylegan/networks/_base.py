"""Shared plumbing of the StyleGAN networks: config-driven Keras models that build eagerly."""

import keras

from tf_stylegan.config import NetworkConfig


class ConfigModel(keras.Model):
    """A keras.Model whose whole architecture follows from one config (`config_class`).

    Sub-layers are created and built in `__init__` (weights exist right after construction, so
    parameter counts need no forward pass), and `get_config` is the config: `.keras` files
    rebuild the same layers and then restore the weights. `config_class` is `NetworkConfig` for
    the StyleGAN networks and `StyleGAN2Config` for StyleGAN2's.
    """

    config_class = NetworkConfig

    def __init__(self, config, **kwargs):
        cls = self.config_class
        if isinstance(config, dict):
            config = cls.from_dict(config)
        if not isinstance(config, cls):
            raise TypeError(
                f"`config` must be a {cls.__name__}. Received: config={config!r}"
            )
        super().__init__(**kwargs)
        self.config = config

    def build(self, *args, **kwargs):
        self.built = True

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)

    def count_params_trainable(self):
        """Trainable parameter count, as the official `print_layers` totals."""
        return int(sum(int(v.numpy().size) for v in self.trainable_weights))
