"""pytest-aicr: measure how good an AI code reviewer is, inside pytest."""

__version__ = "0.1.0"
