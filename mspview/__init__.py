"""mspview: a viewer and encoder for learned image compression (MSP model + latent overfitting)."""

__version__ = "0.2.0"
