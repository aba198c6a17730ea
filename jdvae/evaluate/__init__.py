"""Evaluation (paper section 3, Table 1): the judge, test pairs, swaps, metrics and the table."""
from jdvae.evaluate.pairs import Pairing, draw_pairs
from jdvae.evaluate.swaps import Latents, add, encode_means, multi_swap, remove, swap, to_tensor, transfer

__all__ = ["Pairing", "draw_pairs", "Latents", "add", "encode_means", "multi_swap", "remove", "swap", "to_tensor",
           "transfer"]
