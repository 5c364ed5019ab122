"""The autoencoder and the VAE: encoder trunk, fused bottleneck, decoder trunk.

Both models share one shape, fixed by a ``ModelConfig``:

    image (1x28x28) -> [conv, stride 2]* -> flatten -> [linear + act]* -> h
    h --aegui.ops.bottleneck--> z (the latent code), y = act(W_dec z + b_dec)
    y -> [linear + act]* -> [transposed conv, stride 2]* -> logits (1x28x28)

The encoder's last layer, the code and the decoder's first layer are the fused op
(``ops.bottleneck``; for the VAE ``ops.variational_bottleneck``, which also gives
``mu`` and ``logvar``). Their weights are ordinary ``nn.Linear`` modules whose
``.weight`` and ``.bias`` are handed to the op, so ``state_dict`` and optimizers see
nothing unusual. ``decode`` starts from a given code with ``ops.decode_head``.

The model ends in logits; ``decode`` applies the sigmoid, training uses the logits
directly (``binary_cross_entropy_with_logits`` is exact where a saturated sigmoid is not).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from aegui import ops

__all__ = ["Autoencoder", "ModelConfig", "Reference", "VariationalAutoencoder", "build"]

SIDE = 28
PIXELS = SIDE * SIDE
KINDS = ("ae", "vae")

# The largest model this app makes sense for, far beyond the zoo's (0.83 M parameters, a
# 256-wide layer, codes of 2 to 30): a config beyond these is refused at once, before
# anything is allocated (a damaged or hostile checkpoint could otherwise ask for 10^12
# weights). 64 M parameters are 256 MB of float32.
MAX_LATENT_DIM = 1024
MAX_WIDTH = 16384
MAX_LAYERS = 8
MAX_CHANNELS = 1024
MAX_PARAMETERS = 64_000_000


def config_from_dict(cls, d: dict, what: str):
    """A config dataclass from a checkpoint's dict; an unknown field (a file from another
    version, or damaged) is an error that names it, not a silent drop."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")
    return cls(**d)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's modules; saved inside every checkpoint."""

    kind: str = "ae"                  # "ae": plain autoencoder; "vae": variational
    latent_dim: int = 16              # size of the code z
    # Convolution channels of the encoder, each a 3x3 stride-2 conv (28 -> 14 -> 7);
    # the decoder mirrors them with 4x4 stride-2 transposed convs. () = a pure MLP.
    # (16, 32) with one 256-wide layer is the zoo's choice: per minute of CPU training it
    # beat MLPs (784-512-256, 784-768-384, 784-1000-500-250) and convs of (8, 16) and
    # (32, 64) channels, and unlike the MLPs it does not overfit MNIST.
    # resources/models/README.md has the measurements.
    channels: tuple[int, ...] = (16, 32)
    # Widths of the fully connected layers between the (flattened) image or conv
    # features and the code, outermost first; the decoder mirrors them. The last one
    # is the op's H: the bottleneck maps H -> latent_dim -> H.
    hidden: tuple[int, ...] = (256,)
    # Every hidden layer, and the op's decoder side. SiLU: 11% lower test SSE than ReLU
    # after the same short run, at the same speed.
    activation: str = "silu"

    def __post_init__(self) -> None:
        # Lists come back from JSON-like metadata; keep the dataclass hashable.
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim: {self.latent_dim!r}; expected a positive integer")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden: {self.hidden!r}; expected at least one positive width")
        if len(self.channels) > 2 or (self.channels and min(self.channels) < 1):
            raise ValueError(f"channels: {self.channels!r}; expected at most two positive counts "
                             f"(28 -> 14 -> 7)")
        if self.activation not in ops.ACTIVATIONS:
            raise ValueError(f"activation: {self.activation!r}; expected one of "
                             f"{', '.join(ops.ACTIVATIONS)}")
        self._check_size()

    def _check_size(self) -> None:
        for name, values, most in (("latent_dim", (self.latent_dim,), MAX_LATENT_DIM),
                                   ("hidden", self.hidden, MAX_WIDTH), ("channels", self.channels, MAX_CHANNELS)):
            if max(values, default=0) > most:
                raise ValueError(f"{name}: {getattr(self, name)!r}; at most {most:,} each in a model of this app")
        if len(self.hidden) > MAX_LAYERS:
            raise ValueError(f"hidden: {len(self.hidden)} layers; at most {MAX_LAYERS}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise ValueError(f"{self.describe()}: {self.parameter_count():,} parameters; at most "
                             f"{MAX_PARAMETERS:,} in a model of this app")

    def parameter_count(self) -> int:
        """How many weights a model of this config has, computed without building it."""
        convs = sum(a * b * 9 + b for a, b in zip((1, *self.channels), self.channels))
        deconvs = sum(a * b * 16 + b for a, b in zip((*reversed(self.channels),), (*reversed(self.channels[:-1]), 1)))
        widths = _widths(self)
        linears = 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:])) + sum(widths[1:]) + sum(widths[:-1])
        H, Z = self.hidden[-1], self.latent_dim
        code = (H * Z + Z) * (2 if self.kind == "vae" else 1)
        return convs + deconvs + linears + code + Z * H + H

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return config_from_dict(cls, d, "model config")

    def describe(self) -> str:
        """One line, e.g. ``784-512-256-[16]-256-512-784 MLP, relu``."""
        if self.channels:
            side = SIDE >> len(self.channels)
            front = ["1x28x28", *(f"{c}x{SIDE >> (i + 1)}x{SIDE >> (i + 1)}"
                                  for i, c in enumerate(self.channels))]
            front[-1] = f"{self.channels[-1]}x{side}x{side}"
        else:
            front = [str(PIXELS)]
        layers = [*front, *map(str, self.hidden), f"[{self.latent_dim}]",
                  *map(str, reversed(self.hidden)), *reversed(front)]
        arch = "conv" if self.channels else "MLP"
        return f"{'-'.join(layers)} {arch}, {self.activation}"


@dataclass(frozen=True, eq=False)
class Reference:
    """Latent codes of the reference digits (``aegui.reference``: MNIST test digits), kept
    with a model so the app can draw the data set's latent map and find neighbours without
    the data set, and their ``xy`` on the model's neighbour-preserving map (``aegui.embedding``;
    None for a 2-D code, which is its own map, or when not computed yet)."""

    codes: np.ndarray                 # (N, Z) float32; for a VAE the means
    labels: np.ndarray                # (N,) uint8 digits
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows of x_test
    xy: np.ndarray | None = None      # (N, 2) float32 map points
    map_settings: dict = field(default_factory=dict)  # how xy was made (aegui.embedding.settings)

    def __repr__(self) -> str:
        mapped = f", mapped by {self.map_settings.get('method', '?')}" if self.xy is not None else ""
        return f"Reference({len(self.codes)} codes of dim {self.codes.shape[1]}{mapped})"


def _activation_module(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
            "identity": nn.Identity}[name]()


def _widths(config: ModelConfig) -> tuple[int, ...]:
    """Fully connected widths from the flattened input (pixels or conv features) to H."""
    side = SIDE >> len(config.channels)
    flat = config.channels[-1] * side * side if config.channels else PIXELS
    return (flat, *config.hidden)


def _encoder(config: ModelConfig) -> nn.Sequential:
    """Image -> h (B, H): convs, flatten, linear layers, each followed by the activation."""
    layers: list[nn.Module] = []
    c_in = 1
    for c in config.channels:
        layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), _activation_module(config.activation)]
        c_in = c
    layers.append(nn.Flatten())
    widths = _widths(config)
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), _activation_module(config.activation)]
    return nn.Sequential(*layers)


def _decoder(config: ModelConfig) -> nn.Sequential:
    """The op's y (B, H) -> logits: the encoder mirrored; no activation on the last layer."""
    layers: list[nn.Module] = []
    back = tuple(reversed(_widths(config)))
    for a, b in zip(back[:-1], back[1:]):
        layers += [nn.Linear(a, b), _activation_module(config.activation)]
    if config.channels:
        side = SIDE >> len(config.channels)
        layers.append(nn.Unflatten(1, (config.channels[-1], side, side)))
        chans = (*reversed(config.channels), 1)
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), _activation_module(config.activation)]
    layers.pop()  # logits
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """A deterministic autoencoder around ``ops.bottleneck``.

    ``encode(x)``: (B, 1, 28, 28) in [0, 1] -> (B, Z); ``decode(z)``: (B, Z) ->
    (B, 1, 28, 28) in [0, 1]. ``forward(x)`` returns what training needs (a dict with
    ``logits`` and ``z``).
    """

    kind = "ae"

    def __init__(self, config: ModelConfig, name: str = ""):
        super().__init__()
        if config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs kind={self.kind!r}, got {config.kind!r}")
        self.config = config
        self.latent_dim = config.latent_dim
        self.name = name or f"{config.kind}-{config.latent_dim}"
        self.metrics: dict = {}
        self.metadata: dict = {}
        self.reference: Reference | None = None
        # The classifier that reads codes (aegui.verdict.VerdictHead), trained after the
        # autoencoder with the encoder frozen; None for a model without one.
        self.verdict_head = None
        self._activation = config.activation

        self.encoder = _encoder(config)
        H, Z = config.hidden[-1], config.latent_dim
        self._make_code_layers(H, Z)
        self.decoder_in = nn.Linear(Z, H)  # the op's w_dec, b_dec: Z -> H, then act
        self.decoder = _decoder(config)

    # The code layer(s): one Linear for the AE, mu and logvar for the VAE.
    def _make_code_layers(self, H: int, Z: int) -> None:
        self.code = nn.Linear(H, Z)

    # ------------------------------------------------------------------ public API

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes (B, Z) of images (B, 1, 28, 28) in [0, 1]."""
        z, _y = ops.bottleneck(self.encoder(_as_images(x)), self.code.weight, self.code.bias,
                               self.decoder_in.weight, self.decoder_in.bias, self._activation)
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [0, 1] decoded from codes (B, Z)."""
        return torch.sigmoid(self.decode_logits(z))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"decode: expected codes of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        y = ops.decode_head(z, self.decoder_in.weight, self.decoder_in.bias, self._activation)
        return self._to_image(self.decoder(y))

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(encode(x), decode(encode(x)))`` in one fused pass: the op gives the code and
        the decoder's first layer together, so that layer is not computed twice."""
        z, logits = self.reconstruct_logits(x)
        return z, torch.sigmoid(logits)

    def reconstruct_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The code and the decoding's logits, as ``reconstruct`` (for losses on logits)."""
        z, y = self._code_and_head(x)
        return z, self._to_image(self.decoder(y))

    def _code_and_head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The deterministic code (the VAE's mean) and the decoder's first layer on it."""
        return ops.bottleneck(self.encoder(_as_images(x)), self.code.weight, self.code.bias,
                              self.decoder_in.weight, self.decoder_in.bias, self._activation)

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise TypeError(f"{self.name} is a plain autoencoder (kind 'ae'): it has no latent "
                        f"distribution; encode_distribution needs a VAE")

    def forward(self, x: torch.Tensor, noise: torch.Generator | None = None,
                eps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One fused pass for training: ``{"z", "logits"}`` (the VAE adds ``mu``, ``logvar``;
        ``noise`` and ``eps`` are the VAE's)."""
        z, logits = self.reconstruct_logits(x)
        return {"z": z, "logits": logits}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, kind={self.kind!r}, latent_dim={self.latent_dim}"

    def _to_image(self, out: torch.Tensor) -> torch.Tensor:
        return out.reshape(out.shape[0], 1, SIDE, SIDE)


class VariationalAutoencoder(Autoencoder):
    """A VAE around ``ops.variational_bottleneck``: a diagonal Gaussian posterior
    ``N(mu, exp(logvar))`` and a standard normal prior. ``encode`` gives ``mu``."""

    kind = "vae"

    def _make_code_layers(self, H: int, Z: int) -> None:
        self.mu = nn.Linear(H, Z)
        self.logvar = nn.Linear(H, Z)

    def _variational(self, x: torch.Tensor, eps: torch.Tensor | None):
        return ops.variational_bottleneck(self.encoder(_as_images(x)), self.mu.weight, self.mu.bias,
                                          self.logvar.weight, self.logvar.bias, self.decoder_in.weight,
                                          self.decoder_in.bias, eps, self._activation)

    def _code_and_head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, _logvar, _z, y = self._variational(x, None)  # eps None: z = mu
        return mu, y

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior means (B, Z)."""
        mu, _logvar, _z, _y = self._variational(x, None)
        return mu

    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of the posterior, each (B, Z)."""
        mu, logvar, _z, _y = self._variational(x, None)
        return mu, logvar

    def forward(self, x: torch.Tensor, noise: torch.Generator | None = None,
                eps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """In training mode ``z`` is sampled: ``mu + eps * sigma`` with ``eps`` as given (B, Z),
        else drawn from ``noise`` when given (so that training is reproducible and resumable);
        in eval mode ``z = mu``."""
        if not self.training:
            eps = None
        elif eps is None:
            eps = torch.randn((x.shape[0], self.latent_dim), generator=noise, device=self.mu.weight.device,
                              dtype=self.mu.weight.dtype)
        mu, logvar, z, y = self._variational(x, eps)
        return {"z": z, "mu": mu, "logvar": logvar, "logits": self._to_image(self.decoder(y))}


def _as_images(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() == 0 or x[0].numel() != PIXELS:
        raise ValueError(f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
    return x.reshape(x.shape[0], 1, SIDE, SIDE)


def build(config: ModelConfig, name: str = "") -> Autoencoder:
    """An untrained model of ``config`` (initialised from torch's current RNG)."""
    cls = VariationalAutoencoder if config.kind == "vae" else Autoencoder
    return cls(config, name=name)
