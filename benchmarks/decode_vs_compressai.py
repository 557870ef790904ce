"""Full decode of a 1920x1280 image: mspview against CompressAI's mbt2018-mean (N=128, M=192, random
weights after `update(force=True)`: timing only), in the same run and with the same threads; in-process
(median of --repeat) and as whole processes (`mspview decode` against a script that imports CompressAI,
builds the model and decompresses). Needs CompressAI importable (see README: a torchvision stand-in is
enough for timing). Pause any training while this runs; say which CPU (its flags are printed).

    python benchmarks/decode_vs_compressai.py [--threads 2] [--repeat 5]
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mspview.codec.coder import decode, encode
from mspview.codec.imageio import LoadedImage
from mspview.codec.weights import load_weights

from common import cpu_flags, image_2k

CAI_SCRIPT = """
import pickle, sys, time, torch
t0 = time.perf_counter()
torch.set_num_threads(int(sys.argv[2]))
from compressai.models import MeanScaleHyperprior
torch.manual_seed(0)
net = MeanScaleHyperprior(128, 192).eval()
net.update(force=True)
out = pickle.load(open(sys.argv[1], "rb"))
with torch.no_grad():
    x = net.decompress(out["strings"], out["shape"])["x_hat"]
print(time.perf_counter() - t0)
"""


def median(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from compressai.models import MeanScaleHyperprior

    rgb = image_2k()
    ref = load_weights(precision="fp32")
    auto = load_weights(precision="auto")
    data = encode(ref, LoadedImage(rgb, "RGB", "RGB"), ref.rate(0.0067)).data
    torch.manual_seed(0)
    net = MeanScaleHyperprior(128, 192).eval()
    net.update(force=True)
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        cai = net.compress(x)

    def cai_decode():
        with torch.no_grad():
            net.decompress(cai["strings"], cai["shape"])

    t_cai = median(cai_decode, args.repeat)
    t_fp32 = median(lambda: decode(ref, data), args.repeat)
    t_auto = median(lambda: decode(auto, data), args.repeat)
    print(f"CPU flags: {cpu_flags()}; torch {torch.__version__}, {args.threads} threads, 1920x1280, median of {args.repeat}")
    print(f"in-process full decode: CompressAI mbt2018-mean {t_cai:.3f} s; mspview fp32 {t_fp32:.3f} s "
          f"({t_cai / t_fp32:.2f}x faster); mspview {auto.precision} (auto) {t_auto:.3f} s ({t_cai / t_auto:.2f}x faster)")

    with tempfile.TemporaryDirectory() as tmp:
        msp, strings, script = Path(tmp) / "x.msp", Path(tmp) / "cai.pkl", Path(tmp) / "cai.py"
        msp.write_bytes(data)
        strings.write_bytes(pickle.dumps({"strings": cai["strings"], "shape": cai["shape"]}))
        script.write_text(CAI_SCRIPT)

        def process(cmd):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            return time.perf_counter() - t

        ours, theirs = [], []
        for i in range(3):
            ours.append(process([sys.executable, "-m", "mspview", "decode", str(msp), str(Path(tmp) / f"o{i}.png"),
                                 "--quiet"]))
            theirs.append(process([sys.executable, str(script), str(strings), str(args.threads)]))
        print(f"whole process (median of 3): mspview decode {statistics.median(ours):.2f} s; CompressAI script "
              f"{statistics.median(theirs):.2f} s ({statistics.median(theirs) / statistics.median(ours):.2f}x)")


if __name__ == "__main__":
    main()
