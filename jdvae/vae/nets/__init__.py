"""Networks: residual blocks, the JDVAE encoder/decoder, and Joy et al.'s CCVAE network."""
