"""``python -m cuervo_fabric``."""

from cuervo_fabric.cli.main import main

main()
