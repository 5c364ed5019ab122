"""Evaluation metrics of a model on the MNIST test split, as ``aegui eval`` reports them.

* ``sse``: squared error summed over the 784 pixels in [0, 1], averaged over images (the
  measure of Hinton & Salakhutdinov, Science 2006: 3.00 for their 784-1000-500-250-30 AE);
* ``bce``: binary cross-entropy per pixel (the measure of the Keras autoencoder blog),
  computed from the logits so a saturated sigmoid cannot turn it into infinity;
* ``nats`` (VAE only): BCE summed over pixels plus the KL divergence of the posterior from
  the standard normal prior, in nats per image, with one sample of z per image
  (from a generator seeded here, so it is reproducible); also ``kl`` alone;
* ``knn_accuracy``: 5-NN classification accuracy of test codes, neighbours taken from the
  training split's codes (the vote of ``aegui.verdict.knn_vote``: Euclidean, majority,
  ties to the nearest);
* ``latency_ms``: median wall time of one image's encode + decode at batch size 1;
* ``map_metrics`` (``aegui eval --map``): 10-NN label agreement of the reference digits
  (leave-one-out majority vote) in the full code, on the latent map and on the linear
  view: how much of the code's neighbourhoods each 2-D picture keeps.

Each metric is also a small function of tensors, so the definitions can be checked by hand.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

from aegui.data import Digits
from aegui.models import Autoencoder, Reference
from aegui.verdict import knn_vote

__all__ = ["bce_per_pixel", "evaluate", "kl_per_image", "knn_accuracy", "label_agreement", "latency_ms",
           "map_metrics", "reconstruction_metrics", "sse_per_image", "to_float_images"]

EVAL_SEED = 0


def sse_per_image(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Squared error summed over each image's pixels, averaged over images."""
    return float(((x_hat.double() - x.double()) ** 2).flatten(1).sum(1).mean())


def bce_per_pixel(x: torch.Tensor, logits: torch.Tensor) -> float:
    """Binary cross-entropy of targets ``x`` in [0, 1] under ``sigmoid(logits)``, per pixel."""
    return float(F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="mean"))


def kl_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions, averaged over images."""
    mu, logvar = mu.double(), logvar.double()
    return float((-0.5 * (1 + logvar - mu * mu - logvar.exp()).sum(1)).mean())


def knn_accuracy(train_codes, train_labels, test_codes, test_labels, k: int = 5) -> float:
    """Fraction of test codes whose k nearest training codes vote for the right label
    (``aegui.verdict.knn_vote``: a tie between labels goes to the one whose nearest
    member is nearer)."""
    if len(test_codes) == 0:
        return 0.0
    winners, _, _ = knn_vote(_numpy(train_codes), _numpy(train_labels), _numpy(test_codes), k)
    return float((winners == _numpy(test_labels).astype(np.intp)).mean())


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _vote(votes: torch.Tensor) -> torch.Tensor:
    """The majority label of each row of neighbours' labels (T, k), nearest first; a tie
    goes to the label whose nearest member is nearer."""
    counts = F.one_hot(votes, 10).sum(1)                                # (T, 10)
    top = counts.max(1, keepdim=True).values
    is_top = counts.gather(1, votes) == top                             # (T, k)
    first = is_top.to(torch.uint8).argmax(1, keepdim=True)              # nearest winner
    return votes.gather(1, first).squeeze(1)


def label_agreement(points, labels, k: int = 10, chunk: int = 1000) -> float:
    """Fraction of points whose k nearest *other* points (Euclidean) vote for their own
    label: how well a space, a code or a 2-D map, keeps digits among their own kind."""
    points = torch.as_tensor(np.asarray(points, np.float32))
    labels = torch.as_tensor(np.asarray(labels).astype(np.int64))
    k = min(k, len(points) - 1)
    if k < 1:
        return float("nan")
    correct = 0
    for start in range(0, len(points), chunk):
        dist = torch.cdist(points[start:start + chunk], points)
        rows = torch.arange(len(dist))
        dist[rows, rows + start] = float("inf")                             # not itself
        nearest = dist.topk(k, dim=1, largest=False, sorted=True).indices
        correct += int((_vote(labels[nearest]) == labels[start:start + chunk]).sum())
    return correct / len(points)


def map_metrics(reference: Reference, k: int = 10) -> dict[str, float]:
    """10-NN label agreement of the reference digits in the full code, on the model's
    latent map and on the linear view (two principal components)."""
    from aegui.model_map import views

    shown = views(reference, reference.codes.shape[1])
    out = {f"code_{k}nn_agreement": label_agreement(reference.codes, reference.labels, k)}
    if "map" in shown:
        out[f"map_{k}nn_agreement"] = label_agreement(shown["map"].xy, reference.labels, k)
    linear = shown.get("linear", shown.get("map") if reference.codes.shape[1] <= 2 else None)
    if linear is not None:
        out[f"linear_{k}nn_agreement"] = label_agreement(linear.xy, reference.labels, k)
    return out


def to_float_images(images: np.ndarray | torch.Tensor, device="cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    t = torch.as_tensor(images).to(device)
    return t.reshape(-1, 1, 28, 28).float().div_(255)


@torch.inference_mode()
def reconstruction_metrics(model: Autoencoder, images: np.ndarray | torch.Tensor, batch_size: int = 1000,
                           seed: int = EVAL_SEED) -> dict[str, float]:
    """``sse`` and ``bce`` (and for a VAE ``nats`` and ``kl``) over ``images`` (uint8)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    noise = torch.Generator(device=device).manual_seed(seed)
    n = len(images)
    sums = {"sse": 0.0, "bce": 0.0, "nats": 0.0, "kl": 0.0}
    try:
        for start in range(0, n, batch_size):
            x = to_float_images(images[start:start + batch_size], device)
            b = len(x)
            if model.kind == "vae":
                mu, logvar = model.encode_distribution(x)
                logits = model.decode_logits(mu)
                eps = torch.randn(mu.shape, generator=noise, device=device, dtype=mu.dtype)
                sampled_logits = model.decode_logits(mu + eps * torch.exp(0.5 * logvar))
                kl = kl_per_image(mu, logvar)
                bce_sum = F.binary_cross_entropy_with_logits(sampled_logits.double(), x.double(),
                                                             reduction="sum").item() / b
                sums["kl"] += kl * b
                sums["nats"] += (bce_sum + kl) * b
            else:
                _z, logits = model.reconstruct_logits(x)
            sums["sse"] += sse_per_image(x, torch.sigmoid(logits)) * b
            sums["bce"] += bce_per_pixel(x, logits) * b
    finally:
        model.train(was_training)
    keys = ("sse", "bce", "nats", "kl") if model.kind == "vae" else ("sse", "bce")
    return {key: sums[key] / n for key in keys}


@torch.inference_mode()
def encode_all(model: Autoencoder, images, batch_size: int = 2000) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model.encode(to_float_images(images[s:s + batch_size], device)).float().cpu()
                      for s in range(0, len(images), batch_size)])


@torch.inference_mode()
def latency_ms(model: Autoencoder, image: torch.Tensor | None = None, repeats: int = 300) -> float:
    """Median milliseconds to encode and decode one image (``reconstruct``, the app's path)
    on the model's device."""
    device = next(model.parameters()).device
    x = (torch.rand(1, 1, 28, 28) if image is None else image.reshape(1, 1, 28, 28).float()).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(20):
        model.reconstruct(x)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.reconstruct(x)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def evaluate(model: Autoencoder, data: Digits, *, k: int = 5, latency_repeats: int = 300) -> dict:
    """All of ``aegui eval``'s metrics on the test split, plus what they were measured on."""
    metrics = reconstruction_metrics(model, data.x_test)
    train_codes = encode_all(model, data.x_train)
    test_codes = encode_all(model, data.x_test)
    metrics[f"knn{k}_accuracy"] = knn_accuracy(train_codes, torch.as_tensor(data.y_train),
                                               test_codes, torch.as_tensor(data.y_test), k=k)
    metrics["latency_ms"] = latency_ms(model, to_float_images(data.x_test[:1]), repeats=latency_repeats)
    metrics["latency_threads"] = torch.get_num_threads()
    metrics["latency_device"] = describe_device(next(model.parameters()).device)
    metrics["test_images"] = len(data.x_test)
    metrics["data_sha256"] = data.sha256
    return metrics


def describe_device(device: torch.device | str = "cpu") -> str:
    """e.g. "cpu: AMD EPYC, 2 threads" or "cuda: NVIDIA H100"."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_name()}, {torch.get_num_threads()} threads"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
