"""Bounds on what the codec accepts, checked before anything is allocated."""

MAX_SIDE = 16384
MAX_PIXELS = 64_000_000  # larger images are refused with this limit stated; the transforms run in bands, so memory
                          # barely grows with it, time does (64 MP: ~5 minutes to encode on one core here)
MAX_SCALES = 8
MAX_GROUPS = 64
MAX_CHANNELS = 1024
MAX_HEADER_BYTES = 32768
SYMBOL_LIMIT = 2 ** 15 - 1  # symbols are clamped to +-this; headers with wider ranges are refused
