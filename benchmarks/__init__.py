"""Benchmark harness for artifact_fs against MLflow's built-in repositories and raw clients.

Run ``python -m benchmarks.run --help`` from the repository root; see benchmarks/README.md.
"""
