"""`mspview export SOURCE OUT.pt`: shipped weights (fp16 state dict + JSON card, the integer entropy model
as integers) from a training checkpoint or from a weights file, with the integer entropy model quantized
on calibration photos (weights from before it existed get one this way)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..codec.errors import MSPError
from ..codec.model import MSPCodecModel, ModelConfig
from ..codec.weights import card_path, load_weights, save_weights, upgraded
from ..resources import TRAIN_DATA
from .data import CALIBRATION_IMAGES, calibration_images


def load_source(path: Path) -> tuple[MSPCodecModel, dict]:
    """The model and the card fields of a training checkpoint (runs/train/last.pt) or a weights file."""
    if card_path(path).is_file():
        lm = load_weights(path)
        keep = ("steps", "cpu_hours", "gpu_hours", "history", "data", "kodak_fast", "kodak_fast_images")
        return lm.model, {k: lm.card[k] for k in keep if k in lm.card}
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        model = MSPCodecModel(ModelConfig.from_dict(ck["config"]))
        model.load_state_dict(upgraded(ck["model"], model))
        state = ck["state"]
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        raise MSPError(f"{path} is neither a weights file (no card beside it) nor a training checkpoint: {e}") from None
    info = {"steps": state["step"], "cpu_hours": round(state["cpu_hours"], 3),
            "gpu_hours": round(state.get("gpu_hours", 0.0), 3), "history": state.get("history", [])}
    if state.get("data"):  # checkpoints from before it was recorded have none
        info["data"] = state["data"]
    return model, info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview export", description=__doc__)
    p.add_argument("source", help="training checkpoint (runs/train/last.pt) or weights file (with its .json card)")
    p.add_argument("output", help="weights file to write (e.g. mspview/resources/msp_default.pt)")
    p.add_argument("--calibration", default=str(TRAIN_DATA),
                   help="folder of photos for the integer entropy model's ranges (training photos, never the test set)")
    p.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES)
    p.add_argument("--levels-only", action="store_true",
                   help="keep the weights' integer entropy model, only recalibrate its sigma levels (weights "
                        "exported before the calibration existed: their files change in size only)")
    p.add_argument("--info", action="append", default=[], metavar="KEY=VALUE", help="extra card fields")
    args = p.parse_args(argv)
    try:
        source, output = Path(args.source), Path(args.output)
        if output.exists() and output.resolve() == source.resolve():
            raise MSPError("write the new weights to another file than the source")
        model, info = load_source(source)
        if args.levels_only and not int(model.exact.ready):
            raise MSPError(f"{source} has no integer entropy model to recalibrate: export it without --levels-only")
        info.update(kv.split("=", 1) for kv in args.info)
        info["calibration"] = f"{args.calibration_images} photos from {Path(args.calibration).name}"
        images = calibration_images(args.calibration, args.calibration_images)
        card = save_weights(model, output, info, calibration=images, levels_only=args.levels_only)
    except (MSPError, FileNotFoundError) as e:
        print(f"mspview export: error: {e}", file=sys.stderr)
        return 2
    what = "sigma levels recalibrated" if args.levels_only else "integer entropy model quantized"
    print(f"{output}: {card['model_id']} step {card.get('steps')} sha256 {card['sha256'][:16]}; "
          f"{what} on {len(images)} photos")
    return 0
