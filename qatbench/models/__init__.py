"""The model zoo: builders, input specs and the datasets that ship inside packages."""

from qatbench.models.zoo import ZOO, ModelSpec, get_model_spec

__all__ = ["ZOO", "ModelSpec", "get_model_spec"]
