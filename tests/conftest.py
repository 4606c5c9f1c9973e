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


def assert_real_figure(path, min_colors: int = 8) -> None:
    """A PNG that shows something: readable, a real size, and many distinct colours (a blank
    or failed figure has one or two)."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(path))
    assert img.ndim == 3 and img.shape[0] >= 200 and img.shape[1] >= 200, (path, img.shape)
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= min_colors, (path, len(colours))
