"""hf_geommem: how deep sequence models store facts, as associations or as a geometry.

Graph-memorization tasks as Hugging Face datasets (:mod:`hf_geommem.graphs`,
:mod:`hf_geommem.tasks`, :mod:`hf_geommem.builder`), after arXiv 2510.26745.
"""

__version__ = "0.1.0"

from .builder import TaskData, build_in_context_task, build_task, load_task, push_task  # noqa: E402
from .graphs import Graph, build_graph  # noqa: E402
from .tasks import EdgeTaskConfig, InContextConfig, PathTaskConfig  # noqa: E402

__all__ = [
    "__version__",
    "Graph",
    "build_graph",
    "TaskData",
    "build_task",
    "build_in_context_task",
    "load_task",
    "push_task",
    "EdgeTaskConfig",
    "PathTaskConfig",
    "InContextConfig",
]
