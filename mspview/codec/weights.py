"""Shipped weights: a state dict (fp16) plus a JSON card beside it.

Loading never unpickles arbitrary objects (torch.load(weights_only=True)); the sha256 of the weights
file is the identity that .msp headers carry, so a file can name exactly the weights it needs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..resources import DEFAULT_WEIGHTS
from . import exact, exact_export
from .errors import ModelError
from .model import MSPCodecModel, ModelConfig, fast_bf16
from .rate import RatePoint, rate_point
from .transforms import pixels_tensor



def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@torch.no_grad()
def quantize_entropy_model(model: MSPCodecModel, images: list[np.ndarray], levels_only: bool) -> None:
    """Fill the model's integer entropy model (exact.py) from its float MSP model, with activation
    ranges measured on `images` (H x W x 3 uint8, sides multiples of 16) at every trained lambda, and
    each predictor's sigma levels recalibrated on the symbols those latents code (`exact_export.level_map`)
    and the base's levels fitted per trained lambda (`exact_export.calibrate_base`). `levels_only`: the
    integer model kept as it is but for those levels (weights quantized before they were calibrated)."""
    was_training = model.training
    model.eval()
    ys = [model.g_a(pixels_tensor(rgb, model.device)) for rgb in images]
    latents = [y * model.gain.gain(lam).to(y.device) for y in ys for lam in model.config.lambdas]
    if not levels_only:
        exact_export.quantize_from_float(model.msp, model.exact, exact_export.calibration_ranges(model.msp, latents))
    exact_export.recalibrate_levels(model.exact, latents)
    exact_export.calibrate_base(model.exact, ys, model.gain)
    model.train(was_training)


def save_weights(model: MSPCodecModel, path: str | Path, info: dict | None = None,
                 calibration: list[np.ndarray] | None = None, levels_only: bool = False) -> dict:
    """Write the fp16 state dict (the integer entropy model as integers) and its card; returns the card.
    With `calibration` images the integer entropy model is quantized first: pass them whenever the float
    MSP model has changed. Without, the model must already hold one."""
    if calibration is not None:
        quantize_entropy_model(model, calibration, levels_only)
    if not int(model.exact.ready):
        raise ModelError("these weights have no integer entropy model yet: quantize it (calibration images)")
    if exact.stale(model.exact, model.msp):
        raise ModelError("the float MSP model changed since its integer twin was quantized: pass calibration "
                         "images (mspview export) so that files are coded with the model the weights describe")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    torch.save(state, path)
    card = {"model_id": model.config.model_id, "config": model.config.to_dict(),
            "sha256": file_sha256(path), **(info or {})}
    card_path(path).write_text(json.dumps(card, indent=2) + "\n")
    return card


PRECISIONS = ("auto", "fp32", "bf16")


def synthesis_precision(choice: str, device: torch.device) -> str:
    """fp32 or bf16 for the synthesis: auto = bf16 on CPUs that compute it natively (fast_bf16), else
    fp32 (the reference, and what CUDA runs)."""
    if choice not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, not {choice!r}")
    if choice == "auto":
        return "bf16" if device.type == "cpu" and fast_bf16(device) else "fp32"
    return choice


class LoadedModel:
    """A model in eval mode with the identity of its weights, and the precision its synthesis runs in."""

    def __init__(self, model: MSPCodecModel, sha256: str, path: Path, card: dict, precision: str = "fp32"):
        self.model, self.sha256, self.path, self.card = model, sha256, path, card
        self.precision = precision

    @property
    def model_id(self) -> str:
        return self.model.config.model_id

    @property
    def hash_prefix(self) -> bytes:
        return bytes.fromhex(self.sha256[:16])

    def rate(self, lam: float) -> RatePoint:
        """The validated rate point of `lam` for these weights (gains on the model's device)."""
        return rate_point(self.model.gain, lam)


def read_card(path: str | Path | None = None) -> tuple[dict, ModelConfig]:
    """The JSON card of a weights file and the model config it declares (cheap: no weights loaded)."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    card_file = card_path(path)
    if not card_file.is_file():
        raise ModelError(f"weights card not found beside the weights: {card_file}")
    try:
        card = json.loads(card_file.read_text())
        return card, ModelConfig.from_dict(card["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"unreadable weights card {card_file}: {e}") from None


def upgraded(state: dict, model: MSPCodecModel) -> dict:
    """A state dict (weights or checkpoint) of `model` written by an earlier mspview, with what that one
    did not store: the integer model's source fingerprint (not checked then) and its base levels per
    trained lambda (the one level at every lambda, as it coded)."""
    state.setdefault("exact.source", model.exact.source)
    if "exact.base_index" in state:
        state.setdefault("exact.base_levels", state["exact.base_index"].expand_as(model.exact.base_levels).clone())
    return state


def load_weights(path: str | Path | None = None, device: str | torch.device = "cpu",
                 precision: str = "auto") -> LoadedModel:
    path = Path(path) if path else DEFAULT_WEIGHTS
    card, config = read_card(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ModelError(f"unreadable weights file {path}: {e}") from None
    model = MSPCodecModel(config)
    try:
        # weights from before the integer entropy model lack it (exact.ready stays 0): they can train and
        # be quantized (mspview export), not code files
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        if not any(k.startswith("exact.") for k in state):
            state.update({k: v for k, v in model.state_dict().items() if k.startswith("exact.")})
        model.load_state_dict(upgraded(state, model))
    except (RuntimeError, AttributeError) as e:
        raise ModelError(f"weights {path} do not fit model {config.model_id}: {e}") from None
    if exact.stale(model.exact, model.msp):
        raise ModelError(f"weights {path}: the integer entropy model was quantized from another float MSP model "
                         f"(re-export them with mspview export)")
    model.eval().to(device)
    return LoadedModel(model, file_sha256(path), path, card, synthesis_precision(precision, model.device))
