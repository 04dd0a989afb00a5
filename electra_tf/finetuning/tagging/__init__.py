"""Sequence tagging (chunking, NER, POS; ``finetune/tagging/`` of the original).

``reader`` (CoNLL / Naver files -> sentences), ``preprocessor`` (sentences -> word-position
features), ``schemes`` (tag schemes, spans and their metrics), ``crf`` and ``head`` (the tagging
head, optionally with a CRF), ``scorer`` (decoding and scoring), ``task`` (TaggingTask) and
``tasks`` (registrations).
"""
