"""Default task names derived from the submitted callable.

The rule (see the API reference): the callable's ``__qualname__``, prefixed
by its ``__module__`` unless that is ``__main__``::

    my_function        # defined in the script being run
    Pipeline.run       # a bound method, from the script
    <lambda>
    pkg.mod.func       # imported from a module

``functools.partial`` takes its function's name; a callable object without
``__qualname__`` uses its type's. No file names or line numbers.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["derive_task_name"]


def derive_task_name(fn: Any) -> str:
    """Returns the default task name for ``fn``.

    >>> def my_function(): ...
    >>> my_function.__module__ = "__main__"
    >>> derive_task_name(my_function)
    'my_function'
    >>> derive_task_name(functools.partial(my_function, 1))
    'my_function'
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str):
        module = getattr(fn, "__module__", None)
    else:
        kind = type(fn)
        qualname = kind.__qualname__
        module = kind.__module__
    if isinstance(module, str) and module and module != "__main__":
        return f"{module}.{qualname}"
    return qualname
