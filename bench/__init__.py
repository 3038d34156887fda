"""Throughput and memory benchmarks of tf-stylegan (issue 7). Run `python -m bench --help`."""
