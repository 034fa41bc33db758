"""Building blocks shared by papers (data, metrics, training, kernels)."""
