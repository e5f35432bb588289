"""fashion: learn clothing categories and attributes from photos; recommend similar items."""

__version__ = "0.1.0"
