"""Benchmarks of the model, the service, the gallery search and start-up (see docs/benchmarks.md).

Each `bench_*.py` prints its tables and, with `--out DIR`, writes them as a markdown section that
`run_all.py` assembles into docs/benchmarks.md. Figures are ratios taken in one run where the issue
asks for them, so that noise from other jobs on the machine cancels; nothing here is a test.
"""
