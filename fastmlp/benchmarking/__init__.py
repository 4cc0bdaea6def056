"""Benchmark workloads, contenders and the ``fastmlp bench`` report (not imported by ``import fastmlp``)."""
