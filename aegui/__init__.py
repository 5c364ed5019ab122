"""aegui: see what an autoencoder learns.

Draw a digit; watch it framed the MNIST way, encoded to a small latent vector and decoded
again, live. The compute core (``aegui.ops``, ``aegui.models``, ``aegui.preprocess``,
``aegui.data``, ``aegui.train``) imports no Qt and runs headless; only ``aegui.gui`` does.
"""

__version__ = "0.1.0"
