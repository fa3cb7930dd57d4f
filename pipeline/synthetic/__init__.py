"""The synthetic Amazon Reviews 2023 generator behind the embedded default dataset."""

from deepcart.pipeline.synthetic.generator import WORLD_VERSION, generate

__all__ = ["WORLD_VERSION", "generate"]
