"""The MASA adapter: pyramid neck, deformable fusion and track head on any backbone's features."""

from masa.adapter.loading import (
    build_masa_adapter_gdino,
    build_masa_adapter_r50,
    build_masa_adapter_sam,
    load_adapter,
    save_adapter,
)
from masa.adapter.model import AdapterConfig, MasaAdapter, build_masa_adapter
from masa.adapter.preprocess import preprocess_image

__all__ = [
    "AdapterConfig",
    "MasaAdapter",
    "build_masa_adapter",
    "build_masa_adapter_gdino",
    "build_masa_adapter_r50",
    "build_masa_adapter_sam",
    "load_adapter",
    "save_adapter",
    "preprocess_image",
]
