"""Text processing: tokenizers faithful to the original."""
