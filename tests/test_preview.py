"""The progressive previews' decoder (codec/preview.py) and its training (`mspview train-preview`)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SAMPLE, noise_image, run_cli
from mspview.codec import profiles
from mspview.codec.coder import (PREDICTED_MEANS, PREVIEW_DECODER, WHOLE_LATENT, coarse_latent, coarse_picture, decode,
                                 encode, preview_factor, render_preview, synthesize, whole_latent)
from mspview.codec.imageio import LoadedImage, load_image
from mspview.codec.lof import run_profile
from mspview.codec.model import MSPCodecModel
from mspview.codec.preview import PreviewDecoder
from mspview.codec.weights import load_weights, save_weights
from mspview.eval.metrics import psnr
from mspview.train.preview import preview_losses, scale_latent, without_preview


@pytest.fixture(scope="module")
def preview_weights(random_weights, tmp_path_factory):
    """The random test codec with a (random) preview decoder of width 12: another weights file."""
    lm = load_weights(random_weights)
    model = MSPCodecModel(dataclasses.replace(lm.model.config, preview=12))
    torch.manual_seed(7)
    fresh = PreviewDecoder(lm.model.config.M, lm.model.config.num_scales, 12)
    model.load_state_dict({**lm.model.state_dict(), **{f"preview.{k}": v for k, v in fresh.state_dict().items()}})
    path = tmp_path_factory.mktemp("preview") / "with_preview.pt"
    save_weights(model, path, {"note": "random codec and preview decoder, for tests"})
    return path


def test_the_preview_decoder_is_the_documented_network():
    """Trained preview weights fit only this network: a lift of s pixel-shuffle stages for scale s,
    a render of width, width/2, width/3 channels ending in 48 outputs shuffled by 4, LeakyReLU(0.1)."""
    dec = PreviewDecoder(16, 3, 24)
    shapes = {k: tuple(v.shape) for k, v in dec.state_dict().items()}
    assert [sum(k.startswith(f"lift.{s}.") for k in shapes) for s in range(3)] == [4, 6, 8]
    assert shapes["lift.0.0.weight"] == (24, 16, 3, 3) and shapes["lift.2.8.weight"] == (96, 24, 3, 3)
    convs = [m for m in dec.render if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(24, 24), (24, 48), (12, 32), (8, 48)]
    slopes = {m.negative_slope for m in dec.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.1} and dec.render[-1].upscale_factor == 4
    assert dec(torch.zeros(1, 16, 2, 3), 2).shape == (1, 3, 128, 192)


def test_bands_give_the_whole_picture():
    torch.manual_seed(0)
    dec = PreviewDecoder(16, 3, 12).eval()
    for scale, (h, w) in ((1, (9, 6)), (3, (3, 2))):
        y = torch.randn(1, 16, h, w)
        with torch.no_grad():
            whole = dec(y, scale)
            bands = list(dec.decode_bands(y, scale, budget=1))  # one latent row a band
        assert len(bands) == h * 2 ** scale
        assert [r0 for r0, _ in bands] == [16 * i for i in range(len(bands))]
        levels = whole[0].permute(1, 2, 0).clamp(0, 1) * 255
        assert (torch.cat([x for _, x in bands]).float() - levels).abs().max() <= 0.5 + 1e-3  # rounded, no more


def test_previews_come_from_the_preview_decoder_and_the_picture_from_the_synthesis(preview_weights, random_weights):
    lm = load_weights(preview_weights, precision="fp32")
    image = LoadedImage(noise_image(72, 88, seed=3), "RGB", "RGB")
    rate = lm.rate(lm.model.config.default_lambda)
    data = run_profile(lm, image, rate, profiles.get("fast")).encoded.data
    previews = []
    dec = decode(lm, data, on_preview=previews.append)
    S = lm.model.config.num_scales
    assert [p.scales_done for p in previews] == list(range(1, S + 2))
    for p in previews[:-1]:  # scale S first: its latent is every 2^S-th position of the whole
        s = S + 1 - p.scales_done
        want = render_preview(lm, scale_latent(dec.y_hat, s), s, rate, image.height, image.width)
        assert np.array_equal(p.image, want)
    assert np.array_equal(dec.image, synthesize(lm, dec.y_hat, rate, image.height, image.width))
    # the same codec without a preview decoder: the same file's symbols, the same picture, other previews
    plain = load_weights(random_weights, precision="fp32")
    bare = run_profile(plain, image, plain.rate(rate.lam), profiles.get("fast")).encoded.data
    bare_previews = []
    bare_dec = decode(plain, bare, on_preview=bare_previews.append)
    assert bare[-100:] == data[-100:] and np.array_equal(bare_dec.image, dec.image)
    assert not np.array_equal(bare_previews[0].image, previews[0].image)
    assert [p.made_by for p in previews[:-1]] == [PREVIEW_DECODER] * S
    assert [p.made_by for p in bare_previews[:-1]] == [PREDICTED_MEANS] * S
    assert previews[-1].made_by == bare_previews[-1].made_by == WHOLE_LATENT


def test_a_partial_decode_ends_on_its_preview(preview_weights):
    lm = load_weights(preview_weights)
    image = LoadedImage(noise_image(64, 64, seed=4), "RGB", "RGB")
    data = run_profile(lm, image, lm.rate(lm.model.config.default_lambda), profiles.get("fast")).encoded.data
    previews = []
    decode(lm, data, on_preview=previews.append)
    for k in (1, 2):
        part = decode(lm, data, max_scales=k)
        assert not part.complete and np.array_equal(part.image, previews[k - 1].image)


def test_coarse_previews_synthesize_at_the_resolution_their_scales_support(random_model):
    """Without a preview decoder, the preview after the base scale is the synthesis at 1/4 of the
    resolution of the latent filled down to scale 1 (every 2nd position), the next at 1/2, the last coarse
    one the full synthesis of the whole filled latent; a partial decode's latent is the whole fill."""
    lm, (h, w) = random_model, (72, 88)  # a 5 x 6 latent: both coarse factors pad it
    rate = lm.rate(0.0067)
    data = encode(lm, LoadedImage(noise_image(h, w, seed=6), "RGB", "RGB"), rate).data
    previews = []
    decode(lm, data, on_preview=previews.append)
    S = lm.model.config.num_scales
    assert [preview_factor(S + 1 - k) for k in range(1, S + 1)] == [4, 2, 1]
    for k, factor in ((1, 4), (2, 2)):
        part = decode(lm, data, max_scales=k)  # no previews asked: the picture from its own whole fill
        filled = part.y_hat  # the fill down to scale 1 is its every 2nd position
        assert np.array_equal(previews[k - 1].image, coarse_picture(lm, filled[..., ::2, ::2], rate, h, w, factor))
        assert np.array_equal(part.image, previews[k - 1].image)
    assert np.array_equal(previews[S - 1].image, synthesize(lm, decode(lm, data, max_scales=S).y_hat, rate, h, w))


def test_the_whole_latent_interpolates_its_samples():
    """Positions between the samples are their means: a plane through the samples is the plane at every
    position (edges replicated), and the samples stay as they are."""
    i, j = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
    y1 = torch.stack([3 * i + 7 * j, -i]).unsqueeze(0)  # 1 x 2 x 4 x 5 samples of two planes
    y = whole_latent(y1, 7, 10)
    assert y.shape == (1, 2, 7, 10) and torch.equal(y[..., ::2, ::2], y1)
    r, c = torch.meshgrid(torch.arange(7.0), torch.arange(10.0), indexing="ij")
    c = c.clamp(max=8)  # the last column lies past the last sample: replicated
    assert torch.equal(y[0, 0], 1.5 * r + 3.5 * c) and torch.equal(y[0, 1], -r / 2)


def test_a_coarse_latent_averages_blocks_from_the_top_left():
    """Averages over factor x factor blocks from the first position, the last partial block's missing rows
    and columns repeating its last ones: on a plane, the plane's mean over each block's clamped indices."""
    rows, cols = 11, 17  # partial last blocks in both directions for factors 2 and 4
    i, j = torch.meshgrid(torch.arange(6.0), torch.arange(9.0), indexing="ij")
    y1 = (2 * (2 * i) + 5 * (2 * j)).view(1, 1, 6, 9)  # samples of 2 r + 5 c at (2i, 2j)
    for factor in (2, 4):
        got = coarse_latent(y1, rows, cols, factor)
        nr, nc = -(-rows // factor), -(-cols // factor)
        assert got.shape == (1, 1, nr, nc)
        r = torch.arange(nr * factor).clamp(max=rows - 1).view(nr, factor).float().mean(1)
        c = torch.arange(nc * factor).clamp(max=cols - 1).view(nc, factor).float().mean(1)
        assert torch.allclose(got[0, 0], 2 * r[:, None] + 5 * c[None, :])


def test_a_coarse_picture_lies_on_the_full_pictures_grid(shipped_model):
    """A coarse picture from the latent's every 2nd position, upsampled from the small picture's own grid,
    resembles the full synthesis (one upsampled to the image's size instead, 17.7 / 16.1 dB, lies on
    another grid)."""
    lm, rate = shipped_model, shipped_model.rate(0.0067)
    crop = LoadedImage(np.ascontiguousarray(load_image(SAMPLE).rgb[40:240, 100:396]), "RGB", "RGB")  # latent 13 x 19
    y = decode(lm, encode(lm, crop, rate).data).y_hat
    full = synthesize(lm, y, rate, 200, 296)
    for factor, floor in ((2, 18.5), (4, 17.0)):  # measured 19.4 and 17.9 dB
        coarse = coarse_picture(lm, y[..., ::2, ::2], rate, 200, 296, factor)
        assert coarse.shape == full.shape and psnr(coarse, full) > floor


def test_preview_training_lowers_every_scales_loss():
    torch.manual_seed(1)
    dec = PreviewDecoder(16, 3, 12)
    y = torch.randn(2, 16, 8, 8)
    x = torch.rand(2, 3, 1, 1).expand(2, 3, 128, 128).contiguous()  # flat colours: learnable from anything
    before = [v.item() for v in preview_losses(dec, y, x)]
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    for _ in range(40):
        loss = sum(preview_losses(dec, y, x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = [v.item() for v in preview_losses(dec, y, x)]
    assert len(before) == 3 and all(a < 0.5 * b for a, b in zip(after, before)), (before, after)


def test_training_the_codec_leaves_a_stale_preview_decoder_out(preview_weights):
    model = load_weights(preview_weights).model
    bare = without_preview(model)
    assert bare.preview is None and "-pv" not in bare.config.model_id and model.config.model_id.endswith("-pv12")
    assert not any(k.startswith("preview.") for k in bare.state_dict())
    for k, v in bare.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])


@pytest.mark.slow
def test_train_preview_writes_weights_with_it(random_weights, tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(noise_image(160, 176, seed=i)).save(data / f"p{i}.png")
    out = tmp_path / "out.pt"
    args = ["--data", str(data), "--samples", "3", "--crop", "128", "--width", "12", "--batch", "2",
            "--hours", "0.0003", "--threads", "1"]
    r = run_cli("train-preview", str(random_weights), str(out), *args)
    assert r.returncode == 0, r.stderr
    lm = load_weights(out)
    assert lm.model.preview is not None and lm.model_id.endswith("-pv12")
    assert lm.card["preview_training"]["samples"] == 3 and lm.card["preview_training"]["weights"] == "random.pt"
    for target, bad, says in ((tmp_path / "other.pt", ["--crop", "100"], "multiple of 128"),
                              (out, [], "exists; pass --force"), (random_weights, [], "another file")):
        r = run_cli("train-preview", str(random_weights), str(target), *args, *bad)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr
