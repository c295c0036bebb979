"""Where dftracer.utils' CMake package lives: find_package(DFTracerUtils).

Installed as ``dftracer/share/cmake/DFTracerUtils/__init__.py`` next to
``DFTracerUtilsConfig.cmake``, and named by the wheel's ``cmake.root``
entry point: scikit-build-core imports it in every build in the environment
and passes this folder to CMake as ``DFTracerUtils_ROOT``. It is a regular
package with no code (importing it loads nothing of dftracer.utils), and not
the namespace package ``dftracer``: ``importlib.resources.files`` cannot
locate a namespace package on Python 3.9, which broke every
scikit-build-core build there.
"""
