"""Pre-deploy cost estimate from a plan's recorded resources."""
from hybridai.cost.model import estimate

__all__ = ["estimate"]
