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

# `import transformers; import hf_geommem` registers the linear network with the Auto classes
# (free once transformers is loaded); without transformers loaded, `import hf_geommem` stays light
# and saved linear models load anyway with trust_remote_code=True (their code ships with them)
import sys as _sys  # noqa: E402

if "transformers" in _sys.modules:
    from . import linear_memory as _linear_memory  # noqa: E402,F401

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
