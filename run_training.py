"""Train StyleGAN with progressive growing (official NVlabs/stylegan `train.py` + training loop)
or StyleGAN2 with lazy and path-length regularization (NVlabs/stylegan2 `run_training.py`),
with StyleGAN2-ADA's augmentation, presets and transfer learning (stylegan2-ada-pytorch).

Examples:

\b
    # The official FFHQ 1024 setup on every GPU found (presets: configs/*.yaml)
    python run_training.py --dataset ffhq --config ffhq
\b
    # StyleGAN2 config F on any dataset (configs A-E, Table 2 and per-dataset presets:
    # stylegan2-config-a .. -e, stylegan2-config-e-G*-D*, stylegan2-ffhq, ...)
    python run_training.py --dataset ffhq --config stylegan2-ffhq
\b
    # The demo: 5,000 MNIST digits at 32x32 on a CPU (what `make demo` runs)
    python run_training.py --dataset demo --config demo
    python run_training.py --dataset demo --config stylegan2-demo   # make demo ARCH=stylegan2
\b
    # StyleGAN2-ADA (stylegan2-ada-pytorch's train.py): adaptive discriminator augmentation and
    # the --cfg presets (auto: from the resolution and the GPU count; stylegan2, paper256,
    # paper512, paper1024, cifar)
    python run_training.py --dataset mydata --cfg auto --mirror
    python run_training.py --dataset mydata --cfg paper256 --aug fixed --p 0.2 --augpipe bgcfnc
\b
    # Transfer learning: start a new run from a network (our snapshot, an official pickle, a URL
    # or a source name such as ffhq256), freezing D's first 10 layers
    python run_training.py --dataset mydata --cfg paper256 --resume ffhq256 --freezed 10
    python run_training.py --dataset mydata --config stylegan2 --resume stylegan2-ffhq-config-f
\b
    # The small-data demo: 1,000 of the digits, StyleGAN2 with ADA
    python dataset_tool.py create_demo datasets/demo1k --max-images 1000
    python run_training.py --dataset demo1k --config stylegan2-demo-ada
\b
    # Continue the latest run of the same dataset and preset after a crash or kill
    python run_training.py --dataset ffhq --config ffhq --resume auto
\b
    # Any config key can be overridden; --dry-run prints the resolved config and the schedule
    python run_training.py --dataset ffhq --config ffhq256 --set network.style_mixing_prob=0.5 \\
        --set schedule.lod_training_kimg=300 --dry-run
\b
    # Several machines: set TF_CONFIG on every worker (MultiWorkerMirroredStrategy)
    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python run_training.py ...
"""

import inspect
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import click  # noqa: E402

from apps.cli import user_errors as _user_errors  # noqa: E402

_EXAMPLES = __doc__.split("Examples:", 1)[1]


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
# --- Data ---
@click.option("--dataset", help="Dataset name: the directory <data-dir>/<dataset> of TFRecords. "
              "[default: the preset's]")
@click.option("--data-dir", default=None, help="Parent directory of the datasets. "
              "[default: datasets]")
@click.option("--config", "preset", default=None,
              help="Preset in configs/: StyleGAN (ffhq, ffhq512, ffhq256, celebahq, lsun-bedroom, "
                   "lsun-car, lsun-cat, config-b..config-f, mix0/mix50/mix90/mix100, demo) or "
                   "StyleGAN2 (stylegan2 = config F, stylegan2-config-e, "
                   "stylegan2-config-e-G{orig,skip,resnet}-D{orig,skip,resnet}, stylegan2-ffhq, "
                   "stylegan2-car/cat/church/horse, stylegan2-demo), or a YAML path. "
                   "[default: the dataset name if such a preset exists]")
@click.option("--mirror/--no-mirror", default=None,
              help="Mirror augment (x-flips of the dataset). [default: preset]")
@click.option("--cond/--no-cond", default=None,
              help="Condition the networks on the dataset's labels (official default: off, "
                   "labels are opt-in). [default: preset]")
# --- Training length and hardware ---
@click.option("--total-kimg", type=float, default=None, help="Training length in kimg.")
@click.option("--gpus", type=int, default=None,
              help="Replicas (GPUs; logical CPUs without GPUs). [default: all GPUs, else CPU]")
@click.option("--loss", type=click.Choice(["logistic", "wgangp"]), default=None,
              help="Loss. [default: logistic (non-saturating + R1)]")
@click.option("--mixed-precision", is_flag=True, default=None,
              help="GPU: mixed_float16 with loss scaling. CPU: bfloat16 convolutions through "
                   "oneDNN (1.3-1.7x faster at official widths on CPUs with AVX512-BF16, more "
                   "with AMX; emulated, little gain or slower, on others; not with --xla). "
                   "--set mixed_precision=bfloat16|float16 forces a Keras mixed policy.")
@click.option("--xla", is_flag=True, default=None, help="XLA-compile the training step.")
@click.option("--seed", type=int, default=None, help="Run seed. [default: 1000]")
@click.option("--metrics", default=None, metavar="LIST",
              help="Comma-separated metrics evaluated at every network snapshot (fid50k, kid50k, "
                   "fid50k_full, kid50k_full, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend, "
                   "ppl2_wend, ls, fid_digits); their networks are those `run_metrics.py "
                   "--fetch-networks` fetched, or --set metric_options.inception=PATH etc. "
                   "[default: none]")
# --- StyleGAN2-ADA (stylegan2-ada-pytorch train.py) ---
@click.option("--cfg", "ada_cfg", type=click.Choice(["auto", "stylegan2", "paper256", "paper512",
                                                      "paper1024", "cifar"]), default=None,
              help="StyleGAN2-ADA preset (StyleGAN2 family): widths, minibatch and passes, "
                   "learning rate, gamma, EMA, mapping layers and ticks as the official --cfg "
                   "sets them ('auto' from the dataset resolution and --gpus); applied on top "
                   "of --config (default: stylegan2), below explicit options and --set. "
                   "Implies --aug ada.")
@click.option("--aug", type=click.Choice(["ada", "noaug", "fixed"]), default=None,
              help="Discriminator augmentation: 'ada' (p adapted to D's overfitting), 'fixed' "
                   "(p = --p), 'noaug'. [default: ada with --cfg, else the preset's (noaug)]")
@click.option("--p", "aug_p", type=float, default=None,
              help="Augmentation probability for --aug fixed, in [0, 1].")
@click.option("--target", type=float, default=None,
              help="ADA target value of the overfitting heuristic r_t, in [0, 1]. [default: 0.6]")
@click.option("--augpipe", type=click.Choice(["blit", "geom", "color", "filter", "noise",
                                              "cutout", "bg", "bgc", "bgcf", "bgcfn",
                                              "bgcfnc"]), default=None,
              help="Augmentation pipeline. [default: bgc]")
@click.option("--gamma", type=float, default=None, help="R1 regularization weight (r1_gamma).")
@click.option("--batch", type=int, default=None,
              help="Global minibatch of a --cfg preset (batch per GPU = batch / --gpus).")
@click.option("--freezed", type=int, default=None,
              help="Freeze-D: D's first N layers (from the input) are not trained. [default: 0]")
# --- Output ---
@click.option("--outdir", default=None, help="Where run directories go. [default: results]")
@click.option("--resume", default=None,
              help="Continue a run: 'auto' (latest run of this dataset and preset), a run "
                   "directory or checkpoint prefix (in place, at its kimg). Or transfer "
                   "learning: a network (snapshot .zip, official .pkl, URL, pretrained name, "
                   "or ffhq256/ffhq512/ffhq1024/celebahq256/lsundog256) starts a new run at "
                   "kimg 0 from its weights (ADA reacts faster: ada_kimg 100; no EMA ramp-up).")
@click.option("--checkpoint-minutes", type=click.FloatRange(min=0), default=None,
              help="Besides every tick, write a resumable checkpoint every this many minutes "
                   "(0: at ticks only), so a kill loses at most that much. [default: 20]")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override any config key (dotted for nested keys, YAML values); repeatable.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and schedule and exit.")
@click.option("--progress/--no-progress", default=True, help="Progress bar within each tick.")
@_user_errors
def main(dataset, data_dir, preset, mirror, cond, total_kimg, gpus, loss, mixed_precision, xla,
         seed, metrics, ada_cfg, aug, aug_p, target, augpipe, gamma, batch, freezed, outdir,
         resume, checkpoint_minutes, overrides, dry_run, progress):
    """Train StyleGAN (Karras et al. 2019) or StyleGAN2 (Karras et al. 2020) as the official
    code does.

    StyleGAN: progressive growing, R1, Gs averaging and the official per-resolution tables.
    StyleGAN2 (presets stylegan2*): no growing, lazy R1 and path-length regularization, global
    minibatch 32 with gradient accumulation; the paper's Table 1 configs A-D, progressive, in
    the StyleGAN2 loop: presets stylegan2-config-a .. -d (docs/stylegan2.md). StyleGAN2-ADA
    (Karras et al. 2020, limited data): adaptive discriminator augmentation (--aug, for either
    family), the --cfg presets, transfer learning (--resume NETWORK) and Freeze-D (--freezed).
    See configs/ for the presets and `--dry-run` for what a command will do.

    SIGTERM, SIGINT (Ctrl+C) or SIGUSR1 stop the run cleanly: the current steps finish, a
    checkpoint is written, and the command exits with status 75; `--resume auto` (or the run
    directory) continues it exactly. Exit status: 0 done, 75 stopped by a signal, 1 bad input,
    2 bad usage, 3 too many non-finite steps, 70 a bug (docs/training.md).
    """
    from training import launch, loop, preemption

    try:
        launch.run(dataset=dataset, data_dir=data_dir, preset=preset, mirror=mirror, cond=cond,
                   total_kimg=total_kimg, gpus=gpus, loss=loss, mixed_precision=mixed_precision,
                   xla=xla, seed=seed, outdir=outdir, resume=resume, metrics=metrics,
                   checkpoint_minutes=checkpoint_minutes, overrides=overrides, dry_run=dry_run,
                   progress=progress,
                   ada_options=dict(cfg=ada_cfg, aug=aug, p=aug_p, target=target,
                                    augpipe=augpipe, gamma=gamma, batch=batch, freezed=freezed))
    except loop.NonFiniteError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(3)
    except preemption.TrainingStopped:
        sys.exit(preemption.EXIT_STOPPED)


main.help = inspect.cleandoc(main.help) + "\n\nExamples:\n" + _EXAMPLES

if __name__ == "__main__":
    main()
