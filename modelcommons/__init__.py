"""Model Commons: a self-hostable hub for models and datasets."""

__version__ = "0.1.0"
