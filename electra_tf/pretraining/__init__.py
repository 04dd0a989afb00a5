"""ELECTRA pre-training: the data (vocabulary training, the original dataset builder) and the
training itself (``run_pretraining.py``).

``vocab``: train a WordPiece ``vocab.txt`` (or a SentencePiece model) from a corpus folder.
``dataset``: text files -> the original's pre-training TFRecords (``build_pretraining_dataset``),
made of ``corpus`` (file listing and line reading), ``tokenization`` (the builder's tokenizer),
``packing`` (the original ``ExampleBuilder`` rule) and ``records`` (serialization).

Training: ``config`` (PretrainingConfig, the original hparams and precedence; ``model_configs``),
``masking`` (the original dynamic masking in TF ops), ``model`` (PretrainingModel: generator,
discriminator, losses), ``metrics`` (the original eval metrics), ``input`` (reading the records),
``runner`` (PretrainingRunner: train / evaluate), ``export`` (the original TF1 layout),
``warm_start`` (the init_checkpoint extension: weights, vocabulary and sizes from the checkpoint),
``health`` (health checks during training) and ``probe`` (the downstream probe, ``probe_task``).
"""
