"""Throughput, memory, augmentation-cost and roofline benchmarks of tf-stylegan. Run `python -m
bench --help`; docs/architecture.md lists the modules."""
