"""Examples: the bundled iris model (examples/iris/) and the README's inputs (`python -m examples.make`)."""
