"""Training, independent of any task (fine-tuning and pre-training runners drive it).

* ``engine``: TrainingEngine (fit / evaluate / restore / predict_batches) and FitOptions;
* ``loop``: the strategy-aware tf.function step (Trainer: gradient accumulation, loss scaling, XLA);
* ``checkpointing``: the training checkpoint (weights by name, dropout RNG states, optimizer);
* ``selection``: best-model selection and early stopping;
* ``runtime``: is_chief, the worker's checkpoint directory, set_seed;
* ``optimization``: the original optimizer; ``distribute``: the strategy; ``precision``: the
  dtype policy; ``progress``: progress bar, log lines and TensorBoard.

Nothing here imports ``electra_tf.finetuning`` or ``electra_tf.modeling``.
"""
