"""Studies beside the paper's tables and figures: the toy chain that tests the oscillation theorem (notebook 00)."""
