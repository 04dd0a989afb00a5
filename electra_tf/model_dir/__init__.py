"""The trained-model directory, owned here:

* ``layout.py``: the file names (task.json, a run's tasks.json, model/, saved_model/) and where a
  run puts them; ``resolve_model_dir`` (a trial folder -> its model directory);
* ``scope.py``: the weight scope of a task head;
* ``metadata.py``: ``task.json`` (TaskMetadata), the only code that reads it, and the checks a
  directory passes when it is opened;
* ``settings.py``: the base of the typed per-family settings (each family's own is in
  ``finetuning/<family>/settings.py``);
* ``preprocessing.py``: the typed settings and the preprocessor a directory's metadata describes;
* ``loader.py``: ``open_model_directory``, the one way predict, export and convert open a directory.
"""
