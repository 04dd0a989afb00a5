"""One loader opens a model directory (electra_tf/model_dir/loader.py), and only the metadata
module reads task.json: predict, export and convert share ``open_model_directory``, and a second
copy of the opening code (a command reading task.json, choosing the class or the tokenizer
itself) fails here. ``from_pretrained`` on the base class picks the class a directory holds."""

import ast
import json
import os

import numpy as np
import pytest

import electra_tf as et
from electra_tf.checkpoints.hf import write_tokenizer_files
from electra_tf.model_dir.layout import METADATA_FILE, resolve_model_dir, task_model_dir
from electra_tf.model_dir.loader import open_model_directory
from electra_tf.model_dir.metadata import TaskMetadata
from electra_tf.modeling.models import ElectraPreTrainedModel
from tests.conftest import ROOT

PACKAGE = os.path.join(ROOT, "electra_tf")
VOCAB = os.path.join(ROOT, "examples", "data", "models", "electra-tiny", "vocab.txt")  # 81 tokens
LABELS = ["neg", "pos"]

#: the functions that may open task.json: the metadata module's readers
TASK_JSON_READERS = {"electra_tf.model_dir.metadata.TaskMetadata.read", "electra_tf.model_dir.metadata.TaskMetadata.stored"}
#: readers elsewhere, by function name, with the reason each is allowed
TASK_JSON_READER_EXCEPTIONS = {
    # reads the tokenizer section of a *pre-trained* checkpoint that happens to be an electra-tf
    # model directory, with its own ConfigError wording (a damaged file is a ConfigError naming the
    # key, not the metadata's CheckpointError); it could call TaskMetadata.stored
    "checkpoint_tokenizer_settings": "fine-tuning's tokenizer reconciliation (finetuning/tokenizer_settings.py)",
}
#: modules that still spell the file name, with the reason
TASK_JSON_LITERAL_EXCEPTIONS: dict = {}
#: what the three commands must not do themselves: the loader does it
OPENING_CALLS = ("metadata_for", "read_tokenizer_files", "default_model_type", "from_pretrained", "build_tokenizer",
                 "model_type_of", "resolve_model_dir")
COMMANDS = {"predict": "open_model_directory", "export": "open_model_directory", "convert": "open_model_directory"}


def _modules():
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                with open(path, encoding="utf-8") as f:
                    yield rel.removesuffix(".__init__"), ast.parse(f.read(), path)


def _names(node):
    """Constants, names and attribute names inside ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value
        elif isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def _functions(tree, prefix):
    """(qualified name, node) of every function, methods included."""
    def walk(node, qual):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{qual}.{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield name, child
                yield from walk(child, name)
    yield from walk(tree, prefix)


def _called(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            yield f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def task_json_readers():
    """Functions that name task.json (the literal or METADATA_FILE) and open or load a file."""
    found = set()
    for module, tree in _modules():
        for name, fn in _functions(tree, module):
            own = [n for n in ast.iter_child_nodes(fn)]
            names = set(_names(ast.Module(body=own, type_ignores=[])))
            calls = set(_called(ast.Module(body=own, type_ignores=[])))
            if ({METADATA_FILE, "METADATA_FILE"} & names) and ({"open", "load", "loads", "read_json_file"} & calls):
                found.add(name)
            # the project's JSON reader, given task.json itself
            for call in ast.walk(ast.Module(body=own, type_ignores=[])):
                if (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None))
                        == "read_json_or_none" and {METADATA_FILE, "METADATA_FILE"} & set(_names(call))):
                    found.add(name)
    return found


def test_only_the_metadata_module_reads_task_json():
    readers = task_json_readers()
    assert TASK_JSON_READERS <= readers  # the scan sees the real readers
    others = {r for r in readers - TASK_JSON_READERS if r.rsplit(".", 1)[-1] not in TASK_JSON_READER_EXCEPTIONS}
    assert not others, f"task.json is read outside model_dir/metadata.py: {sorted(others)}; use TaskMetadata / the loader"
    # the literal file name is written once, in the layout (elsewhere it is METADATA_FILE)
    modules = dict(_modules())
    literal = {module for module, tree in modules.items() for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and node.value == "task.json"}
    excepted = {module for module, tree in modules.items() for name, _ in _functions(tree, module)
                if name.rsplit(".", 1)[-1] in TASK_JSON_READER_EXCEPTIONS}
    others = literal - {"electra_tf.model_dir.layout"} - excepted - set(TASK_JSON_LITERAL_EXCEPTIONS)
    assert not others, f"the file name task.json is written outside model_dir/layout.py: {sorted(others)}"


def test_predict_export_and_convert_open_a_model_directory_through_the_loader():
    trees = dict(_modules())
    for command, loader in COMMANDS.items():
        tree = trees[f"electra_tf.cli.{command}"]
        calls = set(_called(tree))
        assert loader in calls, f"cli/{command}.py does not call {loader}"
        # resolve_model_dir before TensorFlow starts is allowed (the output checks need the folder)
        own = set(OPENING_CALLS) - {"resolve_model_dir"}
        assert not own & calls, f"cli/{command}.py opens the directory itself: {sorted(own & calls)}"
        assert "MODEL_CLASSES" not in set(_names(tree)), f"cli/{command}.py chooses the model class itself"


def test_the_scan_finds_a_second_reader(tmp_path):
    source = "import json, os\nMETADATA_FILE = 'task.json'\ndef f(d):\n    return json.load(open(os.path.join(d, METADATA_FILE)))\n"
    tree = ast.parse(source)
    name, fn = next(_functions(tree, "m"))
    assert {"METADATA_FILE"} <= set(_names(fn)) and {"open", "load"} <= set(_called(fn))


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """A classification model directory with task.json, and a plain HF-layout tagger without."""
    root = tmp_path_factory.mktemp("dirs")
    config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, num_labels=2,
                              id2label=dict(enumerate(LABELS)), head="electra")
    trial = root / "sst_model_1"
    sst = task_model_dir(str(trial), "sst", 1)
    et.TFElectraForSequenceClassification(config).build_with_dummy_inputs().save_pretrained(sst, format="keras")
    write_tokenizer_files(sst, VOCAB, do_lower_case=True)
    TaskMetadata(task_name="sst", family="classification", model_type="sequence-classification", max_seq_length=16,
                 labels=list(LABELS), tokenizer={"file": "vocab.txt", "do_lower_case": True},
                 settings={"problem": "single_label"}).write(sst)
    tagger = str(root / "tagger")
    et.TFElectraForTokenClassification(config.replace(head="hf")).build_with_dummy_inputs().save_pretrained(tagger)
    write_tokenizer_files(tagger, VOCAB, do_lower_case=False)
    return str(trial), sst, tagger


def test_open_model_directory_resolves_a_trial_folder_and_reads_its_metadata(model_dirs):
    trial, sst, tagger = model_dirs
    directory = open_model_directory(trial)
    assert directory.path == sst == resolve_model_dir(trial, None)
    assert directory.model_type == "sequence-classification" and directory.family == "classification"
    assert directory.metadata.labels == LABELS and directory.files_dir == sst
    # the converter reads the path as given
    assert open_model_directory(sst, resolve=False).path == sst
    # an explicit model type wins
    assert open_model_directory(sst, model_type="base").model_type == "base"
    model = directory.load_model()
    assert isinstance(model, et.TFElectraForSequenceClassification) and directory.model is model
    meta = directory.task_metadata(model)
    assert meta is directory.metadata
    tokenizer = directory.tokenizer(meta)
    assert tokenizer.tokenize("the movie")


def test_a_directory_without_task_json_gets_metadata_from_its_config(model_dirs):
    _, _, tagger = model_dirs
    directory = open_model_directory(tagger)
    assert directory.metadata is None and directory.model_type == "token-classification"
    model = directory.load_model()
    meta = directory.task_metadata(model)
    assert meta.family == "tagging" and meta.labels == LABELS and meta.settings == {"segment_id": 1}
    assert meta.do_lower_case is False and meta.max_seq_length == 128


def test_from_pretrained_on_the_base_class_picks_the_directory_s_class(model_dirs):
    trial, sst, tagger = model_dirs
    model = ElectraPreTrainedModel.from_pretrained(sst)
    assert type(model) is et.TFElectraForSequenceClassification and model.task_metadata.task_name == "sst"
    assert type(ElectraPreTrainedModel.from_pretrained(tagger)) is et.TFElectraForTokenClassification  # HF architectures
    # on a subclass: that class, as before (the bare encoder of a fine-tuned model)
    bare = et.TFElectraModel.from_pretrained(sst)
    assert type(bare) is et.TFElectraModel
    ids = np.array([[2, 5, 7, 3]], "int32")
    np.testing.assert_allclose(bare(ids)["last_hidden_state"], model.electra(ids, attention_mask=np.ones_like(ids),
                                                                             token_type_ids=np.zeros_like(ids))["last_hidden_state"],
                               atol=1e-5)


def test_typed_settings_read_old_sections_and_write_what_runs_wrote():
    from electra_tf.finetuning.qa.settings import QASettings
    from electra_tf.finetuning.tagging.settings import TaggingSettings
    from electra_tf.model_dir.preprocessing import family_settings

    old = {"max_query_length": 32, "doc_stride": 64, "unknown": 1}  # an older section: the rest defaults
    s = QASettings.from_dict(old)
    assert (s.max_query_length, s.doc_stride, s.n_best_size, s.max_answer_length, s.qa_na_threshold) == (32, 64, 20, 30, -2.75)
    assert list(QASettings().to_dict()) == ["max_query_length", "doc_stride", "n_best_size", "max_answer_length",
                                            "qa_na_threshold", "v2", "answer_mode", "head", "head_options"]
    meta = TaskMetadata(task_name="t", family="qa", model_type="question-answering", max_seq_length=128, settings=old)
    assert family_settings(meta) == s and meta.to_dict()["qa"] == old  # reading keeps the stored section
    assert TaggingSettings.from_dict({}).word_lowercase(True) is True
    assert json.loads(json.dumps(TaggingSettings().to_dict()))["scheme"] == "iob2"


def test_every_family_describes_itself_in_its_folder():
    """A family is its folder plus its line in MODEL_TYPE_FAMILY: the registry, the settings, the
    preprocessor, the fallback metadata and the prediction code are found from the family's name."""
    from electra_tf.finetuning.builtin_tasks import registered_tasks
    from electra_tf.finetuning.families import family_module
    from electra_tf.model_dir.metadata import FAMILIES, MODEL_TYPE_FAMILY
    from electra_tf.model_dir.settings import FamilySettings

    assert FAMILIES == tuple(MODEL_TYPE_FAMILY.values()) == ("classification", "tagging", "qa")
    for family in FAMILIES:
        module = family_module(family)
        assert module.__name__ == f"electra_tf.finetuning.{family}.family"
        assert issubclass(module.SETTINGS, FamilySettings)
        assert callable(module.build_preprocessor) and callable(module.fallback_settings) and callable(module.predict)
        own, allowed, described, suggest = module.OUTPUT_FORMATS
        assert own in allowed and described and suggest
    assert {"sst", "chunk", "squad"} <= set(registered_tasks())
    with pytest.raises(KeyError, match="unknown family"):
        family_module("summarization")
