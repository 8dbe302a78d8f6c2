"""Experiments and their records: what a run is (runs, hashed into the fingerprint), how records are
stored and read (records, not hashed), the pool, the notebooks' plumbing, statistics, the noise
floor, the paper's numbers, and the toy of notebook 00."""
