"""Training: the original optimizer, the distributed training loop."""
