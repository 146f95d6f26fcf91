"""Backbones that feed the MASA adapter: the caffe-style ResNet-50 of MASA-R50 (SPEC §2.1), a
ResNet-18 and a ShuffleNetV2 0.5x for CPU-sized adapters."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import resnet18, resnet50

from masa.adapter.preprocess import PIXEL_MEAN, PIXEL_STD
from masa.errors import InputError
from masa.safe_load import load_weights_file

__all__ = ["CaffeResNet50", "ResNet18", "ShuffleNetV2", "load_imagenet_shufflenetv2"]


def _freeze_batchnorm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


class _ResNetLevels(nn.Module):
    """torchvision ResNet without its classifier, returning the outputs of layers 1-4."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def train(self, mode: bool = True) -> _ResNetLevels:
        super().train(mode)
        _freeze_batchnorm(self)  # norm_eval=True: BN statistics never update
        return self

    def forward(self, images: Tensor) -> list[Tensor]:
        """Runs the backbone.

        Args:
            images (Tensor[B, 3, H, W] float32): normalised RGB images.

        Returns:
            list[Tensor]: 4 maps `(B, C_l, H / s_l, W / s_l)` for strides 4, 8, 16, 32.
        """
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]


class CaffeResNet50(_ResNetLevels):
    """mmdet `ResNet(depth=50, style='caffe', norm_eval=True)` on torchvision's module tree.

    Parameter names equal the official `backbone.*` keys (SPEC §3.2). The only change from
    torchvision is where the stride sits: on the 1x1 `conv1` of the first block of layers 2-4.
    Batch norms stay in eval mode even while training (`norm_eval=True`).

    Attributes:
        out_channels (tuple[int, ...]): channels of the returned levels, (256, 512, 1024, 2048).
        strides (tuple[int, ...]): strides of the returned levels, (4, 8, 16, 32).
    """

    out_channels = (256, 512, 1024, 2048)
    strides = (4, 8, 16, 32)

    def __init__(self) -> None:
        net = resnet50(weights=None)
        for layer in (net.layer2, net.layer3, net.layer4):
            layer[0].conv1.stride = (2, 2)
            layer[0].conv2.stride = (1, 1)
        super().__init__(net)


class ResNet18(_ResNetLevels):
    """torchvision ResNet-18 (pytorch style) with frozen BN statistics: a small backbone for
    CPU-sized adapters and tests. Levels: 64/128/256/512 channels at strides 4/8/16/32."""

    out_channels = (64, 128, 256, 512)
    strides = (4, 8, 16, 32)

    def __init__(self) -> None:
        super().__init__(resnet18(weights=None))


class _ShuffleV2Block(nn.Module):
    """Megvii `ShuffleV2Block` (ShuffleNet-Series), module tree and key names included.

    Stride 1: split the channels in two (even/odd channels, megvii's `channel_shuffle`), keep one
    half and run the other through `branch_main`. Stride 2: run the whole input through both
    `branch_main` and `branch_proj`. The two halves are concatenated.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        inp = in_channels if stride == 2 else in_channels // 2
        mid = out_channels // 2
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.Conv2d(mid, out_channels - inp, 1, bias=False), nn.BatchNorm2d(out_channels - inp),
            nn.ReLU(inplace=True),
        )
        self.branch_proj = None
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, inp, 1, bias=False), nn.BatchNorm2d(inp), nn.ReLU(inplace=True),
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.branch_proj is not None:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        kept, x = x[:, 0::2], x[:, 1::2]  # megvii channel_shuffle: even / odd channels
        return torch.cat((kept, self.branch_main(x)), 1)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 0.5x without its classifier (FastestDet's backbone), for CPU-sized adapters.

    Widths 24 / 48 / 96 / 192 with 4 / 8 / 4 blocks; the module tree and key names
    (`first_conv.*`, `stage{2,3,4}.{i}.branch_{main,proj}.*`) are those of the megvii
    ShuffleNet-Series code, so its ImageNet weights load strictly (`load_imagenet_shufflenetv2`).
    Batch norms stay in eval mode even while training (as `norm_eval=True` for the ResNets).

    Its ImageNet weights expect BGR input scaled to [0, 1] (measured: the statistics of the first
    batch norm fit BGR/255 best). The adapter feeds every backbone the same normalised RGB
    (`masa.adapter.preprocess`), so `forward` first maps it back to BGR/255, a fixed affine map.

    Attributes:
        out_channels (tuple[int, ...]): channels of the returned levels, (48, 96, 192).
        strides (tuple[int, ...]): strides of the returned levels, (8, 16, 32).
    """

    out_channels = (48, 96, 192)
    strides = (8, 16, 32)

    def __init__(self) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 24
        stages = (("stage2", 4, 48), ("stage3", 8, 96), ("stage4", 4, 192))
        for name, repeats, out_channels in stages:
            blocks = [_ShuffleV2Block(in_channels if i == 0 else out_channels, out_channels,
                                      2 if i == 0 else 1) for i in range(repeats)]
            setattr(self, name, nn.Sequential(*blocks))
            in_channels = out_channels
        std = torch.tensor(PIXEL_STD).flip(0) / 255.0  # RGB -> BGR order
        mean = torch.tensor(PIXEL_MEAN).flip(0) / 255.0
        self.register_buffer("_input_scale", std.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_input_shift", mean.view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ShuffleNetV2:
        super().train(mode)
        _freeze_batchnorm(self)
        return self

    def forward(self, images: Tensor) -> list[Tensor]:
        """Runs the backbone.

        Args:
            images (Tensor[B, 3, H, W] float32): normalised RGB images (SPEC §1.3).

        Returns:
            list[Tensor]: 3 maps `(B, C_l, H / s_l, W / s_l)`, C = 48, 96, 192 at strides 8, 16, 32.
        """
        x = images.flip(1) * self._input_scale + self._input_shift  # normalised RGB -> BGR, [0, 1]
        x = self.maxpool(self.first_conv(x))  # (B, 24, H/4, W/4)
        c3 = self.stage2(x)
        c4 = self.stage3(c3)
        c5 = self.stage4(c4)
        return [c3, c4, c5]


def load_imagenet_shufflenetv2(
    path: str | os.PathLike[str], backbone: ShuffleNetV2 | None = None
) -> ShuffleNetV2:
    """Loads megvii-layout ShuffleNetV2 0.5x ImageNet weights (a plain state dict) strictly.

    The weights come from a local path only, e.g. FastestDet's `shufflenetv2.pth`; classifier keys
    (`conv_last.*`, `classifier.*`), if present, are ignored.

    Args:
        path: the `.pth` state dict.
        backbone: load into this backbone; None builds a new one.

    Returns:
        ShuffleNetV2: the backbone with the weights loaded.

    Raises:
        FileNotFoundError: no such file.
        InputError: unreadable file, or missing, unexpected or mis-shaped keys (listed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ShuffleNetV2 weights not found: {path}")
    state = load_weights_file(path, what="ShuffleNetV2 weights")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict, but got {type(state).__name__}")
    classifier = ("conv_last.", "classifier.", "globalpool.")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(classifier)}
    backbone = backbone if backbone is not None else ShuffleNetV2()
    expected = backbone.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = [k for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise InputError(
            f"{path} is not a ShuffleNetV2 0.5x state dict: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, mis-shaped {sorted(shapes)[:5]}"
        )
    backbone.load_state_dict(state, strict=True)
    return backbone
