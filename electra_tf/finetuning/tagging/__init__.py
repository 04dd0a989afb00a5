"""Sequence tagging: tag schemes and span metrics, the CRF, the tagging head."""
