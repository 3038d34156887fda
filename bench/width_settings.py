"""The networks `python -m bench` times: named width settings, each the training config of one
network family, and the `TrainingConfig` of a benchmark case built from one.

- `official` (stylegan): the `NetworkConfig` defaults, fmap_base 8192, fmap_max 512, latents
  512 (NVlabs/stylegan); RGB, unconditional; batch 4.
- `demo` (stylegan): the `network` block of `configs/demo.yaml`; a dataset of 1 channel and 10
  labels, the networks unconditional; batch 16.
- `stylegan2-demo` (stylegan2): `configs/stylegan2-demo.yaml`, its widths, `cond`, R1 gamma,
  lazy-regularization intervals and `minibatch_gpu` (32); 1 channel, 10 labels; batch 32.
- `config-f` (stylegan2): `configs/stylegan2.yaml`, config F: the `StyleGAN2Config` defaults
  (fmap_base 16384, fmap_max 512) and `minibatch_gpu` 4 (NVlabs/stylegan2 run_training.py);
  RGB, unconditional; batch 8, two passes of 4.

The StyleGAN settings take only the networks' widths from their preset (as the benchmark always
has, so that `python -m bench.ab_commits` compares like with like across revisions); the
StyleGAN2 settings take the whole preset, so the step runs the preset's regularizers and passes.
`official` settings are the official-size networks: their precision / XLA variants and their
input-pipeline case stop at the levels `--variant-max-res` / `--pipeline-max-res` allow.

    >>> setting = get_width_setting("config-f")
    >>> setting.family.name, setting.family.lazy_regularization
    ('stylegan2', True)
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os

from tf_stylegan.errors import UserError
from tf_stylegan.families import get_family

__all__ = ["WIDTH_SETTINGS", "WidthSetting", "get_width_setting", "training_config",
           "width_settings_of"]


@dataclasses.dataclass(frozen=True)
class WidthSetting:
    """One set of networks the benchmark times.

    Args:
        name: str. The `--widths` name.
        preset: str or None. The `configs/` preset the training config comes from (None: the
            `TrainingConfig` defaults, the official StyleGAN values).
        preset_keys: tuple of str, or None. The preset's top-level keys to take (None: all).
        channels: int. Image channels of the benchmark's random dataset.
        label_size: int. Label classes of that dataset (0: no labels).
        batch: int. Default global minibatch (`--batch` overrides it).
        official: bool. Official-size networks (see the module docstring).
    """

    name: str
    preset: str | None
    preset_keys: tuple | None
    channels: int
    label_size: int
    batch: int
    official: bool

    def config_fields(self) -> dict:
        """The `TrainingConfig` fields this setting takes from its preset."""
        return copy.deepcopy(_preset_fields(self.preset, self.preset_keys))

    @property
    def family(self):
        """The `tf_stylegan.families.NetworkFamily` the setting's config names."""
        from training.training_config import TrainingConfig

        default = TrainingConfig.__dataclass_fields__["family"].default
        return get_family(self.config_fields().get("family", default))


@functools.lru_cache(maxsize=None)
def _preset_fields(preset, keys):
    if preset is None:
        return {}
    from training.training_config import CONFIG_DIR, load_config

    path = os.path.join(CONFIG_DIR, f"{preset}.yaml")
    if not os.path.isfile(path):
        raise UserError(f"{path}: missing; the benchmark's widths come from this preset")
    fields = load_config(preset).to_dict()
    if keys is None:
        return fields
    missing = [k for k in keys if not fields.get(k)]
    if missing:
        raise UserError(f"{path}: no {missing} in the preset; the benchmark takes them from it")
    return {k: fields[k] for k in keys}


WIDTH_SETTINGS = {s.name: s for s in (
    WidthSetting("official", preset=None, preset_keys=(), channels=3, label_size=0, batch=4,
                 official=True),
    WidthSetting("demo", preset="demo", preset_keys=("family", "network"), channels=1,
                 label_size=10, batch=16, official=False),
    WidthSetting("stylegan2-demo", preset="stylegan2-demo", preset_keys=None, channels=1,
                 label_size=10, batch=32, official=False),
    WidthSetting("config-f", preset="stylegan2", preset_keys=None, channels=3, label_size=0,
                 batch=8, official=True),
)}


def get_width_setting(name: str) -> WidthSetting:
    """The setting named `name` (UserError for an unknown one)."""
    try:
        return WIDTH_SETTINGS[name]
    except KeyError:
        raise UserError(f"`--widths` entries must be among {list(WIDTH_SETTINGS)}. "
                        f"Received: {name!r}") from None


def width_settings_of(families) -> list[str]:
    """The names of the settings whose network family is among `families` (names), in the
    registry's order."""
    wanted = {get_family(f).name for f in families}
    return [name for name, s in WIDTH_SETTINGS.items() if s.family.name in wanted]


def training_config(setting, dataset_dir, batch, levels, mixed_precision, xla,
                    minibatch_gpu=None, extra=None):
    """The `TrainingConfig` of a benchmark case.

    Args:
        setting: WidthSetting.
        dataset_dir: str. The benchmark's TFRecord directory.
        batch: {level: global minibatch} for the levels the trainer will run.
        levels: the levels (the schedule's minibatch table is set at each).
        mixed_precision: a `TrainingConfig.mixed_precision` value.
        xla: bool.
        minibatch_gpu: int or None. Samples per pass (families with gradient accumulation).
        extra: dict of further `TrainingConfig` fields (e.g. the augmentation options).
    """
    from training.training_config import TrainingConfig

    fields = setting.config_fields()
    schedule = dict(fields.get("schedule") or {})
    schedule.update(minibatch_dict={int(r): int(batch[r]) for r in levels},
                    max_minibatch_per_gpu={})
    fields.update(dataset=os.path.basename(dataset_dir), data_dir=os.path.dirname(dataset_dir),
                  schedule=schedule, mixed_precision=mixed_precision, xla=bool(xla), seed=1000,
                  gpus=None, metrics=[])
    if minibatch_gpu is not None:
        fields["minibatch_gpu"] = int(minibatch_gpu)
    fields.update(extra or {})
    return TrainingConfig.from_dict(fields)
