"""Every optional import of the meta-learning package names the ``meta`` extra when its module is missing."""

from __future__ import annotations

import pytest

from raytune_llm.errors import MissingExtraError
from raytune_llm.meta import MetaLearner, MetaStore, similar_experiments
from support.blocking import block_in_process
from support.metastores import DATASETS


def _fit(store, learner, tmp_path):
    MetaLearner(seed=0).fit(store, task="image-classification")


def _explain(store, learner, tmp_path):
    learner.explain(DATASETS["beta"])


def _similar(backend):
    def run(store, learner, tmp_path):
        similar_experiments(store, DATASETS["beta"], task="image-classification", backend=backend)
    return run


def _experiments(store, learner, tmp_path):
    store.experiments()


def _export(store, learner, tmp_path):
    store.export_parquet(tmp_path / "meta.parquet")


def _ingest(name):
    def run(store, learner, tmp_path):
        path = tmp_path / name
        path.write_bytes(b"")  # never read: the missing module is reported first
        with MetaStore(tmp_path / "other.sqlite") as other:
            other.ingest_table(path)
    return run


@pytest.mark.parametrize("blocked, use, module, feature", [
    (("sklearn",), _fit, "sklearn.model_selection", r"MetaLearner\.fit"),  # issue 34: was a bare ModuleNotFoundError
    (("xgboost",), _fit, "xgboost", "MetaLearner"),
    (("shap",), _explain, "shap", r"MetaLearner\.explain"),
    (("sklearn",), _similar("sklearn"), "sklearn.neighbors", "similar_experiments"),
    (("faiss",), _similar("faiss"), "faiss", r"similar_experiments\(backend='faiss'\)"),
    (("pandas",), _experiments, "pandas", "MetaStore"),
    (("pyarrow",), _export, "pyarrow", r"MetaStore\.export_parquet"),
    (("pyarrow",), _ingest("runs.parquet"), "pyarrow.parquet", r"MetaStore\.ingest_table for Parquet"),
    (("pandas",), _ingest("runs.csv"), "pandas", r"MetaStore\.ingest_table"),
])
def test_missing_module_names_the_meta_extra(store, learner, tmp_path, monkeypatch, blocked, use, module, feature):
    block_in_process(monkeypatch, blocked)
    with pytest.raises(MissingExtraError, match=rf"{feature}.* needs the Python module '{module}'.*"
                                                r"pip install 'raytune-llm\[meta\]'") as info:
        use(store, learner, tmp_path)
    assert isinstance(info.value, ImportError)


def test_the_store_module_does_not_import_ray():
    import subprocess
    import sys

    code = ("import sys; import raytune_llm.meta.store, raytune_llm.meta.records, raytune_llm.meta.tables; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
