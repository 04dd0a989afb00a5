"""Pre-training data: vocabulary training and the original ELECTRA dataset builder.

``vocab``: train a WordPiece ``vocab.txt`` (or a SentencePiece model) from a corpus folder.
``dataset``: text files -> the original's pre-training TFRecords (``build_pretraining_dataset``),
made of ``corpus`` (file listing and line reading), ``tokenization`` (the builder's tokenizer),
``packing`` (the original ``ExampleBuilder`` rule) and ``records`` (serialization).
"""
