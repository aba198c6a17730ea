"""Data: the SynthFaces renderer, CelebA by path, splits with their cache and supervision masks."""
from jdvae.data.splits import Split, counterfactual_images, load_split, supervision_mask

__all__ = ["Split", "load_split", "supervision_mask", "counterfactual_images"]
