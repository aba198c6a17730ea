"""`python -m jdvae` runs the CLI (also what torchrun launches)."""
import sys

from jdvae.cli import main

sys.exit(main())
