"""Registry of the official StyleGAN metrics and the `evaluate` entry point.

Names are those of the official `metrics/metric_base.py`: ``fid50k``, ``ppl_zfull``, ``ppl_wfull``,
``ppl_zend``, ``ppl_wend``, ``ls``; ``ppl2_wend`` of NVlabs/stylegan2 `metrics/metric_defaults.py`
(``ppl_wend`` without the face crop: the path length the StyleGAN2 paper reports);
``fid50k_full`` and ``kid50k_full`` of stylegan2-ada `metrics/metric_main.py` (50,000 fakes
against every real image of the dataset, never mirrored; KID reads at most 1,000,000); plus
``kid50k`` (unbiased KID on the same features as fid50k) and ``fid_digits`` (the digit demos'
quality figure, `metrics.fid_digits`). Every metric runs on StyleGAN and StyleGAN2 generators;
a family may replace a metric's official sample count and minibatch
(`NetworkFamily.metric_defaults`: StyleGAN2's metric_defaults.py takes the PPL metrics over
50,000 samples, 4 per minibatch).
Each metric is a function ``fn(Gs, opts) -> dict of results`` registered with
`@register_metric`; `evaluate` runs one, times it and appends one JSON line to
``<run_dir>/metric-<name>.jsonl``.

Example:
    >>> opts = MetricOptions(run_dir="results/00000-ffhq", dataset_dir="datasets/ffhq",
    ...                      mirror=True, inception="inception-2015-12-05.tgz")
    >>> evaluate("fid50k", Gs, opts)["results"]
    {'fid50k': 4.41}
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tf_stylegan.errors import UserError
from tf_stylegan.families import family_of
from tf_stylegan.files import append_jsonl

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_NUM_SAMPLES",
    "MetricOptions",
    "evaluate",
    "get_metric",
    "list_metrics",
    "register_metric",
    "unregister_metric",
    "sample_plan",
]

_METRICS: dict[str, Callable] = {}

# Official sample counts and per-GPU minibatch sizes (metric_base.py).
DEFAULT_NUM_SAMPLES = {
    "fid50k": 50000, "kid50k": 50000, "fid50k_full": 50000, "kid50k_full": 50000,
    "ppl_zfull": 100000, "ppl_wfull": 100000, "ppl_zend": 100000, "ppl_wend": 100000,
    "ppl2_wend": 50000, "ls": 200000,
    "fid_digits": 1000,  # not official: the most the 5,000-digit demo dataset allows
}
DEFAULT_BATCH_SIZES = {
    "fid50k": 8, "kid50k": 8, "fid50k_full": 8, "kid50k_full": 8,
    "ppl_zfull": 16, "ppl_wfull": 16, "ppl_zend": 16, "ppl_wend": 16,
    "ppl2_wend": 4, "ls": 4,
    "fid_digits": 50,
}
# stylegan2-ada metric_main.py: kid50k_full reads at most this many reals (fid50k_full: all).
KID_FULL_MAX_REALS = 1_000_000


@dataclasses.dataclass
class MetricOptions:
    """Everything a metric may need besides the generator.

    Args:
        run_dir: str or None. Results are appended to ``<run_dir>/metric-<name>.jsonl``
            (None: not written).
        dataset_dir: str or None. TFRecord directory of the training data (FID/KID reals,
            and the label distribution of conditional generators).
        mirror: bool. The run used mirror augment: reals are randomly x-flipped (official).
        real_source: iterable of uint8 NHWC batches, or callable ``(num_images, batch_size) ->
            iterable``; an alternative to `dataset_dir`.
        real_source_key: str or None. Cache key of `real_source` (None: not cached).
        labels: float array [N, label_size] or None. Label rows for conditional generators
            (None: those of `dataset_dir` if any, else random one-hot).
        num_samples: int or None. Override of the official sample count (quick checks; the
            number of fakes of the `_full` metrics, which always read every real).
        batch_size: int or None. Override of the official minibatch size.
        inception: str or None. Inception file (None: ``$TF_STYLEGAN_INCEPTION``, else the file
            ``run_metrics.py --fetch-networks`` fetched).
        lpips: str or None. LPIPS weights, ``.ckpt`` or ``.npz`` (None: ``$TF_STYLEGAN_LPIPS``,
            else the fetched file).
        classifiers: str or None. Directory of ``.keras`` attribute classifiers (None:
            ``$TF_STYLEGAN_CLASSIFIERS``).
        cache_dir: str or None. Real-image statistics cache (None: no cache).
        crop: bool. PPL face crop (official: on).
        seed: int. Seed of latents, labels, noise and subsets.
        progress: bool. Show progress bars.
        snapshot: str or None. Recorded in the JSON line (e.g. the snapshot file name).
        kimg: float or None. Recorded in the JSON line (training progress).
        distance_fn: callable or None. PPL distance override ``(img0, img1) -> [B]`` on
            [0, 255] images (None: LPIPS from `lpips`).
    """

    run_dir: str | None = None
    dataset_dir: str | None = None
    mirror: bool = False
    real_source: Any = None
    real_source_key: str | None = None
    labels: Any = None
    num_samples: int | None = None
    batch_size: int | None = None
    inception: str | None = None
    lpips: str | None = None
    classifiers: str | None = None
    cache_dir: str | None = "cache"
    crop: bool = True
    seed: int = 0
    progress: bool = True
    snapshot: str | None = None
    kimg: float | None = None
    distance_fn: Callable | None = None


def register_metric(fn: Callable) -> Callable:
    """Registers ``fn(Gs, opts) -> dict`` under its function name."""
    if not callable(fn):
        raise TypeError(f"register_metric expects a function. Received: {fn!r}")
    _METRICS[fn.__name__] = fn
    return fn


def unregister_metric(name: str) -> None:
    """Removes metric `name` (one registered with `register_metric`); unknown names raise."""
    get_metric(name)
    del _METRICS[name]


def list_metrics() -> list[str]:
    """Names of the registered metrics."""
    return sorted(_METRICS)


def get_metric(name: str) -> Callable:
    if name not in _METRICS:
        raise UserError(f"Unknown metric. Received: name={name!r}; known: {list_metrics()}")
    return _METRICS[name]


def sample_plan(name: str, Gs, opts: MetricOptions | None = None) -> tuple[int, int]:
    """(samples, minibatch) metric `name` uses on `Gs`: the options' overrides, else the
    generator's family's defaults (`NetworkFamily.metric_defaults`), else the official ones."""
    opts = MetricOptions() if opts is None else opts
    # A metric registered from outside has no official count: it needs `num_samples`.
    default = (DEFAULT_NUM_SAMPLES.get(name), DEFAULT_BATCH_SIZES.get(name, 8))
    num, batch = family_of(Gs).metric_defaults.get(name, default)
    n = num if opts.num_samples is None else int(opts.num_samples)
    if n is None:
        raise UserError(f"{name} has no official sample count: give num_samples")
    if n < 2:
        raise UserError(f"{name} needs at least 2 samples. Received: num_samples={n}")
    b = batch if opts.batch_size is None else int(opts.batch_size)
    if b < 1:
        raise UserError(f"`batch_size` must be >= 1. Received: batch_size={b}")
    return n, b


def metric_labels(Gs, opts: MetricOptions):
    """Label rows for conditional generators: opts.labels, else the dataset's, else None."""
    if opts.labels is not None or not getattr(Gs.config, "label_size", 0):
        return opts.labels
    if opts.dataset_dir:
        from data.reader import TFRecordDataset

        labels = TFRecordDataset(opts.dataset_dir).labels
        return labels if labels.shape[1] else None
    return None


def _real_kwargs(Gs, opts: MetricOptions) -> dict:
    if opts.dataset_dir is None and opts.real_source is None:
        raise UserError(
            "FID/KID need real images: set `dataset_dir` (run_metrics.py --dataset NAME) or "
            "`real_source` in MetricOptions."
        )
    kwargs = dict(mirror=opts.mirror, cache_dir=opts.cache_dir)
    if opts.dataset_dir is not None:
        kwargs.update(dataset_dir=opts.dataset_dir, resolution=int(Gs.config.resolution))
    else:
        kwargs.update(real_source=opts.real_source, real_source_key=opts.real_source_key)
    return kwargs


def _all_reals(name: str, Gs, opts: MetricOptions, max_reals: int | None = None):
    """(number of reals, real_kwargs) of the `_full` metrics: every image of the dataset (at
    most `max_reals`), never mirrored (stylegan2-ada metric_main.py forces xflip off)."""
    if opts.dataset_dir is None:
        raise UserError(f"{name} reads every image of the dataset: set `dataset_dir` "
                        "(run_metrics.py --dataset NAME).")
    from data.reader import TFRecordDataset

    count = TFRecordDataset(opts.dataset_dir).num_images
    if max_reals is not None:
        count = min(count, max_reals)
    return count, dict(mirror=False, cache_dir=opts.cache_dir, dataset_dir=opts.dataset_dir,
                       resolution=int(Gs.config.resolution))


# --- The metrics ------------------------------------------------------------------------------
@register_metric
def fid50k(Gs, opts: MetricOptions) -> dict:
    from metrics.fid import compute_fid
    from metrics.inception import load_inception

    num, batch = sample_plan("fid50k", Gs, opts)
    result = compute_fid(Gs, load_inception(opts.inception), num_images=num,
                         batch_size=batch, labels=metric_labels(Gs, opts),
                         seed=opts.seed, progress=opts.progress, **_real_kwargs(Gs, opts))
    return dict(fid50k=result["fid"], num_reals=result["num_reals"],
                num_fakes=result["num_fakes"])


@register_metric
def kid50k(Gs, opts: MetricOptions) -> dict:
    from metrics.fid import compute_kid
    from metrics.inception import load_inception

    num, batch = sample_plan("kid50k", Gs, opts)
    result = compute_kid(Gs, load_inception(opts.inception), num_images=num,
                         batch_size=batch, labels=metric_labels(Gs, opts),
                         seed=opts.seed, progress=opts.progress, **_real_kwargs(Gs, opts))
    return dict(kid50k=result["kid"], num_reals=result["num_reals"],
                num_fakes=result["num_fakes"])


@register_metric
def fid50k_full(Gs, opts: MetricOptions) -> dict:
    """FID of 50,000 fakes against all reals, unmirrored (stylegan2-ada `fid50k_full`)."""
    from metrics.fid import compute_fid
    from metrics.inception import load_inception

    num_reals, real_kwargs = _all_reals("fid50k_full", Gs, opts)
    num, batch = sample_plan("fid50k_full", Gs, opts)
    result = compute_fid(Gs, load_inception(opts.inception), num_images=num, num_reals=num_reals,
                         batch_size=batch, labels=metric_labels(Gs, opts),
                         seed=opts.seed, progress=opts.progress, **real_kwargs)
    return dict(fid50k_full=result["fid"], num_reals=result["num_reals"],
                num_fakes=result["num_fakes"])


@register_metric
def kid50k_full(Gs, opts: MetricOptions) -> dict:
    """KID of 50,000 fakes against all reals (at most 1,000,000), unmirrored, 100 subsets of at
    most 1,000 (stylegan2-ada `kid50k_full`)."""
    from metrics.fid import compute_kid
    from metrics.inception import load_inception

    num_reals, real_kwargs = _all_reals("kid50k_full", Gs, opts, KID_FULL_MAX_REALS)
    num, batch = sample_plan("kid50k_full", Gs, opts)
    result = compute_kid(Gs, load_inception(opts.inception), num_images=num, num_reals=num_reals,
                         batch_size=batch, labels=metric_labels(Gs, opts),
                         seed=opts.seed, progress=opts.progress, **real_kwargs)
    return dict(kid50k_full=result["kid"], num_reals=result["num_reals"],
                num_fakes=result["num_fakes"])


def _ppl(name: str, space: str, sampling: str, Gs, opts: MetricOptions, crop=None) -> dict:
    """A PPL metric; `crop` None follows `opts.crop` (the face crop, on by default)."""
    from metrics.ppl import compute_ppl

    distance_fn = opts.distance_fn
    if distance_fn is None:
        from metrics.lpips import load_lpips

        lpips = load_lpips(opts.lpips)
        distance_fn = lambda img0, img1: lpips((img0, img1))
    num, batch = sample_plan(name, Gs, opts)
    value = compute_ppl(Gs, distance_fn, num_samples=num, space=space,
                        sampling=sampling, epsilon=1e-4,
                        crop=opts.crop if crop is None else crop,
                        batch_size=batch, labels=metric_labels(Gs, opts),
                        seed=opts.seed, progress=opts.progress)
    return {name: value}


@register_metric
def ppl_zfull(Gs, opts: MetricOptions) -> dict:
    return _ppl("ppl_zfull", "z", "full", Gs, opts)


@register_metric
def ppl_wfull(Gs, opts: MetricOptions) -> dict:
    return _ppl("ppl_wfull", "w", "full", Gs, opts)


@register_metric
def ppl_zend(Gs, opts: MetricOptions) -> dict:
    return _ppl("ppl_zend", "z", "end", Gs, opts)


@register_metric
def ppl_wend(Gs, opts: MetricOptions) -> dict:
    return _ppl("ppl_wend", "w", "end", Gs, opts)


@register_metric
def ppl2_wend(Gs, opts: MetricOptions) -> dict:
    """Path length in W, endpoints, on the whole image (no face crop; NVlabs/stylegan2
    `ppl2_wend`, `crop=False`): the value the StyleGAN2 paper reports (145.0 for FFHQ config F
    in the official README)."""
    return _ppl("ppl2_wend", "w", "end", Gs, opts, crop=False)


@register_metric
def ls(Gs, opts: MetricOptions) -> dict:
    from metrics.linear_separability import compute_ls, load_classifiers

    n, batch = sample_plan("ls", Gs, opts)
    result = compute_ls(Gs, load_classifiers(opts.classifiers), num_samples=n,
                        num_keep=n // 2, batch_size=batch, labels=metric_labels(Gs, opts),
                        seed=opts.seed, progress=opts.progress)
    return dict(ls_z=result["ls_z"], ls_w=result["ls_w"], attributes=result["attributes"],
                entropy_z=result["entropy_z"], entropy_w=result["entropy_w"])


@register_metric
def fid_digits(Gs, opts: MetricOptions) -> dict:
    from metrics.digit_classifier import load_digit_classifier
    from metrics.fid_digits import check_digit_generator, compute_fid_digits

    if opts.dataset_dir is None:
        raise UserError("fid_digits needs the real digits: set `dataset_dir` (run_metrics.py "
                        "--dataset NAME, e.g. demo).")
    check_digit_generator(Gs)  # before training a classifier for nothing
    num, batch = sample_plan("fid_digits", Gs, opts)
    classifier = load_digit_classifier(cache_dir=opts.cache_dir)
    return compute_fid_digits(Gs, classifier, dataset_dir=opts.dataset_dir,
                              num_images=num, batch_size=batch, seed=opts.seed,
                              progress=opts.progress)


# --- Running and recording --------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def evaluate(name: str, Gs, opts: MetricOptions | None = None) -> dict:
    """Runs metric `name` on generator `Gs` and records the result.

    Returns:
        dict: ``{"metric": name, "results": {...}, "num_samples": int, "seconds": float,
        "snapshot": ..., "kimg": ..., "timestamp": ISO-8601 UTC}``; the same record is appended
        to ``<opts.run_dir>/metric-<name>.jsonl`` when `run_dir` is set.
    """
    opts = MetricOptions() if opts is None else opts
    fn = get_metric(name)
    start = time.time()
    results = fn(Gs, opts)
    record = {
        "metric": name,
        "results": results,
        "num_samples": sample_plan(name, Gs, opts)[0],
        "seconds": round(time.time() - start, 3),
        "snapshot": opts.snapshot,
        "kimg": opts.kimg,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    record = _jsonable(record)
    if opts.run_dir:
        os.makedirs(opts.run_dir, exist_ok=True)
        append_jsonl(os.path.join(opts.run_dir, f"metric-{name}.jsonl"), record)
    return record
