"""The intermediate representation: a dataflow graph of layers inside a tree of modules."""

from archc.ir.graph import Counts, Graph, Module, Node, ReceptiveField

__all__ = ["Graph", "Module", "Node", "Counts", "ReceptiveField"]
