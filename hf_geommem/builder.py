"""Build, save, load and push graph-memorization tasks as Hugging Face datasets.

A task folder has the Hub layout, so ``datasets.load_dataset(folder, "paths")`` works on it and
the same folder pushes to a dataset repo unchanged::

    README.md                              dataset card: YAML configs:, dataset_info:, hf_geommem:
    edges/train-00000-of-00001.parquet     edge memorization examples
    paths/train-00000-of-00001.parquet     path finding, train arms
    paths/test-00000-of-00001.parquet      path finding, held-out arms
    graph/nodes-00000-of-00001.parquet     one row per node: the graph and its metadata
    tokenizer/                             the word-level PreTrainedTokenizerFast

In-context tasks have only ``paths`` (every example carries its own graph).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, DatasetDict, DatasetInfo, Features
from datasets.table import InMemoryTable

from . import __version__
from .files import atomic_output_dir, check_output_dir, push_folder  # noqa: F401  (re-exported)
from .graphs import Graph, build_graph
from .tasks import (
    EDGE_FEATURES,
    GRAPH_FEATURES,
    IN_CONTEXT_FEATURES,
    PATH_FEATURES,
    EdgeTaskConfig,
    InContextConfig,
    PathTaskConfig,
    edge_table,
    graph_from_table,
    graph_table,
    in_context_tables,
    path_tables,
    to_dict,
)
from .tokenization import build_tokenizer

__all__ = ["TaskData", "build_task", "build_in_context_task", "load_task", "push_task",
           "atomic_output_dir"]

CONFIG_FEATURES = {"edges": EDGE_FEATURES, "paths": PATH_FEATURES, "graph": GRAPH_FEATURES}
CARD_KEY = "hf_geommem"


def _parquet_name(config: str, split: str) -> str:
    return f"{config}/{split}-00000-of-00001.parquet"


def _dataset(table: pa.Table, features: Features, split: str) -> Dataset:
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), split=split)


@dataclass
class TaskData:
    """A built task: one ``DatasetDict`` per config, the tokenizer, the graph and metadata.

    Attributes:
        configs: ``{"edges": DatasetDict(train), "paths": DatasetDict(train, test),
            "graph": DatasetDict(nodes)}`` (in-context tasks: ``paths`` only).
        tokenizer: word-level ``PreTrainedTokenizerFast`` covering every node id.
        graph: the memorized graph (``None`` for in-context tasks).
        metadata: task name, graph family and parameters, task options, library version.
    """

    configs: dict[str, DatasetDict]
    tokenizer: Any
    graph: Graph | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, config: str) -> DatasetDict:
        if config not in self.configs:
            raise KeyError(f"config {config!r} not in this task; it has {list(self.configs)}")
        return self.configs[config]

    def __contains__(self, config: str) -> bool:
        return config in self.configs

    @property
    def default_config(self) -> str:
        return "paths" if "paths" in self.configs else next(iter(self.configs))

    def sizes(self) -> dict[str, dict[str, int]]:
        """``{config: {split: num_rows}}``."""
        return {c: {s: d.num_rows for s, d in dd.items()} for c, dd in self.configs.items()}

    def summary(self) -> str:
        """A few human-readable lines: graph, configs and split sizes, one example."""
        lines = [f"task: {self.metadata.get('task')}"]
        if self.graph is not None:
            lines.append(f"graph: {self.graph!r}")
        for c, splits in self.sizes().items():
            lines.append(f"  {c}: " + ", ".join(f"{s}={n:,}" for s, n in splits.items()))
        for c in ("edges", "paths"):
            if c in self.configs:
                row = next(iter(self.configs[c].values()))[0]
                lines.append(f"  e.g. {c}: {row['prompt']!r} -> {row['completion']!r}")
        return "\n".join(lines)

    def save_to_folder(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the Hub layout into ``folder`` atomically (temp folder, then rename)."""
        with atomic_output_dir(folder, overwrite=overwrite) as tmp:
            for config, dd in self.configs.items():
                for split, ds in dd.items():
                    path = tmp / _parquet_name(config, split)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(ds.data.table, path, compression="zstd")
            self.tokenizer.save_pretrained(str(tmp / "tokenizer"))
            _write_card(self, tmp)
        return Path(folder)

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None,
                    commit_message: str | None = None) -> str:
        """Save to a temporary folder and upload it as dataset repo ``repo_id``; returns its URL."""
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            folder = self.save_to_folder(Path(d) / "task")
            return push_task(folder, repo_id, private=private, token=token,
                             commit_message=commit_message)


def build_task(
    graph: Graph | str,
    edges: EdgeTaskConfig | None = None,
    paths: PathTaskConfig | None | bool = None,
    tokenizer_max_length: int | None = None,
    progress: Callable[[str], None] | None = None,
    **graph_params: Any,
) -> TaskData:
    """Build the ``edges``, ``paths`` and ``graph`` configs of a graph-memorization task.

    Args:
        graph: a :class:`Graph`, or a family name (``"path_star"``, ``"grid"``, ...) built with
            ``graph_params``.
        edges: edge-memorization options (default: both directions, no self-edges).
        paths: path-finding options. ``None`` builds paths only for rooted graphs; ``False``
            never; a config always (and raises if the graph is not a rooted tree).
        tokenizer_max_length: ``model_max_length`` of the tokenizer (default: longest example).
        progress: optional callback called with the name of each finished stage.
    Returns:
        a :class:`TaskData`.
    """
    step = progress or (lambda _name: None)
    if isinstance(graph, str):
        graph = build_graph(graph, **graph_params)
    elif graph_params:
        raise TypeError(f"graph parameters {sorted(graph_params)} given with a built Graph")
    step("graph")
    edges = edges or EdgeTaskConfig()
    tables: dict[str, dict[str, pa.Table]] = {"edges": {"train": edge_table(graph, edges)}}
    step("edges")
    if paths is None:
        paths = PathTaskConfig() if graph.arms is not None else False
    elif paths is True:
        paths = PathTaskConfig()
    if paths is not False:
        tables["paths"] = path_tables(graph, paths)
        step("paths")
    tables["graph"] = {"nodes": graph_table(graph)}
    step("graph table")
    longest = 2 + (graph.arms.shape[1] * 2 + (paths.num_pauses if paths else 0)
                   if graph.arms is not None else 0)
    tok = build_tokenizer(graph.num_nodes, tokenizer_max_length or max(8, longest + 2))
    step("tokenizer")
    metadata = {
        "task": graph.family,
        "graph": {"family": graph.family, "params": graph.params,
                  "num_nodes": graph.num_nodes, "num_edges": graph.num_edges,
                  "root": graph.root},
        "edges": to_dict(edges),
        "paths": to_dict(paths) if paths else None,
        "version": __version__,
    }
    return _task_from_tables(tables, tok, graph, metadata)


def build_in_context_task(config: InContextConfig | None = None, **kwargs: Any) -> TaskData:
    """Build the in-context path-star task: a ``paths`` config (train/test) of fresh graphs."""
    config = config or InContextConfig(**kwargs)
    tables = {"paths": in_context_tables(config)}
    num_edges = config.num_nodes - 1
    tok = build_tokenizer(config.num_node_ids, 3 * num_edges + 4 + config.length + 2)
    metadata = {"task": "in_context_path_star", "in_context": to_dict(config),
                "version": __version__}
    return _task_from_tables(tables, tok, None, metadata)


def _task_from_tables(tables: dict[str, dict[str, pa.Table]], tok: Any, graph: Graph | None,
                      metadata: dict) -> TaskData:
    configs = {}
    for config, splits in tables.items():
        features = IN_CONTEXT_FEATURES if metadata["task"] == "in_context_path_star" \
            else CONFIG_FEATURES[config]
        configs[config] = DatasetDict({s: _dataset(t, features, s) for s, t in splits.items()})
    metadata["configs"] = {c: list(dd) for c, dd in configs.items()}
    return TaskData(configs=configs, tokenizer=tok, graph=graph, metadata=metadata)


# ---------------------------------------------------------------------- card
_DESCRIPTIONS = {
    "edges": "edge memorization: prompt `[EDGE] u`, completion `v`, one row per directed edge",
    "paths": "path finding: prompt `[PATH] leaf [PAUSE]...`, completion the root-to-leaf path; "
             "train and test arms are disjoint",
    "graph": "the graph: one row per node (forward neighbours, parent, depth, branch, "
             "component, degree); `hf_geommem.load_task` rebuilds it exactly",
}


def _describe(config: str, meta: dict) -> str:
    if meta["task"] == "in_context_path_star":
        return "a fresh random path-star per example, shuffled edge list in the prompt"
    return _DESCRIPTIONS.get(config, "")


def _write_card(task: TaskData, folder: Path) -> None:
    from datasets.info import DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    default = task.default_config
    meta_configs = MetadataConfigs({
        c: {"data_files": [{"split": s, "path": _parquet_name(c, s)} for s in dd],
            **({"default": True} if c == default else {})}
        for c, dd in task.configs.items()
    })
    infos = {}
    for c, dd in task.configs.items():
        first = next(iter(dd.values()))
        info = DatasetInfo(features=first.features, config_name=c)
        # as `datasets` counts them: num_bytes / dataset_size the Arrow data in memory,
        # download_size the files
        info.splits = SplitDict({s: SplitInfo(name=s, num_examples=d.num_rows,
                                              num_bytes=d.data.nbytes)
                                 for s, d in dd.items()})
        info.dataset_size = sum(d.data.nbytes for d in dd.values())
        info.download_size = sum((folder / _parquet_name(c, s)).stat().st_size for s in dd)
        infos[c] = info
    data = DatasetCardData(
        license="mit", pretty_name=_title(task), task_categories=["text-generation"],
        tags=["synthetic", "graphs", "memorization", "hf_geommem"],
        size_categories=[_size_category(sum(sum(s.values()) for s in task.sizes().values()))],
    )
    meta_configs.to_dataset_card_data(data)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    data[CARD_KEY] = json.loads(json.dumps(task.metadata))
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{_card_body(task)}")
    card.save(folder / "README.md")


def _title(task: TaskData) -> str:
    m = task.metadata
    if m["task"] == "in_context_path_star":
        c = m["in_context"]
        return f"In-context path-star G({c['degree']},{c['length']})"
    p = m["graph"]["params"]
    shape = {"path_star": "G({degree},{length})", "tree_star": "T({degree},{length})",
             "grid": "{rows}x{cols}", "cycle": "{n}"}.get(m["task"], "")
    name = m["task"].replace("_", "-")
    return f"{name} {shape.format(**p)}".strip() + " graph memorization"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return label
    return "10M<n<100M"


def _card_body(task: TaskData) -> str:
    m = task.metadata
    rows = "\n".join(
        f"| `{c}` | {s} | {n:,} | {_describe(c, m)} |"
        for c, splits in task.sizes().items() for s, n in splits.items()
    )
    params = json.dumps({k: v for k, v in m.items() if k not in ("configs",)}, indent=2)
    cfg = task.default_config
    return f"""# {_title(task)}

Synthetic graph-memorization data from [hf_geommem](https://pypi.org/project/hf-geommem/), after
"Deep sequence models tend to memorize geometrically; it is unclear why" (arXiv 2510.26745).
A model memorizes the edges of one fixed graph in its weights and is then asked to find paths
whose first hop needs a multi-hop composition of the memorized edges. Node ids are random
integers, so they carry no structure; each node is one token of the bundled word-level tokenizer
(`tokenizer/`).

| config | split | rows | contents |
|---|---|---|---|
{rows}

## Use

```python
from datasets import load_dataset
ds = load_dataset("<this repo or folder>", "{cfg}")

import hf_geommem
task = hf_geommem.load_task("<this repo or folder>")   # configs + graph + tokenizer
```

Columns `prompt` / `completion` are whitespace-separated tokens (the prompt-completion format of
TRL); integer columns give the same data as node ids. In path configs, `target` lists the node ids
to emit and `loss_mask` which of them are supervised.

## Generation parameters

Rebuilding with the same parameters and seed gives byte-identical Parquet files.

```json
{params}
```
"""


# ---------------------------------------------------------------------- load / push
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def looks_like_local_path(source: str) -> bool:
    """Anything but ``owner/name`` is meant as a local path, and so is ``owner/name`` whose
    first part is a local folder (a typo in a local path must not go to the Hub)."""
    return not _REPO_ID.match(source) or Path(source.split("/")[0]).is_dir()


def _read_card_meta(source: str, revision: str | None, token: str | None) -> tuple[dict, bool]:
    from huggingface_hub import DatasetCard

    local = Path(source).is_dir()
    if local:
        readme = Path(source) / "README.md"
        if not readme.is_file():
            raise FileNotFoundError(f"{source!r} has no README.md: not an hf_geommem task folder")
    elif Path(source).exists():
        raise NotADirectoryError(f"dataset {source!r} is a file, not a task folder (hf-geommem "
                                 f"build --out)")
    elif looks_like_local_path(source):
        raise FileNotFoundError(f"dataset folder {source!r} not found")
    else:
        from huggingface_hub import hf_hub_download

        try:
            readme = hf_hub_download(source, "README.md", repo_type="dataset",
                                     revision=revision, token=token)
        except Exception as exc:  # offline, unknown repo, no access: one message
            raise FileNotFoundError(f"{source!r} is neither a local task folder nor a reachable "
                                    f"Hub dataset repo ({type(exc).__name__}: {exc})") from None
    try:
        card = DatasetCard.load(readme)
    except Exception as exc:  # YAML errors come in several types
        raise ValueError(f"{str(readme)!r}: invalid dataset card ({type(exc).__name__}: "
                         f"{exc})") from None
    meta = card.data.to_dict().get(CARD_KEY)
    if not meta:
        raise ValueError(f"{source!r} has no '{CARD_KEY}' block in its card: not built by "
                         f"hf_geommem")
    return meta, local


def _read_split(folder: Path, config: str, split: str, features: Features) -> pa.Table:
    """One split's Parquet file, refused with its name when it is missing, damaged, or holds
    another config's columns (a swapped file)."""
    path = folder / _parquet_name(config, split)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} not found: the task folder is incomplete; "
                                f"rebuild it")
    try:
        table = pq.read_table(path, memory_map=True)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable Parquet file ({exc}): rebuild the "
                         f"task folder") from None
    if table.column_names != list(features):
        raise ValueError(f"{str(path)!r} has columns {table.column_names}, not those of config "
                         f"{config!r} ({list(features)}): the file was replaced or swapped; "
                         f"rebuild the task folder")
    return table


def load_task(source: str | os.PathLike, configs: list[str] | None = None,
              cache_dir: str | None = None, revision: str | None = None,
              token: str | None = None) -> TaskData:
    """Load a task folder or Hub dataset repo: configs, tokenizer and the rebuilt graph.

    A local folder is read straight from its Parquet files (memory-mapped, no cache, so a
    folder rebuilt with ``--overwrite`` is never served stale rows); a repo id goes through
    ``datasets.load_dataset``.
    """
    from transformers import PreTrainedTokenizerFast

    source = str(source)
    meta, local = _read_card_meta(source, revision, token)
    wanted = configs or list(meta["configs"])
    unknown = set(wanted) - set(meta["configs"])
    if unknown:
        raise ValueError(f"configs {sorted(unknown)} not in {source!r}; it has "
                         f"{list(meta['configs'])}")
    in_context = meta["task"] == "in_context_path_star"
    loaded = {}
    for c in wanted:
        features = IN_CONTEXT_FEATURES if in_context else CONFIG_FEATURES[c]
        if local:
            loaded[c] = DatasetDict({s: _dataset(_read_split(Path(source), c, s, features),
                                                 features, s)
                                     for s in meta["configs"][c]})
        else:
            from datasets import load_dataset

            loaded[c] = load_dataset(source, c, cache_dir=cache_dir, revision=revision,
                                     token=token)
    if local:
        tok_dir = Path(source) / "tokenizer"
        if not (tok_dir / "tokenizer.json").is_file():
            raise FileNotFoundError(f"tokenizer folder {str(tok_dir)!r} not found or incomplete "
                                    f"(no tokenizer.json): rebuild the task folder")
        tok = PreTrainedTokenizerFast.from_pretrained(str(tok_dir))
    else:
        tok = PreTrainedTokenizerFast.from_pretrained(source, subfolder="tokenizer",
                                                      revision=revision, token=token)
    graph = None
    if not in_context:
        graph_dd = loaded["graph"] if "graph" in loaded else load_task(
            source, ["graph"], cache_dir, revision, token).configs["graph"]
        g = meta["graph"]
        graph = graph_from_table(graph_dd["nodes"], g["family"], g["params"])
    meta = dict(meta, source=source)  # where it was loaded from (runs record it for plots)
    if not local:
        meta["hub_id"] = source  # model cards then name the Hub dataset
    return TaskData(configs=loaded, tokenizer=tok, graph=graph, metadata=meta)


def push_task(folder: str | os.PathLike, repo_id: str, private: bool = False,
              token: str | None = None, commit_message: str | None = None) -> str:
    """Upload a saved task folder to the Hub as dataset repo ``repo_id``; returns the repo URL."""
    folder = Path(folder)
    _read_card_meta(str(folder), None, None)  # refuse folders that are not tasks
    return push_folder(folder, repo_id, "dataset", private=private, token=token,
                       commit_message=commit_message or "Upload hf_geommem task")


def materialize(builders: dict[str, Callable[[], TaskData]], out_dir: str | os.PathLike,
                push: str | None = None, overwrite: bool = False, private: bool = False,
                ) -> dict[str, Path]:
    """Build each named task into ``out_dir/<name>`` (and push it), printing a summary.

    With one task ``push`` is the repo id; with several, task ``name`` goes to
    ``f"{push}-{name}"``. Used by ``dataset_scripts/``. Returns ``{name: folder}``."""
    import time

    out_dir = Path(out_dir)
    for name in builders:  # refuse before building anything
        check_output_dir(out_dir / name, overwrite)
    done = {}
    for name, make in builders.items():
        t0 = time.perf_counter()
        task = make()
        folder = task.save_to_folder(out_dir / name, overwrite=overwrite)
        print(f"== {name} ({time.perf_counter() - t0:.1f} s) -> {folder}")
        print(task.summary())
        if push:
            repo = push if len(builders) == 1 else f"{push}-{name}"
            print(f"pushed to {push_task(folder, repo, private=private)}")
        done[name] = folder
    return done


def add_materialize_args(parser) -> None:
    """The ``--out/--push/--private/--overwrite`` options shared by ``dataset_scripts/``."""
    parser.add_argument("--out", default="datasets_out", help="parent folder of the datasets")
    parser.add_argument("--push", metavar="REPO", help="push to this Hub dataset repo "
                        "(several datasets: REPO-<name>)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
