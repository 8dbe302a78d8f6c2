"""Quantizers and quantized layers: uniform affine fake quantization, AdaRound, learned activation
steps, and the quantized counterparts of the networks' layers and blocks. Imports nothing above it."""
