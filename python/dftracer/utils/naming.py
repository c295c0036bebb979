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

from typing import Any

from dftracer.utils import _core

__all__ = ["derive_task_name"]


def derive_task_name(fn: Any) -> str:
    """Returns the default task name for ``fn`` (the rule above).

    It is implemented in the extension module, because ``submit`` applies it
    on every call.

    >>> import functools
    >>> def my_function(): ...
    >>> my_function.__module__ = "__main__"
    >>> derive_task_name(my_function)
    'my_function'
    >>> derive_task_name(functools.partial(my_function, 1))
    'my_function'
    """
    return _core.derive_task_name(fn)
