"""`mspview export CHECKPOINT OUT.pt`: shipped weights (fp16 state dict + JSON card) from a checkpoint."""
from __future__ import annotations

import argparse

import torch

from ..codec.model import MSPCodecModel, ModelConfig
from ..codec.weights import save_weights


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mspview export", description=__doc__)
    p.add_argument("checkpoint", help="training checkpoint (runs/train/last.pt)")
    p.add_argument("output", help="weights file to write (e.g. mspview/resources/msp_default.pt)")
    p.add_argument("--info", action="append", default=[], metavar="KEY=VALUE", help="extra card fields")
    args = p.parse_args(argv)
    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    model = MSPCodecModel(ModelConfig.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    state = ck["state"]
    info = {"steps": state["step"], "cpu_hours": round(state["cpu_hours"], 3),
            "gpu_hours": round(state.get("gpu_hours", 0.0), 3), "history": state.get("history", [])}
    info.update(kv.split("=", 1) for kv in args.info)
    card = save_weights(model, args.output, info)
    print(f"{args.output}: {card['model_id']} step {state['step']} sha256 {card['sha256'][:16]}")
    return 0
