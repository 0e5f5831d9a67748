"""Fixtures shared by the target tests."""

from tests.targets.token_model import token_files

__all__ = ["token_files"]
