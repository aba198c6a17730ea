"""jdvae: reproduction of Zou et al., "Joint disentanglement of labels and their features with VAE" (ICIP 2022)."""

__version__ = "0.1.0"
