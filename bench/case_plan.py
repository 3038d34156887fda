"""The plan of a `python -m bench` run: which cases run in which worker process, and a "skip"
record for every requested case that does not run, saying why.

A requested training case is one (width setting, precision, XLA, level) of the product of
`--widths` (or the settings of `--family`), `--precisions`, `--xla` and `--levels`; with it come
the input-pipeline case, the reader, inference, the roofline (`--roofline`) and, per
`--augment` preset, the pipe's cost. Each (width setting, precision, XLA) that runs is a group:
one worker process timing its levels in increasing order. A case does not run when:
- the precision does not combine with XLA (the oneDNN bfloat16 rewrite: `training.precision`
  says why) or the width setting's training config refuses the options (its message);
- the batch does not split into passes of `minibatch_gpu` (families that accumulate
  gradients);
- official-size networks: a bf16 / XLA variant above `--variant-max-res` (unless
  `--all-variants`), the input-pipeline case above `--pipeline-max-res`;
- the step with augmentation, where this tree's training has no augmentation option (the pipe
  is then timed alone).
Each of these is a "skip" record (JSON) and a "# skipped ..." line. The reader and the
augmentation do not depend on the precision: each (width setting, level) reads in the first
group that times the level, and each (width setting, XLA, level) times the pipe in the first
group of that XLA setting that times the level.

The numeric checks run once per network family among the width settings (on its first
non-official setting requested, else its first), the 1024 memory case once per family.
"""

from __future__ import annotations

import dataclasses

from bench.case_setup import PRECISIONS
from bench.width_settings import get_width_setting, training_config, width_settings_of
from tf_stylegan.errors import UserError

__all__ = ["LAZY_VARIANTS", "LEVELS", "Plan", "batch_for", "build_plan", "passes_for",
           "skip_line", "steps_for"]

LEVELS = (8, 16, 32, 64, 128, 256)
LAZY_VARIANTS = ("all", "cycle", "plain")
DEFAULT_WIDTHS = ("official", "demo")


@dataclasses.dataclass
class Plan:
    """What a run does.

    Attributes:
        groups: list of group specs (the "group" worker's JSON spec, without "dataset").
        skips: list of "skip" records.
        levels: list of the requested levels.
        widths: list of the width setting names.
        checks: list of "checks" worker specs.
        mem1024: list of "mem1024" worker specs.
        profile: the "profile" worker's spec, or None.
    """

    groups: list
    skips: list
    levels: list
    widths: list
    checks: list
    mem1024: list
    profile: dict | None = None


def batch_for(setting, override):
    """The global minibatch of a width setting: `--batch`, or the setting's default."""
    return int(override) if override else setting.batch


def steps_for(setting, res, quick, override):
    """Timed steps: few for official-size networks at high resolution (tens of s per step on 2
    cores)."""
    if override:
        return override
    if setting.official:
        return 3 if res <= 16 else (2 if res <= 32 else 1)
    return 3 if quick else 5


def passes_for(setting, batch, override=None):
    """(minibatch_gpu or None, a reason the batch cannot run or None) of a width setting:
    samples per pass, `--minibatch-gpu` or the preset's, at most the batch, for families that
    accumulate gradients (None for the others: one pass)."""
    if not setting.family.gradient_accumulation:
        return None, None
    size = override or setting.config_fields().get("minibatch_gpu") or batch
    size = min(int(size), batch)
    if batch % size:
        return None, (f"the batch {batch} does not split into passes of minibatch_gpu {size}; "
                      f"give a --batch that is a multiple of it, or --minibatch-gpu")
    return size, None


def _skip(case, widths, precision, xla, levels, reason):
    return {"kind": "skip", "case": case, "widths": widths,
            "precision": PRECISIONS[precision][1] if precision else None, "xla": xla,
            "levels": list(levels), "reason": reason}


def skip_line(record) -> str:
    """The printed line of a "skip" record."""
    where = " ".join(str(x) for x in (
        record.get("widths"), record.get("precision"),
        None if record.get("xla") is None else f"xla={'on' if record['xla'] else 'off'}")
        if x is not None)
    levels = f" levels {record['levels']}" if record.get("levels") else ""
    return f"# skipped {record['case']}{' ' + where if where else ''}{levels}: {record['reason']}"


def _config_problem(setting, precision, xla, batch, levels, minibatch_gpu):
    """The UserError message with which training refuses this combination, or None."""
    from training.precision import check_xla, resolve

    value = PRECISIONS[precision][0]
    try:
        check_xla(resolve(value), xla)
        training_config(setting, "bench/dataset", {r: batch for r in levels}, levels, value,
                        xla, minibatch_gpu=minibatch_gpu)
    except UserError as e:
        return str(e)
    return None


def _levels(args):
    if args.levels:
        try:
            levels = [int(r) for r in args.levels.split(",")]
        except ValueError:
            raise UserError(f"`--levels` must be a comma list of ints. Received: "
                            f"{args.levels!r}") from None
    else:
        levels = [8, 16] if args.quick else list(LEVELS)
    for r in levels:
        if r not in LEVELS:
            raise UserError(f"`--levels` must be among {LEVELS}. Received: {r}")
    return sorted(set(levels))


def _widths(args):
    families = [f for f in (args.family or "").split(",") if f]
    if args.widths:
        names = [w for w in args.widths.split(",") if w]
        settings = [get_width_setting(w) for w in names]
        if families:
            from tf_stylegan.families import get_family

            wanted = {get_family(f).name for f in families}
            bad = [s.name for s in settings if s.family.name not in wanted]
            if bad:
                raise UserError(f"`--widths` {bad} are not of `--family` {families}")
        return names
    if families:
        return width_settings_of(families)
    return list(DEFAULT_WIDTHS)


def _augment(args):
    if args.no_augment or not args.augment:
        return []
    from tf_stylegan.augment import AUGMENT_PRESETS

    names = [a for a in args.augment.split(",") if a]
    for name in names:
        if name not in AUGMENT_PRESETS:
            raise UserError(f"`--augment` entries must be among {list(AUGMENT_PRESETS)}. "
                            f"Received: {name!r}")
    if not 0.0 <= args.augment_p <= 1.0:
        raise UserError(f"`--augment-p` must be in [0, 1]. Received: {args.augment_p}")
    return names


def build_plan(args) -> Plan:
    """The plan of the parsed command line `args` (`bench.run.parse_args`)."""
    levels = _levels(args)
    widths = _widths(args)
    precisions = [p for p in args.precisions.split(",") if p]
    for p in precisions:
        if p not in PRECISIONS:
            raise UserError(f"`--precisions` entries must be among {sorted(PRECISIONS)}. "
                            f"Received: {p!r}")
    xla_names = {"off": False, "on": True}
    for x in args.xla.split(","):
        if x not in xla_names:
            raise UserError(f"`--xla` entries must be 'off' or 'on'. Received: {x!r}")
    xlas = [xla_names[x] for x in args.xla.split(",")]
    if args.lazy_variants not in LAZY_VARIANTS:
        raise UserError(f"`--lazy-variants` must be one of {LAZY_VARIANTS}. "
                        f"Received: {args.lazy_variants!r}")
    augment = _augment(args)
    groups, skips = [], []
    batches, passes = {}, {}
    for w in widths:
        setting = get_width_setting(w)
        batch = batches[w] = batch_for(setting, args.batch)
        if args.minibatch_gpu and not setting.family.gradient_accumulation:
            skips.append(_skip("minibatch_gpu", w, None, None, [], (
                f"--minibatch-gpu {args.minibatch_gpu} not used: the {setting.family.name} "
                f"family's training runs each batch in one pass")))
        passes[w], reason = passes_for(setting, batch, args.minibatch_gpu)
        if reason:
            skips.append(_skip("train", w, None, None, levels, reason))
            continue
        for precision in precisions:
            for xla in xlas:
                reason = _config_problem(setting, precision, xla, batch, levels, passes[w])
                if reason:
                    skips.append(_skip("train", w, precision, xla, levels, reason))
                    continue
                lv = levels
                if setting.official and (precision != "fp32" or xla) and not args.all_variants:
                    lv = [r for r in levels if r <= args.variant_max_res]
                    above = [r for r in levels if r > args.variant_max_res]
                    if above:
                        skips.append(_skip("train", w, precision, xla, above, (
                            f"official-size networks run the bf16 / XLA variants up to "
                            f"--variant-max-res {args.variant_max_res}; add --variant-max-res "
                            f"{max(above)} or --all-variants")))
                if not lv:
                    continue
                on = [r for r in lv if r <= args.pipeline_max_res] if setting.official else lv
                if len(on) < len(lv):
                    skips.append(_skip("pipeline", w, precision, xla, [r for r in lv
                                                                        if r not in on], (
                        f"official-size networks time the step fed by the reader up to "
                        f"--pipeline-max-res {args.pipeline_max_res}; add --pipeline-max-res "
                        f"{max(lv)}")))
                groups.append({
                    "widths": w, "precision": precision, "xla": xla, "levels": lv,
                    "batch": {str(r): batch for r in lv}, "minibatch_gpu": passes[w],
                    "steps": {str(r): steps_for(setting, r, args.quick, args.steps) for r in lv},
                    "warmup": args.warmup, "pipeline_levels": on, "reader_levels": [],
                    "augment": augment, "augment_p": args.augment_p, "augment_levels": [],
                    "lazy_variants": args.lazy_variants, "roofline": args.roofline})
    _host(groups, "reader_levels", lambda g: g["widths"])
    _host(groups, "augment_levels", lambda g: (g["widths"], g["xla"]))
    if augment:
        from bench.augment_cost import augmented_step_fields

        if augmented_step_fields(augment[0], args.augment_p) is None:
            skips.append(_skip("train_augment", None, None, None, [], (
                "this tree's training has no augmentation option (TrainingConfig has no `aug` "
                "field): the pipe is timed alone, beside the step without it")))
    plan = Plan(groups=groups, skips=skips, levels=levels, widths=widths, checks=[],
                mem1024=[])
    if args.profile:
        w = widths[0]
        res = levels[0]
        plan.profile = {"widths": w, "levels": [res], "precision": precisions[0],
                        "xla": xlas[0], "warmup": args.warmup,
                        "batch": {str(res): batches[w]}, "minibatch_gpu": passes[w],
                        "steps": {str(res): args.steps or 3}}
        skips.append(_skip("all", None, None, None, [], (
            f"--profile profiles the train step of {w} {precisions[0]} at {res} and runs "
            f"nothing else")))
        return plan
    families = {}
    for w in widths:
        families.setdefault(get_width_setting(w).family.name, []).append(w)
    if not args.no_checks:
        res = 16 if 16 in levels else levels[0]
        for name, names in families.items():
            w = next((n for n in names if not get_width_setting(n).official), names[0])
            if passes[w] is None and get_width_setting(w).family.gradient_accumulation:
                skips.append(_skip("checks", w, None, None, [res], "the batch does not split "
                                   "into passes (see the train skip)"))
                continue
            plan.checks.append({"widths": w, "resolution": res, "steps": 3,
                                "batch": {str(res): batches[w]},
                                "minibatch_gpu": passes[w]})
    if not args.no_mem1024 and not args.quick:
        plan.mem1024 = [{"family": name} for name in families]
    return plan


def _host(groups, key, group_of):
    """Gives each level of each `group_of` class to the first group of the class that times
    it: `group[key]` lists the levels the group hosts."""
    seen = set()
    for group in groups:
        for r in group["levels"]:
            if (group_of(group), r) not in seen:
                seen.add((group_of(group), r))
                group[key].append(r)
