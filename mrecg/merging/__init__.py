"""Which units are reconstructed jointly: merge schemes (the authors' released ones, top-k, random),
module capacity (ModCap, data-free and data-dependent), and the selection that resolves a config's
scheme before ``quantize()`` runs."""
