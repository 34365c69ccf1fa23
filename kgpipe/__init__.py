"""kgpipe engine-free core: configuration, CLI and logic that needs neither Spark nor Beam."""

__version__ = "0.1.0"
