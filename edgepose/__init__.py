"""edgepose: a pose-estimation daemon for the Raspberry Pi, with or without a Coral Edge TPU."""

__version__ = "0.1.0"
