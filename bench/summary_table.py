"""The report `python -m bench` prints after its JSON lines: the per-level table, the targets,
and the tables of the lazy-regularization variants, the augmentation cost, the roofline, and
the skipped cases.

The main table has one row per (width setting, precision, XLA, level): training images/s of the
plain step with the input pipeline off and on, the reader alone, inference, the peak RSS of the
level's cases and the retraces inside their timed windows. The targets are those of the
benchmark's issue: step(8) / step(128) <= 0.05 at official widths, the reader >= 5x training,
no retrace, generation at 1024 in 4 GiB; plus each variant's speed-up over float32.
"""

from __future__ import annotations

from bench.case_plan import skip_line

__all__ = ["summarize"]


def _f(record, key="img_per_s", fmt="{:.2f}"):
    return fmt.format(record[key]) if record and record.get(key) is not None else "-"


def _xla(x):
    return "on" if x else "off"


def _key(r):
    return (r["widths"], r["precision"], r["xla"], r["resolution"])


def summarize(records, log):
    """Prints the report of `records` (every JSON record of the run) through `log`."""
    env = next((r for r in records if r["kind"] == "env"), {})
    log("")
    log(f"device: {env.get('device')}  TF {env.get('tf_version')}  cpus {env.get('cpu_count')}")
    rows = _main_table(records, log)
    _targets(records, rows, log)
    _lazy_table(records, log)
    _augment_table(records, log)
    _roofline_table(records, log)
    skips = [r for r in records if r["kind"] == "skip"]
    if skips:
        log("")
        log(f"Skipped ({len(skips)}):")
        for r in skips:
            log(f"  {skip_line(r)}")
    errors = [r for r in records if r["kind"] == "error"]
    if errors:
        log(f"  {len(errors)} worker(s) FAILED: " + ", ".join(e["worker"] for e in errors))


def _main_table(records, log):
    infer = {_key(r): r for r in records if r["kind"] == "infer"}
    reader = {(r["widths"], r["resolution"]): r for r in records if r["kind"] == "read"}
    rows = {}
    for r in records:
        if r["kind"] == "train":
            rows.setdefault(_key(r), {})[r["pipeline"]] = r
    width = max([9] + [len(k[0]) for k in rows])
    hdr = (f"{'widths':{width}} {'res':>4} {'batch':>5} {'precision':15} {'xla':>3} "
           f"{'steps':>5} {'train img/s':>11} {'+pipeline':>10} {'reader img/s':>12} "
           f"{'infer img/s':>11} {'peak MB':>8} {'retraces':>8}")
    log(hdr)
    log("-" * len(hdr))
    for key in sorted(rows):
        w, p, x, res = key
        off, on = rows[key].get("off"), rows[key].get("on")
        inf = infer.get(key)
        rd = reader.get((w, res))
        cases = [c for c in (off, on, inf) if c]
        retr = sum(c["traces_after"] - c["traces_before"] for c in cases)
        peak = max((c["peak_rss_mb"] or 0) for c in cases)
        log(f"{w:{width}} {res:>4} {off['batch'] if off else '-':>5} {p:15} {_xla(x):>3} "
            f"{off['steps'] if off else '-':>5} {_f(off):>11} {_f(on):>10} {_f(rd):>12} "
            f"{_f(inf):>11} {peak:>8.0f} {retr:>8}")
    return rows


def _targets(records, rows, log):
    log("")
    log("Targets:")
    base = {k: v for k, v in rows.items() if k[1] == "fp32" and not k[2]}
    o8, o128 = base.get(("official", "fp32", False, 8)), base.get(("official", "fp32", False, 128))
    if o8 and o128 and o8.get("off") and o128.get("off"):
        ratio = o8["off"]["sec_per_step"] / o128["off"]["sec_per_step"]
        log(f"  step(8)/step(128), official widths, batch {o8['off']['batch']}: {ratio:.4f} "
            f"(target <= 0.05): {'PASS' if ratio <= 0.05 else 'FAIL'}")
    reader = {(r["widths"], r["resolution"]): r for r in records if r["kind"] == "read"}
    worst = None
    for (w, p, x, res), v in base.items():
        rd = reader.get((w, res))
        if rd and v.get("off"):
            ratio = rd["img_per_s"] / v["off"]["img_per_s"]
            if worst is None or ratio < worst[0]:
                worst = (ratio, w, res)
    if worst:
        log(f"  reader / training img/s, worst case ({worst[1]} {worst[2]}): {worst[0]:.1f}x "
            f"(target >= 5): {'PASS' if worst[0] >= 5 else 'FAIL'}")
    for variant, pred in (("mixed_bfloat16", lambda k: k[1] == "mixed_bfloat16" and not k[2]),
                          ("onednn_bfloat16", lambda k: k[1] == "onednn_bfloat16" and not k[2]),
                          ("XLA", lambda k: k[1] == "fp32" and k[2])):
        parts = []
        for key in sorted(k for k in rows if pred(k)):
            ref = rows.get((key[0], "fp32", False, key[3]), {}).get("off")
            got = rows[key].get("off")
            if ref and got:
                parts.append(f"{key[0]} {key[3]}: {ref['sec_per_step'] / got['sec_per_step']:.2f}x")
        if parts:
            log(f"  {variant} training speed-up vs fp32: " + ", ".join(parts))
    total_retr = sum(r["traces_after"] - r["traces_before"] for r in records
                     if "traces_after" in r)
    log(f"  retraces inside timed windows: {total_retr} (target 0): "
        f"{'PASS' if total_retr == 0 else 'FAIL'}")
    for c in (r for r in records if r["kind"] == "check"):
        log(f"  check {c['variant']} vs fp32 ({c['widths']} {c['resolution']}, {c['steps']} "
            f"steps): G out rel diff init {c['G_out_rel_diff_init']:.2e}, after "
            f"{c['G_out_rel_diff_after']:.2e}; step-1 loss rel diff D "
            f"{c['D_loss_rel_diff_per_step'][0]:.2e} G {c['G_loss_rel_diff_per_step'][0]:.2e}; "
            f"max over steps D {max(c['D_loss_rel_diff_per_step']):.2e} "
            f"G {max(c['G_loss_rel_diff_per_step']):.2e}")
    for m in (r for r in records if r["kind"] == "mem1024"):
        log(f"  generation 1024x1024 batch 1 peak RSS ({m.get('family', 'stylegan')}): "
            f"{m['peak_rss_mb']:.0f} MB (target <= 4096): "
            f"{'PASS' if m['peak_rss_mb'] <= 4096 else 'FAIL'}")


def _lazy_table(records, log):
    cycles = {_key(r): r for r in records if r["kind"] == "train_cycle"}
    variants = {}
    for r in records:
        if r["kind"] in ("train_variant", "train") and r.get("pipeline") == "off":
            variants.setdefault(_key(r), {})["+".join(r.get("variant") or []) or "plain"] = r
    keys = sorted(k for k in variants if len(variants[k]) > 1 or k in cycles)
    if not keys:
        return
    names = ["plain", "G_reg", "D_reg", "G_reg+D_reg"]
    names += sorted({n for k in keys for n in variants[k]} - set(names))
    log("")
    log("Lazy regularization: s/step of each variant of the step; cycle = the mean over the "
        "steps of one cycle of their variant's time (bench/lazy_cycle.py)")
    width = max([9] + [len(k[0]) for k in keys])
    hdr = (f"{'widths':{width}} {'res':>4} {'batch':>5} {'passes':>6} {'precision':15} "
           f"{'xla':>3} " + " ".join(f"{n:>11}" for n in names)
           + f" {'cycle s':>8} {'cycle img/s':>11}")
    log(hdr)
    log("-" * len(hdr))
    for key in keys:
        w, p, x, res = key
        v = variants[key]
        any_r = next(iter(v.values()))
        cyc = cycles.get(key)
        log(f"{w:{width}} {res:>4} {any_r['batch']:>5} {any_r.get('passes', 1):>6} {p:15} "
            f"{_xla(x):>3} "
            + " ".join(f"{_f(v.get(n), 'sec_per_step', '{:.3f}'):>11}" for n in names)
            + f" {_f(cyc, 'sec_per_step', '{:.3f}'):>8} {_f(cyc):>11}")


def _augment_table(records, log):
    aug = [r for r in records if r["kind"] == "augment"]
    if not aug:
        return
    stepped = {(_key(r), r["augpipe"]): r for r in records if r["kind"] == "train_augment"}
    log("")
    log("Augmentation (ADA pipe alone on the D inputs of a step, bench/augment_cost.py): step s "
        "= the step without it (the cycle's mean with lazy regularization); pipe s = the pipe's "
        "share per step; step+aug = the step with the pipe inside, where training has it")
    width = max([9] + [len(r["widths"]) for r in aug])
    hdr = (f"{'widths':{width}} {'res':>4} {'batch':>5} {'passes':>6} {'precision':15} "
           f"{'xla':>3} {'augpipe':>7} {'p':>4} {'step s':>8} {'pipe s':>8} {'pipe/step':>9} "
           f"{'forward':>8} {'grad':>8} {'r1':>8} {'step+aug':>8}")
    log(hdr)
    log("-" * len(hdr))
    for r in sorted(aug, key=lambda r: (_key(r), r["augpipe"])):
        w, p, x, res = _key(r)
        pat = r["pattern_seconds"]
        frac = r.get("fraction_of_step")
        stepped_r = stepped.get((_key(r), r["augpipe"]))
        log(f"{w:{width}} {res:>4} {r['batch']:>5} {r['passes']:>6} {p:15} {_xla(x):>3} "
            f"{r['augpipe']:>7} {r['p']:>4.2f} {_f(r, 'step_sec_per_step', '{:.3f}'):>8} "
            f"{r['sec_per_step']:>8.3f} "
            f"{(f'{100 * frac:.0f}%' if frac is not None else '-'):>9} "
            + " ".join(f"{_f(pat, k, '{:.3f}'):>8}" for k in ("forward", "grad", "r1"))
            + f" {_f(stepped_r, 'sec_per_step', '{:.3f}'):>8}")


def _roofline_table(records, log):
    roof = [r for r in records if r["kind"] == "roofline"]
    if not roof:
        return
    log("")
    log("Roofline: FLOPs of the step's convolutions and matrix products (traced graph, 2 per "
        "multiply-add); peak = the same ops timed alone; step = the plain step, or the mean "
        "over the lazy-regularization cycle")
    width = max([9] + [len(r["widths"]) for r in roof])
    hdr = (f"{'widths':{width}} {'res':>4} {'batch':>5} {'precision':15} {'xla':>3} "
           f"{'step':>5} {'GFLOP/step':>10} {'s/step':>8} {'GFLOP/s':>8} {'peak':>8} "
           f"{'of peak':>7} {'best op':>8}")
    log(hdr)
    log("-" * len(hdr))

    def step_name(r):
        return "cycle" if r.get("variant") == "cycle" else "plain"

    for r in sorted(roof, key=lambda r: (_key(r), step_name(r) == "cycle")):
        log(f"{r['widths']:{width}} {r['resolution']:>4} {r['batch']:>5} {r['precision']:15} "
            f"{_xla(r['xla']):>3} {step_name(r):>5} {r['gflop_per_step']:>10.2f} "
            f"{r['sec_per_step']:>8.3f} {r['achieved_gflops']:>8.1f} "
            f"{r['peak_gflops']:>8.1f} {100 * r['fraction_of_peak']:>6.0f}% "
            f"{r['best_op_gflops']:>8.1f}")
