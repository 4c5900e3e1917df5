"""archc's benchmark suite: `python -m bench` (see bench/RESULTS.md for the latest full run).

Measures archc against what users would use instead (issue 6): static analysis against
torchinfo, scaling with network size, start-up, generated models against hand-written
PyTorch, build overhead over a bare ONNX export, and memory on a huge spec.
"""
