"""Training, independent of any task (fine-tuning and pre-training runners drive it).

* ``engine``: TrainingEngine (fit / evaluate / restore / predict_batches) and FitOptions;
* ``loop``: the strategy-aware tf.function step (Trainer: gradient accumulation, loss scaling, XLA);
* ``checkpointing``: the training checkpoint (weights by name, dropout RNG states, optimizer);
* ``selection``: best-model selection and early stopping;
* ``runtime``: is_chief, the worker's checkpoint directory and log file, set_seed;
* ``interrupts``: signals -> save and stop (all workers at the same step in a multi-worker run);
* ``cluster``: the cluster resolvers (TF_CONFIG, Slurm, Kubernetes indexed Job, TPU);
* ``optimization``: the original optimizer; ``distribute``: the strategy; ``precision``: the
  dtype policy; ``progress``: progress bar, log lines and TensorBoard.

Nothing here imports ``electra_tf.finetuning`` or ``electra_tf.modeling``.
"""
