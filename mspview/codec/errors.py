"""The errors the codec raises on bad input; every one carries a message meant for the user."""


class MSPError(Exception):
    """Base class: anything wrong with an input that the user should be told about."""


class BitstreamError(MSPError):
    """A .msp file is damaged, truncated in its header, or not a .msp file."""


class ModelError(MSPError):
    """Weights missing, unreadable, or not the ones a file was encoded with."""


class ImageError(MSPError):
    """An input image cannot be read or is outside the supported limits."""


class ArithmeticFault(MSPError):
    """This machine's arithmetic, under the current settings, cannot code .msp files exactly."""


class Cancelled(MSPError):
    """The user cancelled a long operation."""
