"""The whole learned codec as one module: transforms, gain units, MSP model."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .exact import ExactMSP
from .gain import GainUnits
from .metrics import PEAK, psnr, rd_cost
from .layout import StepKey
from .msp import MSPModel, gaussian_likelihood
from .preview import PreviewDecoder
from .transforms import AnalysisTransform, SynthesisTransform

# Kodak 0.07–1.0 bpp (fast, real files) with the session-5 and session-7 weights; sessions 1–4 trained 0.0018–0.0483 (0.21–0.81 bpp).
LAMBDAS = (0.0004, 0.00085, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.11)


@dataclass(frozen=True)
class ModelConfig:
    N: int = 64
    M: int = 128
    num_scales: int = 3
    groups: int = 4
    hidden: int = 128
    lambdas: tuple[float, ...] = field(default=LAMBDAS)
    Ns: int | None = None  # synthesis width when it differs from N (a model widened after training)
    res: int = 0  # residual blocks at each of the synthesis' 1/16 and 1/8 stages
    preview: int = 0  # width of the preview decoder (preview.py); 0: previews through the synthesis

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lambdas"] = list(self.lambdas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "lambdas" in known:
            known["lambdas"] = tuple(float(v) for v in known["lambdas"])
        cfg = cls(**known)
        for name in ("N", "M", "num_scales", "groups", "hidden", "Ns", "res", "preview"):
            v = getattr(cfg, name)
            if name == "Ns" and v is None:
                continue
            low, high = {"res": (0, 8), "preview": (0, 1024)}.get(name, (1, 1024))
            if not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"model config: bad {name}={v!r}")
        return cfg

    @property
    def default_lambda(self) -> float:
        """The middle trained lambda: what an encode uses when nothing sets the rate."""
        return self.lambdas[(len(self.lambdas) - 1) // 2]

    @property
    def synthesis_width(self) -> int:
        return self.Ns or self.N

    @property
    def model_id(self) -> str:
        wide = f"-syn{self.Ns}" if self.Ns and self.Ns != self.N else ""
        res = f"-res{self.res}" if self.res else ""
        preview = f"-pv{self.preview}" if self.preview else ""
        return f"msp-n{self.N}-m{self.M}-s{self.num_scales}g{self.groups}h{self.hidden}{wide}{res}{preview}"


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast pays here: on CUDA, and on CPUs with native bf16 (AVX512-BF16 or AMX:
    2.3x faster per training step than fp32); elsewhere it is emulated (13x slower on an AVX2 EPYC)."""
    if device.type == "cuda":
        return True
    try:
        return device.type == "cpu" and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes missing from this torch build: assume no native bf16
        return False


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast for the transforms (see fast_bf16 for where it pays); off -> no-op."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class MSPCodecModel(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        self.g_a = AnalysisTransform(config.N, config.M)
        self.g_s = SynthesisTransform(config.synthesis_width, config.M, config.res)
        self.gain = GainUnits(config.M, list(config.lambdas))
        self.msp = MSPModel(config.M, config.num_scales, config.groups, config.hidden)
        # the integer twin of `msp` that codes files (buffers, filled by exact_export.quantize_from_float)
        self.exact = ExactMSP(config.M, config.num_scales, config.groups, config.hidden, len(config.lambdas))
        self.preview = PreviewDecoder(config.M, config.num_scales, config.preview) if config.preview else None

    @property
    def device(self) -> torch.device:
        return self.msp.base_mu.device

    def forward(self, x: torch.Tensor, lambda_index: int, amp: bool = False) -> dict:
        """Training / estimation pass at a trained lambda. x in [0,1], sides multiple of 16.

        Returns bits per image, bpp, x_hat and the per-step bit totals.
        """
        gain, inv_gain = self.gain.gain_at(torch.tensor(lambda_index, device=x.device))
        with autocast_for(x.device, amp):
            y = self.g_a(x)
        out = self.from_latent(y.float() * gain, inv_gain, amp, noisy=self.training)
        out["bpp"] = out["bits"] / (x.shape[-2] * x.shape[-1])
        out["y"] = y
        return out

    def from_latent(self, y: torch.Tensor, inv_gain: torch.Tensor, amp: bool, noisy: bool) -> dict:
        """Rate and reconstruction of a gained latent, differentiable with respect to y.

        Rate uses additive uniform noise (noisy=True) or hard rounding; the synthesis always sees
        straight-through rounded values (mixed quantization, Minnen & Singh 2020). Likelihoods are
        computed in fp32 whatever `amp` says; only the synthesis runs under autocast.
        """
        out = self.latent_rate(y, noisy)
        with autocast_for(y.device, amp):
            x_hat = self.g_s(out["y_hat"] * inv_gain)
        out["x_hat"] = x_hat.float()
        return out

    def latent_rate(self, y: torch.Tensor, noisy: bool, generator: torch.Generator | None = None) -> dict:
        """The rate half of `from_latent`: bits per image, per step, and the straight-through y_hat.
        `generator` draws the noise (LOF seeds one per image and setting, so that an encode repeats)."""
        bits: dict[StepKey, torch.Tensor] = {}

        def resolve(key, parts):
            out, total = [], 0.0
            for mu, sigma, t in parts:
                r = t - mu
                v = r + torch.empty_like(r).uniform_(-0.5, 0.5, generator=generator) if noisy else torch.round(r)
                lik = gaussian_likelihood(v, torch.zeros_like(mu), sigma)
                total = total - torch.log2(lik).flatten(1).sum(1)
                out.append(ste_round(r) + mu)
            bits[key] = total
            return out

        y_hat = self.msp.run(tuple(y.shape), resolve, target=y)
        return {"bits": sum(bits.values()), "step_bits": bits, "y_hat": y_hat}

    def rd_loss(self, out: dict, x: torch.Tensor, lam: float) -> dict:
        mse = torch.mean((out["x_hat"] - x) ** 2) * PEAK ** 2  # on 8-bit values
        bpp = out["bpp"].mean()
        return {"loss": rd_cost(bpp, mse, lam), "bpp": bpp, "mse": mse, "psnr": psnr(mse.detach())}
