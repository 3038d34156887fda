"""Throughput and memory benchmarks of tf-stylegan. Run `python -m bench --help`."""
