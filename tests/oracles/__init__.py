"""Test-only access to the official SAM implementations (the parity oracles).

Import ``tests.oracles.torchvision_shim`` (done here) before anything that imports torchvision:
the PyPI torchvision wheel is a CUDA build whose C++ ops fail to register next to CPU torch.
Nothing under ``tests/`` is ever imported by product code.
"""

from tests.oracles import torchvision_shim as _torchvision_shim  # noqa: F401
