"""The `jdvae` command line with the reparameterisation noise off (z = mu_z, u = mu_u, no draw): with every image
labelled, nothing random is left in a PA1 training step, so one process and torchrun's ranks can be compared on the
same global batch. `python tests/noise_free_train.py train ...`, or the same under torchrun."""
import sys

from jdvae.cli import main
from jdvae.vae import model


def posterior_mean(mu, logvar):
    """reparameterize without its noise: the posterior mean."""
    return mu


def noise_free() -> None:
    """Every training forward from now on decodes the posterior means (the model reads `reparameterize` at call)."""
    model.reparameterize = posterior_mean


if __name__ == "__main__":
    noise_free()
    sys.exit(main(sys.argv[1:]))
