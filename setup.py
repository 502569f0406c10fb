"""Maps the top-level folders onto one distribution: hybridserve.router -> router/, and so on."""

from setuptools import find_packages, setup

ROOTS = {
    "hybridserve": "hybridserve",
    "hybridserve.router": "router",
    "hybridserve.workers": "workers",
    "hybridserve.kernels": "kernels",
}


def _packages() -> list[str]:
    packages = []
    for name, folder in ROOTS.items():
        packages.append(name)
        packages += [f"{name}.{sub}" for sub in find_packages(folder)]
    return packages


setup(packages=_packages(), package_dir=ROOTS)
