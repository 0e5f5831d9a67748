"""``python -m qatbench`` runs the same CLI as the ``qatbench`` command."""

from qatbench.bench.cli import main

if __name__ == "__main__":
    main()
