"""Chat Sidecar: a localhost server that owns all AI chat persistence for editor extensions."""

__version__ = "0.1.0"
