"""The CPU deformable convolution against torchvision's kernel, on random inputs."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d as torchvision_deform_conv2d

from masa.adapter import deform
from masa.adapter.deform import bilinear_taps, deform_conv2d


def _inputs(case: tuple, seed: int) -> tuple[torch.Tensor, ...]:
    """x, offset, weight, bias, mask for one row of CASES."""
    batch, channels, out_channels, (height, width), kernel, stride, padding, dilation = case[:8]
    groups, offset_groups, offset_scale = case[8:]
    g = torch.Generator().manual_seed(seed)
    out_h = (height + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    out_w = (width + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    taps = kernel * kernel
    x = torch.randn(batch, channels, height, width, generator=g)
    offset = offset_scale * torch.randn(batch, 2 * offset_groups * taps, out_h, out_w, generator=g)
    mask = torch.rand(batch, offset_groups * taps, out_h, out_w, generator=g)
    weight = torch.randn(out_channels, channels // groups, kernel, kernel, generator=g) / kernel
    return x, offset, weight, torch.randn(out_channels, generator=g), mask


# fmt: off
CASES = [
    # batch, Cin, Cout, (H, W), kernel, stride, padding, dilation, groups, offset groups, scale
    (1, 32, 32, (9, 11), 3, 1, 1, 1, 1, 1, 2.0),  # the model's mid/high branch
    (2, 32, 32, (10, 7), 3, 2, 1, 1, 1, 1, 2.0),  # the model's low branch (stride 2), batch 2
    (1, 16, 8, (6, 6), 3, 1, 1, 1, 1, 1, 30.0),  # offsets far outside the image
    (2, 12, 6, (7, 9), 3, 1, 2, 2, 3, 2, 1.5),  # conv groups, offset groups, dilation
    (1, 8, 4, (5, 8), 1, 1, 0, 1, 1, 4, 3.0),  # 1x1 kernel, 4 offset groups
    (1, 6, 5, (1, 1), 3, 1, 1, 1, 1, 1, 0.7),  # a 1x1 map: most taps fall outside
]
# fmt: on


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_mask", [True, False])
def test_matches_torchvision(case, with_mask: bool) -> None:
    stride, padding, dilation = case[5:8]
    x, offset, weight, bias, mask = _inputs(case, seed=CASES.index(case))
    mask = mask if with_mask else None
    expected = torchvision_deform_conv2d(
        x, offset, weight, bias, (stride, stride), (padding, padding), (dilation, dilation), mask
    )
    with torch.inference_mode():
        actual = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_taps_on_the_border_and_just_outside_read_what_torchvision_reads() -> None:
    # Offsets that put taps exactly on -1, 0, H-1, H and just inside/outside them: the
    # bilinear corners there are half in, half out of the image.
    x = torch.randn(1, 4, 5, 6)
    weight = torch.randn(3, 4, 3, 3)
    base = torch.tensor([-1.0, -0.5, 0.0, 4.0, 4.5, 5.0, -1.0001, 4.9999, 5.0001])
    tap_i, tap_j = (
        (torch.arange(9.0) // 3 - 1).view(1, 9, 1, 1),
        (torch.arange(9.0) % 3 - 1).view(1, 9, 1, 1),
    )
    offset = torch.zeros(1, 18, 5, 6)  # tap k of every output reads row base[k], column base[8 - k]
    offset[:, 0::2] = base.view(1, 9, 1, 1) - torch.arange(5.0).view(1, 1, 5, 1) - tap_i
    offset[:, 1::2] = base.flip(0).view(1, 9, 1, 1) - torch.arange(6.0).view(1, 1, 1, 6) - tap_j
    mask = torch.rand(1, 9, 5, 6)
    expected = torchvision_deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
    with torch.no_grad():
        actual = deform_conv2d(x, offset, weight, padding=1, mask=mask)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_small_column_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    x, offset, weight, bias, mask = _inputs((2, 16, 8, (12, 10), 3, 1, 1, 1, 1, 1, 2.0), seed=3)
    with torch.inference_mode():
        whole = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
        monkeypatch.setattr(deform, "CHUNK_BYTES", 1000)  # a few output points per block
        blocks = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    torch.testing.assert_close(blocks, whole, rtol=1e-6, atol=1e-6)


def test_channels_last_input_and_strided_offsets() -> None:
    x, offset, weight, _, mask = _inputs(CASES[0][:3] + ((8, 9),) + CASES[0][4:], seed=4)
    # Offsets and mask as channel slices of one channels-last map, like a conv's output.
    om = torch.cat([offset, mask], 1).contiguous(memory_format=torch.channels_last)
    expected = torchvision_deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
    with torch.inference_mode():
        actual = deform_conv2d(
            x.contiguous(memory_format=torch.channels_last),
            om[:, :18],
            weight,
            padding=1,
            mask=om[:, 18:],
        )
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_gradients_go_through_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    def fast_path(*args, **kwargs):
        pytest.fail("the CPU inference path ran under autograd")

    monkeypatch.setattr(deform, "_deform_conv2d_cpu", fast_path)
    x, offset, weight, bias, mask = _inputs((1, 4, 4, (5, 5), 3, 1, 1, 1, 1, 1, 1.0), seed=5)
    weight.requires_grad_(True)
    deform_conv2d(x, offset, weight, bias, padding=1, mask=mask).sum().backward()
    expected = weight.grad.clone()
    weight.grad = None
    torchvision_deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask).sum().backward()
    torch.testing.assert_close(weight.grad, expected)


def test_bf16_autocast_stays_close() -> None:
    x, offset, weight, _, mask = _inputs(CASES[0], seed=6)
    expected = torchvision_deform_conv2d(x, offset, weight, padding=(1, 1), mask=mask)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        actual = deform_conv2d(x, offset, weight, padding=1, mask=mask)
    assert actual.dtype == torch.bfloat16
    relative = (actual.float() - expected).norm() / expected.norm()
    assert relative < 2e-2


def test_bilinear_taps_weights_sum_to_the_mask_inside_the_image() -> None:
    offset = torch.rand(1, 18, 8, 9) - 0.5  # taps move by less than half a pixel
    mask = torch.rand(1, 9, 8, 9)
    index, weights = bilinear_taps(offset, mask, (8, 9), (3, 3), (1, 1), (1, 1), (1, 1))
    assert index.shape == weights.shape == (1, 8, 9, 9, 1, 4)
    # Outputs whose taps all stay inside: (4, 5, 9).
    interior = weights[0, 2:-2, 2:-2].sum(-1)[..., 0]
    torch.testing.assert_close(interior, mask[0, :, 2:-2, 2:-2].permute(1, 2, 0))
    assert int(index.min()) >= 0 and int(index.max()) < 8 * 9


def test_wrong_offset_shape_is_refused() -> None:
    x = torch.randn(1, 4, 5, 5)
    with pytest.raises(RuntimeError, match="offset"), torch.inference_mode():
        deform_conv2d(x, torch.zeros(1, 18, 4, 4), torch.randn(4, 4, 3, 3), padding=1)
