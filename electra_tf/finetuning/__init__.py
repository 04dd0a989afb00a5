"""The original fine-tuning recipe: hparams, tasks, data pipeline and the runner."""
