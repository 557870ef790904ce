"""The compute device a name asks for: 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:N'."""
from __future__ import annotations

import torch

from .errors import MSPError


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise MSPError(f"unknown device {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MSPError("CUDA was asked for but is not available here")
    return dev
