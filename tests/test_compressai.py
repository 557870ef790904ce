"""CompressAI models as comparison codecs: checkpoints built here with random weights (two, whose rates
differ, so the matching has to choose), saved as CompressAI's training script and its zoo save them,
compared through the real menu and in `mspview eval`, their real bitstreams decoded back to the pixels
shown."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SAMPLE, choose, encode_and_wait

compressai = pytest.importorskip("compressai")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list:
    """Two mbt2018-mean models (N=32, M=48) whose latents differ in scale: the coarser one codes fewer bits."""
    from compressai.models import MeanScaleHyperprior
    d = tmp_path_factory.mktemp("cai")
    paths = []
    for i, gain in enumerate((0.5, 3.0)):
        torch.manual_seed(i)
        net = MeanScaleHyperprior(32, 48)
        with torch.no_grad():
            net.g_a[-1].weight.mul_(gain)  # larger latents: more bits
            net.g_s[0].weight.div_(gain)
        net.update(force=True)
        path = d / f"q{i}.pth.tar"
        state = net.state_dict()
        torch.save({"state_dict": state, "epoch": 1} if i == 0 else state, path)  # training-script / zoo layout
        paths.append(path)
    return paths


def test_codec_round_trip_and_rates_differ(checkpoints):
    from mspview.eval.learned import CompressAICodec
    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"))[:100, :130]
    codec = CompressAICodec("mbt2018-mean", checkpoints)
    files = [codec.encode(rgb, i) for i in codec.sweep]
    assert len(files[0]) < len(files[1])
    for data in files:
        out = codec.decode(data)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        assert np.array_equal(out, codec.decode(data))
    assert codec.bits_map(rgb, 1).shape == (7, 9) and codec.bits_map(rgb, 1).sum() > codec.bits_map(rgb, 0).sum()
    search = codec.at_bpp(rgb, 8 * (len(files[0]) + len(files[1])) / 2 / (100 * 130))
    assert len(search.trials) == 2 and search.bracket() is not None  # both real files, bracketing the target


def test_compared_in_the_app_through_the_menu(qtbot, window, checkpoints, monkeypatch):
    monkeypatch.setattr("PySide6.QtWidgets.QInputDialog.getItem", lambda *a, **k: ("mbt2018-mean", True))
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileNames",
                        lambda *a, **k: ([str(p) for p in checkpoints], ""))
    choose(window.controls.codec_box, "choose-compressai")
    assert window.controls.compare.startswith("compressai:mbt2018-mean:")
    result = encode_and_wait(qtbot, window)
    theirs = result.items[1]
    assert theirs.readout.codec == "CompressAI mbt2018-mean" and theirs.suffix == ".cai"
    from mspview.eval.learned import from_spec
    assert np.array_equal(from_spec(window.controls.compare).decode(theirs.data), theirs.image)
    assert "CompressAI mbt2018-mean" in window.readouts.headline.text()


def test_without_compressai_the_menu_says_how_to_get_it(qtbot, window, monkeypatch):
    from mspview.codec.errors import MSPError
    from mspview.eval import learned

    def missing():
        raise MSPError(learned.INSTALL)

    monkeypatch.setattr(learned, "architectures", missing)
    choose(window.controls.codec_box, "choose-compressai")
    qtbot.waitUntil(lambda: "pip install 'mspview[compressai]'" in window.last_error)
    assert window.controls.compare != "choose-compressai"


def test_eval_rows_beside_mspview(tmp_path, checkpoints, random_weights):
    from mspview.commands.eval import main as eval_main
    src = tmp_path / "imgs"
    src.mkdir()
    Image.open(SAMPLE).crop((0, 0, 192, 128)).save(src / "a.png")
    out = tmp_path / "out"
    codecs = f"msp,compressai:mbt2018-mean:{checkpoints[0]},{checkpoints[1]},webp"
    assert eval_main([str(src), "--codecs", codecs, "--lambdas", "0.0018,0.0483", "--model", str(random_weights),
                      "--out", str(out)]) == 0
    res = json.loads((out / "compressai-mbt2018-mean.json").read_text())
    assert len(res["results"]["bpp"]) == 2 and res["name"].startswith("CompressAI mbt2018-mean")
    assert (out / "mspview-fast.json").exists() and (out / "webp.json").exists()
