"""remit: the back office for organisations that pay providers and collect money."""

__version__ = "0.1.0"
