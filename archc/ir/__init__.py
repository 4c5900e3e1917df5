"""The intermediate representation: a dataflow graph of layers inside a tree of modules."""

from archc.ir.graph import Graph, Module, Node, Counts, ReceptiveField

__all__ = ["Graph", "Module", "Node", "Counts", "ReceptiveField"]
