"""wholerepo: a whole git repository in one long-context model call."""

__version__ = "0.1.0"
