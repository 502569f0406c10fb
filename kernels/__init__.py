"""Compute kernels: Triton on GPU, pure-torch references (`ref`) on CPU and as test oracles."""
