"""Age estimation from face photos with PyTorch Lightning + Hydra."""

__version__ = "0.3.0"
