"""Backbones that feed the MASA adapter: the caffe-style ResNet-50 of MASA-R50 (SPEC §2.1)."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import resnet18, resnet50

__all__ = ["CaffeResNet50", "ResNet18"]


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
