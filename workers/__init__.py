"""Worker side: the model, its kernels' callers, the engine and the Ray worker groups."""
