import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def cache_dir(tmp_path):
    """A fresh datasets cache per test (a local folder's cache key ignores file mtimes)."""
    d = tmp_path / "hf_cache"
    d.mkdir()
    return str(d)
