"""video-reproducers: reproduce published video-understanding papers and prove it with numbers."""

__version__ = "0.1.0"
