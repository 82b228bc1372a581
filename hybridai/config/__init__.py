"""Typed stack configuration: pydantic models per blueprint and the loader that validates stack files."""
from hybridai.config.base import Problem
from hybridai.config.errors import StackConfigError
from hybridai.config.loader import parse_spec
from hybridai.config.spec import StackSpec

__all__ = ["Problem", "StackConfigError", "StackSpec", "parse_spec"]
