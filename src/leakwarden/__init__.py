"""leakwarden: find, protect, gate, audit, monitor and trace customers' personal information."""

__version__ = "0.1.0"
