"""`python -m bench.d_overfitting`: is the discriminator overfitting its training set?

D's outputs on the reals it was trained on, on reals of the same kind it never saw, and on G's
fakes: the measurement of StyleGAN2-ADA (Karras et al. 2020, arXiv 2006.06676, section 2 and
Fig. 1b-c). An overfitting D scores its training reals ever higher while held-out reals drift
towards the fakes' side; ADA's heuristic r_t = E[sign(D(reals))] (section 3) sees only the
first, so this tells whether a low or high p follows from D's behaviour or from the heuristic.

Held-out reals are the images of `--heldout` that are not in `--dataset` (compared pixel for
pixel), e.g. the 5,000 demo digits against the 100 of `create_demo --max-images 100`. Images go
to D as training feeds them (`[-1, 1]`, no augmentation); fakes come from the training G (not
Gs: D is trained against G) with random latents and the dataset's label rows.

    python -m bench.d_overfitting --network results/00000-.../network-snapshot-000040.zip \\
        --dataset datasets/demo100 --heldout datasets/demo

prints, for each set, how many images, D's mean output and the mean of its signs, and the
gap between the training and held-out reals; `--json` adds one JSON line.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

__all__ = ["d_outputs", "fake_outputs", "heldout_images", "main", "read_dataset", "summarize"]


def read_dataset(tfrecord_dir):
    """(images uint8 [N, H, W, C], labels [N, L]) of a dataset, in file order."""
    from data.reader import read_images

    batches = list(read_images(tfrecord_dir, batch_size=256))
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))


def heldout_images(train, other):
    """The rows of `other` (images, labels) whose image is not among `train`'s images."""
    seen = {image.tobytes() for image in train[0]}
    keep = np.array([image.tobytes() not in seen for image in other[0]], dtype=bool)
    return other[0][keep], other[1][keep]


def _run_D(D, images, labels):
    """D's outputs [n] on float images [n, H, W, C]. The minibatch-stddev layer takes groups of
    `mbstd_group_size` images (as in training): a batch that does not divide into them is
    filled up with its own first images, whose outputs are dropped. `labels` [n, L] go to a
    conditional D only."""
    import tensorflow as tf

    n = int(images.shape[0])
    group = max(int(D.config.mbstd_group_size), 1)
    fill = -n % group
    if fill:
        rows = np.arange(n + fill) % n
        images, labels = tf.gather(images, rows), labels[rows]
    y = tf.constant(labels, tf.float32) if D.config.label_size else None
    return np.asarray(D(images, y)).reshape(-1)[:n]


def d_outputs(D, images, labels, batch_size=256):
    """D's outputs [N] on uint8 NHWC images, as training feeds them ([-1, 1])."""
    import tensorflow as tf

    from training.stylegan2_losses import process_reals

    out = []
    for start in range(0, len(images), batch_size):
        x = process_reals(tf.constant(images[start:start + batch_size]))
        out.append(_run_D(D, x, labels[start:start + batch_size]))
    return np.concatenate(out)


def fake_outputs(G, D, labels, num, seed=0, batch_size=256):
    """D's outputs on `num` fakes of the training G, latents drawn from `seed`, label rows
    drawn from `labels`."""
    import tensorflow as tf

    rs = np.random.RandomState(seed)
    z = rs.randn(num, G.config.latent_size).astype(np.float32)
    rows = labels[rs.randint(0, len(labels), num)]
    out = []
    for start in range(0, num, batch_size):
        y = rows[start:start + batch_size]
        images = G(tf.constant(z[start:start + batch_size]),
                   tf.constant(y, tf.float32) if G.config.label_size else None)
        out.append(_run_D(D, images, y))
    return np.concatenate(out)


def summarize(scores):
    """{"n", "mean", "sign"}: how many, D's mean output, the mean of its signs."""
    scores = np.asarray(scores, np.float64)
    return {"n": int(scores.size), "mean": float(scores.mean()),
            "sign": float(np.sign(scores).mean())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", required=True, help="A snapshot (.zip) or pickle with D.")
    parser.add_argument("--dataset", required=True, help="The TFRecord directory D trained on.")
    parser.add_argument("--heldout", required=True,
                        help="A TFRecord directory of the same kind; its images not in --dataset "
                             "are the held-out reals.")
    parser.add_argument("--num-fakes", type=int, default=1000)
    parser.add_argument("--max-heldout", type=int, default=None,
                        help="At most this many held-out reals. [default: all]")
    parser.add_argument("--json", action="store_true", help="Also print one JSON line.")
    args = parser.parse_args(argv)

    from tf_stylegan.errors import UserError
    from tf_stylegan.snapshot import load_network

    try:
        G, D, _ = load_network(args.network)
        train = read_dataset(args.dataset)
        held = heldout_images(train, read_dataset(args.heldout))
    except UserError as e:
        raise SystemExit(f"Error: {e}") from None
    if args.max_heldout is not None:
        held = (held[0][:args.max_heldout], held[1][:args.max_heldout])
    if len(held[0]) == 0:
        raise SystemExit(f"Error: {args.heldout}: every image is also in {args.dataset}; "
                         "no held-out reals")
    rows = {"training reals": summarize(d_outputs(D, *train)),
            "held-out reals": summarize(d_outputs(D, *held)),
            "fakes (G)": summarize(fake_outputs(G, D, train[1], args.num_fakes))}
    print(f"{args.network}")
    for name, r in rows.items():
        print(f"  {name:15s} n {r['n']:6d}  mean D {r['mean']:+8.3f}  E[sign] {r['sign']:+.3f}")
    gap = rows["training reals"]["mean"] - rows["held-out reals"]["mean"]
    print(f"  training - held-out: mean D {gap:+.3f}")
    if args.json:
        print(json.dumps({"network": args.network, **rows, "gap": gap}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
