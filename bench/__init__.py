"""The benchmark suite of onnx-lambda-deployer: `python -m bench` from the repo root.

See bench/README.md for what it measures and bench/RESULTS.md for the last full run.
"""
