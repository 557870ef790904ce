"""Shared pieces of the command-line tools: model/device options, error reporting, safe writes."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..codec.errors import MSPError

if TYPE_CHECKING:
    from ..codec.weights import LoadedModel


def add_model_options(p: argparse.ArgumentParser) -> None:
    from ..codec.weights import PRECISIONS  # torch: tools without a model (info, --help) start without it
    p.add_argument("--model", default=None, help="weights file (default: the shipped mspview/resources/msp_default.pt)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="the synthesis' arithmetic: auto = bf16 on CPUs with AMX or AVX512-BF16 (2x faster, "
                        "PSNR within 0.02 dB), else fp32 (the reference); the symbols never depend on it")


def open_model(args: argparse.Namespace) -> LoadedModel:
    from ..codec.device import pick_device
    from ..codec.weights import load_weights
    return load_weights(args.model, pick_device(args.device), args.precision)


def write_new_file(path: str | Path, data: bytes, force: bool) -> None:
    """Write atomically; never overwrite an existing file unless forced."""
    path = Path(path)
    if path.exists() and not force:
        raise MSPError(f"{path} exists; pass --force to overwrite it")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MSPError(f"cannot write {path}: {e.strerror or e}") from None


def run_tool(name: str, body: Callable[[], int]) -> int:
    """Run a tool body, turning our errors (and I/O errors) into one clear line and exit status 2."""
    try:
        return body()
    except MSPError as e:
        print(f"mspview {name}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (`mspview info x.msp | head -1`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush has nowhere to fail
        return 128 + 13  # a shell's status for a process ended by SIGPIPE
    except OSError as e:
        print(f"mspview {name}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mspview {name}: interrupted", file=sys.stderr)
        return 130
