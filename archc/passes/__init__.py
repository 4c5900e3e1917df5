"""Passes over the graph: expansion (with shapes), counting, receptive fields."""
