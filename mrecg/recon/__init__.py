"""Reconstruction of any unit: a network as a chain of elements, its partition into units (layer,
block, merged blocks), the one reconstruction loop, the activation caches, and ``quantize()``."""
