"""Default task names: ``__qualname__``, prefixed by ``__module__`` unless it
is ``__main__``; partials take their function's name; callable objects
without ``__qualname__`` use their type's; never a file or line number."""

from __future__ import annotations

import functools
import json
import operator
import os.path

import pytest

import dftracer.utils as dft
from dftracer.utils.naming import derive_task_name


def module_level_function():
    return 1


class Pipeline:
    def run(self):
        return "ran"

    @staticmethod
    def static():
        return "static"

    @classmethod
    def klass(cls):
        return cls.__name__

    class Inner:
        def step(self):
            return "inner"


class CallableObject:
    def __call__(self):
        return "called"


def test_function_defined_in_main_is_named_by_its_qualname_alone(run_as_main):
    with dft.Runtime(threads=1) as rt:
        ns = run_as_main(
            """
            def my_function():
                return 1
            h = rt.submit(my_function)
            """,
            rt=rt,
        )
        assert ns["h"].name == "my_function"


def test_bound_method_defined_in_main_is_named_class_dot_method(run_as_main):
    with dft.Runtime(threads=1) as rt:
        ns = run_as_main(
            """
            class Pipeline:
                def run(self):
                    return 1
            h = rt.submit(Pipeline().run)
            """,
            rt=rt,
        )
        assert ns["h"].name == "Pipeline.run"


def test_lambda_in_main_is_named_lambda(run_as_main):
    with dft.Runtime(threads=1) as rt:
        ns = run_as_main("h = rt.submit(lambda: None)", rt=rt)
        assert ns["h"].name == "<lambda>"


def test_nested_function_in_main_keeps_its_locals_qualname(run_as_main):
    ns = run_as_main(
        """
        def outer():
            def inner():
                pass
            return inner
        name = derive(outer())
        """,
        derive=derive_task_name,
    )
    assert ns["name"] == "outer.<locals>.inner"


def test_function_from_a_module_is_prefixed_by_the_module():
    assert derive_task_name(module_level_function) == f"{__name__}.module_level_function"


def test_library_functions_carry_their_module():
    assert derive_task_name(json.dumps) == "json.dumps"
    assert derive_task_name(os.path.join) == "posixpath.join"


def test_builtin_function_has_no_builtins_prefix_surprise():
    # builtins live in the "builtins" module; the rule applies unchanged.
    assert derive_task_name(len) == "builtins.len"


def test_bound_method_from_a_module_is_prefixed_class_dot_method():
    assert derive_task_name(Pipeline().run) == f"{__name__}.Pipeline.run"


def test_static_and_class_methods_use_their_qualname():
    assert derive_task_name(Pipeline.static) == f"{__name__}.Pipeline.static"
    assert derive_task_name(Pipeline.klass) == f"{__name__}.Pipeline.klass"


def test_method_of_nested_class_uses_full_qualname():
    assert derive_task_name(Pipeline.Inner().step) == f"{__name__}.Pipeline.Inner.step"


def test_partial_takes_its_function_name():
    assert derive_task_name(functools.partial(module_level_function)) == f"{__name__}.module_level_function"


def test_nested_partial_takes_the_innermost_function_name():
    inner = functools.partial(pow, 2)
    assert derive_task_name(functools.partial(inner, 3)) == "builtins.pow"


def test_partial_of_bound_method_takes_method_name():
    assert derive_task_name(functools.partial(Pipeline().run)) == f"{__name__}.Pipeline.run"


def test_partial_in_main_has_no_prefix(run_as_main):
    ns = run_as_main(
        """
        import functools
        def my_function(x):
            return x
        name = derive(functools.partial(my_function, 1))
        """,
        derive=derive_task_name,
    )
    assert ns["name"] == "my_function"


def test_callable_object_without_qualname_uses_its_type():
    obj = CallableObject()
    assert not hasattr(obj, "__qualname__")
    assert derive_task_name(obj) == f"{__name__}.CallableObject"


def test_callable_object_in_main_uses_its_type_name_alone(run_as_main):
    ns = run_as_main(
        """
        class Job:
            def __call__(self):
                return 1
        name = derive(Job())
        """,
        derive=derive_task_name,
    )
    assert ns["name"] == "Job"


def test_callable_c_object_uses_its_type():
    getter = operator.itemgetter(0)
    assert derive_task_name(getter) == "operator.itemgetter"


def test_class_as_callable_is_named_by_the_class():
    assert derive_task_name(Pipeline) == f"{__name__}.Pipeline"


@pytest.mark.parametrize(
    "fn",
    [module_level_function, Pipeline().run, CallableObject(), functools.partial(module_level_function), lambda: 0],
)
def test_names_have_no_file_or_line_number(fn):
    name = derive_task_name(fn)
    assert ".py" not in name and ":" not in name
    assert not any(ch.isdigit() for ch in name)


def test_submit_uses_derived_name_and_explicit_name_overrides_it(rt):
    assert rt.submit(module_level_function).name == f"{__name__}.module_level_function"
    assert rt.submit(functools.partial(module_level_function)).name == f"{__name__}.module_level_function"
    assert rt.submit(CallableObject()).name == f"{__name__}.CallableObject"
    assert rt.submit(module_level_function, name="custom-name").name == "custom-name"
    rt.wait_all()


def test_name_shows_in_progress_and_errors(rt):
    def broken():
        raise KeyError("k")

    rt.submit(broken)
    rt.wait_all()
    progress = rt.get_progress()
    expected = f"{__name__}.test_name_shows_in_progress_and_errors.<locals>.broken"
    assert [t["name"] for t in progress["tasks"]] == [expected]
    assert [e["name"] for e in progress["errors"]] == [expected]


def _make_named(qualname: str, module: str):
    def fn():
        return qualname

    fn.__qualname__ = qualname
    fn.__module__ = module
    return fn


def test_submit_names_follow_a_renamed_function(rt):
    # Names are remembered by the identity of __qualname__/__module__: a
    # rename between submits must show at once, not the remembered name.
    def worker():
        return 1

    first = rt.submit(worker).name
    worker.__qualname__ = "renamed_worker"
    assert rt.submit(worker).name == f"{__name__}.renamed_worker"
    worker.__module__ = "elsewhere"
    assert rt.submit(worker).name == "elsewhere.renamed_worker"
    assert first.endswith(".<locals>.worker")
    rt.wait_all()


def test_submit_names_stay_right_across_many_distinct_functions(rt):
    # More functions than the name memory holds, interleaved and repeated,
    # some sharing a qualname but not a module: each handle, each progress
    # entry and the engine's record carry their own function's name.
    fns = [_make_named(f"step_{i % 6}", f"pkg.mod{i % 5}") for i in range(30)]
    handles = [rt.submit(fn) for _ in range(3) for fn in fns]
    expected = [f"pkg.mod{i % 5}.step_{i % 6}" for _ in range(3) for i in range(30)]
    assert [h.name for h in handles] == expected
    rt.wait_all()
    assert [h.get() for h in handles] == [name.rsplit(".", 1)[1] for name in expected]
    recorded = {t["task_id"]: t["name"] for t in rt.get_progress(max_tasks=1000)["tasks"]}
    seen = [(recorded[h.task_id], name) for h, name in zip(handles, expected) if h.task_id in recorded]
    assert seen and all(got == want for got, want in seen)


def test_submit_name_of_a_main_module_function_has_no_prefix(rt):
    fn = _make_named("local_step", "__main__")
    assert rt.submit(fn).name == "local_step"
    assert rt.submit(_make_named("local_step", "lib")).name == "lib.local_step"
    rt.wait_all()
