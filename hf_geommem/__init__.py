"""hf_geommem: how deep sequence models store facts, as associations or as a geometry.

Graph-memorization tasks as Hugging Face datasets (:mod:`hf_geommem.graphs`,
:mod:`hf_geommem.tasks`, :mod:`hf_geommem.builder`), after arXiv 2510.26745.
"""

__version__ = "0.1.0"

from .lazy import lazy_getattr

# names load on first use: `import hf_geommem` (and the CLI's --help) stays cheap
_WHERE = {
    "Graph": "graphs", "build_graph": "graphs",
    "TaskData": "builder", "build_task": "builder", "build_in_context_task": "builder",
    "load_task": "builder", "push_task": "builder",
    "EdgeTaskConfig": "tasks", "PathTaskConfig": "tasks", "InContextConfig": "tasks",
}


__getattr__ = lazy_getattr(__name__, _WHERE, globals())

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
