"""Triton's front end, on a machine without a GPU, for each kernel the interpreter runs.

The interpreter executes a kernel's body as Python, so it accepts code that the compiler
refuses: a name bound to a tensor in one branch and to a pointer in another, a helper called
with the wrong constexpr. Such a kernel passes every interpreted case and fails at its first
launch on a GPU. `check_before_each_run` makes every interpreted launch first build the kernel's
Triton IR for sm_90 (H100/H200), with programmatic dependent launch on as the engine runs it
there. Building the IR needs no GPU and no CUDA toolkit.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import torch
from triton._C.libtriton import ir
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import CUDABackend
from triton.compiler import ASTSource
from triton.runtime import interpreter
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction, mangle_type
from triton.tools.tensor_descriptor import TensorDescriptor

TARGET = GPUTarget("cuda", 90, 32)

_TWINS: dict[int, JITFunction] = {}


def _twin(fn: InterpretedFunction) -> JITFunction:
    """The compilable twin of an interpreted function, made once."""
    if id(fn) not in _TWINS:
        _TWINS[id(fn)] = JITFunction(fn.fn)
    return _TWINS[id(fn)]


def _kernel_modules() -> list[ModuleType]:
    """Ours, and triton.language's (tl.sum, tl.argmax... are jit functions too)."""
    prefixes = ("hybridserve.kernels", "triton.language")
    return [m for name, m in list(sys.modules.items()) if name.startswith(prefixes)]


@contextlib.contextmanager
def _helpers_compiled() -> Iterator[None]:
    """The kernel modules' globals point at their functions' twins meanwhile, so that the
    helpers a kernel calls compile with it."""
    swapped = []
    for module in _kernel_modules():
        names = vars(module)
        for attr, value in list(names.items()):
            if isinstance(value, InterpretedFunction):
                swapped.append((names, attr, value))
                names[attr] = _twin(value)
    try:
        yield
    finally:
        for names, attr, value in swapped:
            names[attr] = value


def build_ir(kernel: InterpretedFunction, args: tuple, kwargs: dict[str, Any]) -> None:
    """The kernel's Triton IR for sm_90 from one launch's arguments (a CompilationError if the
    compiler refuses it)."""
    twin = _twin(kernel)
    names = [p.name for p in twin.params]
    bound = dict(zip(names, args)) | {k: v for k, v in kwargs.items() if k in names}
    signature, constants = {}, {}
    for param in twin.params:
        value = bound.get(param.name, param.default)
        if param.is_constexpr:
            signature[param.name] = "constexpr"
            constants[param.name] = True if param.name == "PDL" else value
        else:
            signature[param.name] = mangle_type(value)  # as Triton's JIT types the launch's
            if value is None:  # a None argument: a constexpr, as the JIT specializes it
                constants[param.name] = None
    backend = CUDABackend(TARGET)
    options = backend.parse_options({"num_warps": kwargs.get("num_warps", 4)})
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    with _helpers_compiled():
        ASTSource(twin, signature, constants).make_ir(
            TARGET, options, backend.get_codegen_implementation(options),
            backend.get_module_map(), context,
        )  # fmt: skip


def check_before_each_run() -> None:
    """Every interpreted launch from now on first builds the kernel's IR for sm_90, once for
    each distinct signature and constexpr set.

    The interpreter swaps triton.language's functions for its own while it runs, and leaves
    some swapped after a helper's call: each attribute's value from before its first swap is
    put back before each build."""
    run, built, pristine = InterpretedFunction.run, set(), {}
    set_attr = interpreter._LangPatchScope.set_attr

    def recorded(scope: Any, obj: object, name: str, value: object) -> None:
        pristine.setdefault((id(obj), name), (obj, name, getattr(obj, name, _MISSING)))
        set_attr(scope, obj, name, value)

    def checked(self: InterpretedFunction, *args: Any, grid: Any, warmup: bool, **kwargs: Any):
        key = (self.fn, tuple(_key(a) for a in args), tuple(sorted(map(str, kwargs.items()))))
        if key not in built:
            for obj, name, value in pristine.values():
                if value is _MISSING:
                    if name in vars(obj):
                        delattr(obj, name)
                else:
                    setattr(obj, name, value)
            build_ir(self, args, kwargs)
            built.add(key)
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    interpreter._LangPatchScope.set_attr = recorded
    InterpretedFunction.run = checked


_MISSING = object()


def _key(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.dtype
    if isinstance(value, TensorDescriptor):
        return mangle_type(value)
    return (type(value), value)
