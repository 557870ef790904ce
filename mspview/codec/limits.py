"""Bounds on what the codec accepts, checked before anything is allocated."""

MAX_SIDE = 16384
MAX_PIXELS = 16_000_000  # larger images are refused with this limit stated (tiling is not implemented)
MAX_SCALES = 8
MAX_GROUPS = 64
MAX_CHANNELS = 1024
MAX_HEADER_BYTES = 32768
