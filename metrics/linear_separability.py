"""Linear separability: ls (reported as ls_z and ls_w; Karras et al. 2019, section 4.2).

The official `metrics/linear_separability.py`, re-implemented:

1. generate `num_samples` (official 200,000) images from Gs: z ~ N(0, I), w = mapping(z), images
   = synthesis(w) with random noise and no truncation, box-downsampled to 256x256 when larger;
2. run every attribute classifier (the paper: 40 CelebA-HQ attributes) on the images; its logit
   l becomes the two-class prediction ``softmax([l, -l])``;
3. per attribute: keep the `num_keep` (official 100,000, half) samples with the most confident
   prediction (largest max probability; ties keep generation order), take ``argmax`` as the
   label Y, fit ``sklearn.svm.LinearSVC()`` on z and, separately, on w = ``dlatents[:, -1]``
   and predict X on the same samples (official: when fitting fails, e.g. only one class is
   present, the prediction is taken as perfect);
4. the conditional entropy H(Y | X) in bits of the 2x2 joint distribution of (SVM output X,
   label Y);
5. ``score = 2 ** sum_over_attributes H`` for z and for w (the paper's ``exp(sum H)`` with H in
   nats is the same number).

Classifiers are Keras models (``.keras`` files, loaded with ``safe_mode=True``) taking float
NHWC images in [-1, 1] at the generator's resolution, downsampled to 256 when larger, and
returning one logit per image ([N] or [N, 1]); the official ones are NVIDIA pickles
(``celebahq-classifier-00-male.pkl`` ...), which would need converting.
"""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import tensorflow as tf

from metrics.image_ops import box_downsample_to
from metrics.metric_inputs import LabelSampler, generator_config, progress_bar
from tf_stylegan.errors import UserError

__all__ = [
    "CLASSIFIERS_ENV",
    "compute_ls",
    "conditional_entropy",
    "generate_ls_samples",
    "load_classifiers",
    "separability",
]

CLASSIFIERS_ENV = "TF_STYLEGAN_CLASSIFIERS"


def conditional_entropy(p) -> float:
    """H(Y | X) in bits of a joint distribution p[x, y] (normalised first; X = rows).

    Computed as H(Y) - I(X; Y) like the official code, clipped at 0 (rounding can make it
    slightly negative).
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"`p` must be a non-negative 2-D table. Received: {p!r}")
    p = p / p.sum()
    px = p.sum(axis=1, keepdims=True)
    py = p.sum(axis=0, keepdims=True)
    nz = p > 0
    mutual = np.sum(p[nz] * np.log2(p[nz] / (px @ py)[nz]))
    h_y = -np.sum(py[py > 0] * np.log2(py[py > 0]))
    return float(max(0.0, h_y - mutual))


def svm_entropy(inputs: np.ndarray, targets: np.ndarray) -> float:
    """Fits LinearSVC (official: sklearn defaults of 2019, i.e. the dual solver) and returns
    H(targets | svm predictions) in bits."""
    import sklearn.svm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # liblinear's ConvergenceWarning, as official.
            svm = sklearn.svm.LinearSVC(dual=True, random_state=0)
            svm.fit(inputs, targets)
            outputs = svm.predict(inputs)
    except ValueError:  # e.g. a single class among the kept samples.
        outputs = targets  # Official: assume perfect prediction.
    joint = [[np.mean((outputs == row) & (targets == col)) for col in (0, 1)] for row in (0, 1)]
    return conditional_entropy(joint)


def separability(latents, dlatents, predictions, num_keep: int | None = None) -> dict:
    """Scores from generated samples (steps 3-5 of the module docstring).

    Args:
        latents: [N, latent_size] z.
        dlatents: [N, dlatent_size] w (the last layer's).
        predictions: list (one per attribute) of [N, 2] softmax predictions.
        num_keep: int or None (None: N // 2, the official 100,000 of 200,000).

    Returns:
        dict(ls_z=float, ls_w=float, entropy_z=[per attribute], entropy_w=[...]).
    """
    latents = np.asarray(latents, np.float64)
    dlatents = np.asarray(dlatents, np.float64)
    n = latents.shape[0]
    num_keep = n // 2 if num_keep is None else int(num_keep)
    if not 0 < num_keep <= n:
        raise ValueError(f"`num_keep` must be in [1, {n}]. Received: num_keep={num_keep}")
    entropies = {"z": [], "w": []}
    for pred in predictions:
        pred = np.asarray(pred, np.float64)
        if pred.shape != (n, 2):
            raise ValueError(f"Predictions must be [{n}, 2]. Received: shape={pred.shape}")
        keep = np.argsort(-np.max(pred, axis=1), kind="stable")[:num_keep]
        targets = np.argmax(pred[keep], axis=1)
        entropies["z"].append(svm_entropy(latents[keep], targets))
        entropies["w"].append(svm_entropy(dlatents[keep], targets))
    return dict(ls_z=float(2.0 ** np.sum(entropies["z"])),
                ls_w=float(2.0 ** np.sum(entropies["w"])),
                entropy_z=entropies["z"], entropy_w=entropies["w"])


def load_classifiers(directory: str | None = None) -> list:
    """Loads every ``*.keras`` attribute classifier in `directory` (sorted by file name).

    `directory` None reads ``$TF_STYLEGAN_CLASSIFIERS``. Returns [(name, model), ...].
    """
    import keras

    source = "classifiers"
    if not directory:
        directory = os.environ.get(CLASSIFIERS_ENV) or None
        source = CLASSIFIERS_ENV
    if not directory:
        raise UserError(
            f"No attribute classifiers given: pass --classifiers DIR (or `classifiers=` in "
            f"MetricOptions) or set ${CLASSIFIERS_ENV}: a directory of .keras models, one per "
            f"attribute (NHWC [-1, 1] images in, one logit out). The paper's 40 CelebA-HQ "
            f"classifiers are NVIDIA pickles and must be converted first."
        )
    directory = os.path.expanduser(directory)
    paths = sorted(glob.glob(os.path.join(glob.escape(directory), "*.keras")))
    if not paths:
        raise UserError(
            f"No *.keras attribute classifiers found. Received: {source}={directory!r}"
        )
    return [(os.path.splitext(os.path.basename(p))[0],
             keras.saving.load_model(p, compile=False, safe_mode=True)) for p in paths]


def generate_ls_samples(G, classifiers, *, num_samples: int = 200000, batch_size: int = 4,
                        labels=None, seed: int = 0, progress: bool = True) -> dict:
    """Steps 1-2: latents [N, Z], dlatents [N, D] (last layer) and [N, 2] predictions each."""
    cfg = generator_config(G)
    models = [m for _, m in classifiers]
    rng = np.random.RandomState(seed)
    sampler = LabelSampler(cfg.label_size, labels, seed=seed + 1)

    @tf.function(reduce_retracing=True)
    def step(z, c):
        w = G.mapping(z, c)
        images = box_downsample_to(tf.cast(G.synthesis(w, noise="random"), tf.float32), 256)
        preds = []
        for model in models:
            logits = tf.reshape(tf.cast(model(images, training=False), tf.float32), [-1, 1])
            preds.append(tf.nn.softmax(tf.concat([logits, -logits], axis=1)))
        return w[:, -1], preds

    zs, ws, preds = [], [], [[] for _ in models]
    with progress_bar(num_samples, "ls", progress) as bar:
        done = 0
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            z = rng.standard_normal([n, cfg.latent_size]).astype(np.float32)
            c = sampler(n)
            w_last, p = step(tf.constant(z), None if c is None else tf.constant(c))
            zs.append(z)
            ws.append(w_last.numpy())
            for k, pk in enumerate(p):
                preds[k].append(pk.numpy())
            done += n
            bar.update(n)
    return dict(latents=np.concatenate(zs), dlatents=np.concatenate(ws),
                predictions=[np.concatenate(p) for p in preds])


def compute_ls(G, classifiers, *, num_samples: int = 200000, num_keep: int | None = None,
               batch_size: int = 4, labels=None, seed: int = 0, progress: bool = True) -> dict:
    """Linear separability of z and w: dict(ls_z, ls_w, entropy_z, entropy_w, attributes)."""
    if not classifiers:
        raise ValueError("Linear separability needs at least one attribute classifier.")
    samples = generate_ls_samples(G, classifiers, num_samples=num_samples,
                                  batch_size=batch_size, labels=labels, seed=seed,
                                  progress=progress)
    result = separability(samples["latents"], samples["dlatents"], samples["predictions"],
                          num_keep=num_keep)
    result["attributes"] = [name for name, _ in classifiers]
    return result
