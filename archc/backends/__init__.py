"""Backends: the only package that may import torch, onnx or graphviz (lazily)."""
