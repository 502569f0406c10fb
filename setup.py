"""Maps the top-level folders onto one distribution: hybridserve.router -> router/, and so on."""

import importlib.util
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOTS = {
    "hybridserve": "hybridserve",
    "hybridserve.router": "router",
    "hybridserve.workers": "workers",
    "hybridserve.kernels": "kernels",
    "hybridserve.v1": "protos/hybridserve/v1",  # wire contract: .proto files + generated stubs
}


def _packages() -> list[str]:
    packages = []
    for name, folder in ROOTS.items():
        packages.append(name)
        packages += [f"{name}.{sub}" for sub in find_packages(folder)]
    return packages


def _generate_stubs() -> None:
    try:
        import grpc_tools  # noqa: F401
    except ImportError:  # an isolated build without grpcio-tools: hybridserve.v1 builds at import
        return
    path = Path(__file__).parent / "protos" / "hybridserve" / "v1" / "_codegen.py"
    spec = importlib.util.spec_from_file_location("_codegen", path)
    codegen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codegen)
    codegen.generate()


class BuildPyWithStubs(build_py):
    """Generates the gRPC stubs from protos/ before the usual build (also for editable installs)."""

    def run(self) -> None:
        _generate_stubs()
        super().run()


setup(
    packages=_packages(),
    package_dir=ROOTS,
    cmdclass={"build_py": BuildPyWithStubs},
)
