"""spacerunner: run Hugging Face Spaces on your own machine."""

__version__ = "0.1.0"
