"""The trained-model directory: what it holds (``metadata.py``: ``task.json``), the weight scope of a
task head (``scope.py``), and the preprocessor its metadata describes (``preprocessing.py``)."""
