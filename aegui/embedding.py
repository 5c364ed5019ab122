"""A neighbour-preserving 2-D layout of latent codes: the latent map of models with Z > 2.

    xy = embed(codes, seed=0)          # (N, Z) -> (N, 2) float32, deterministic for a seed

The method is UMAP's (McInnes, Healy & Melville 2018) with the heavy-tailed kernel of
t-SNE (``a = b = 1``, as in Böhm, Berens & Kobak, JMLR 2022): a graph of each code's
``NEIGHBOURS`` nearest codes with UMAP's fuzzy weights (exact distances: N is 5,000),
then ``EPOCHS`` passes of stochastic gradient steps that pull the graph's edges together
and push ``NEGATIVES`` random pairs per edge apart, the step shrinking linearly to zero.
Each pass updates all edges due in it at once (vectorised in torch) instead of one after
another, which is what makes it fast in Python; it starts from the codes' two principal
components (or from a given layout: a fine-tuned model starts from its parent's map, so
that the map keeps its shape).

Why our own, chosen by measurement: each candidate laid out the 5,000 reference codes of
ae-16 twice with one seed, in a scratch environment (the libraries are not dependencies of
aegui), on a 2-core AMD EPYC shared with other work, so the times are rough; agreement is
``aegui.evaluate.label_agreement`` (what ``aegui eval --map`` reports):

| | extra install | time | same result for a seed | 10-NN label agreement in 2-D |
|---|---|---|---|---|
| this module (torch, already needed) | 0 MB | about 3.4 s of one core's CPU time | yes | 96.7% |
| openTSNE 1.0 | scipy + scikit-learn: 210 MB | 40-50 s | yes | 96.9% |
| scikit-learn TSNE (Barnes-Hut) | 200 MB | 165-175 s | yes | 96.9% |
| umap-learn 0.5 | numba, llvmlite, scipy, scikit-learn: 420 MB | 190 s the first time (compiling), 11 s after | only on one thread | 97.0% |

All four keep the neighbourhoods equally well (the full 16-D code: 96.9%; its first two
principal components: 39.4%); this one needs no new dependency, runs in seconds, and
gives the same map for a seed on one thread or several (every step is elementwise, a
gather or an ordered ``index_add_``). The app never needs it for a model that carries its
map; it runs when a model is trained, fine-tuned or opened without one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["EPOCHS", "METHOD", "NEGATIVES", "NEIGHBOURS", "embed", "settings"]

METHOD = "umap-cauchy"
NEIGHBOURS = 15       # the graph's neighbours per code (UMAP's default)
EPOCHS = 200          # passes of gradient steps (UMAP's default above 10,000 points)
NEGATIVES = 5         # random pairs pushed apart per edge and pass (UMAP's default)
INIT_SPREAD = 10.0    # the start layout spans [-10, 10], as UMAP's
_GRAPH_CHUNK = 1024   # rows of the distance matrix at a time (memory)


def settings() -> dict:
    """The parameters of ``embed`` that decide a map: recorded beside it in checkpoints."""
    return {"method": METHOD, "neighbours": NEIGHBOURS, "epochs": EPOCHS, "negatives": NEGATIVES}


def embed(codes, seed: int = 0, init=None, epochs: int = EPOCHS,
          should_stop=None) -> np.ndarray:
    """The 2-D layout (N, 2) float32 of ``codes`` (N, Z). ``init`` (N, 2): start from this
    layout instead of the principal components. ``should_stop()`` is asked between passes;
    when it says so, ``InterruptedError`` is raised."""
    x = np.asarray(codes, np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"embed: expected finite codes of shape (N, Z), got {x.shape}")
    n = len(x)
    if n < 3:
        return np.zeros((n, 2), np.float32)
    generator = torch.Generator().manual_seed(int(seed))
    head, tail, weight = _graph(torch.from_numpy(x), min(NEIGHBOURS, n - 1))
    # Edges too weak to be sampled even once in the run are dropped, as UMAP does.
    keep = weight >= weight.max() / epochs
    head, tail, weight = head[keep], tail[keep], weight[keep]
    y = _start(x, init, generator)
    period = weight.max() / weight          # passes between two samples of an edge
    stop = should_stop or (lambda: False)
    for epoch in range(epochs):
        if stop():
            raise InterruptedError("the map was cancelled")
        due = torch.nonzero(torch.floor((epoch + 1) / period) > torch.floor(epoch / period)).squeeze(1)
        _step(y, head[due], tail[due], 1.0 - epoch / epochs, generator)
    return y.numpy()


def _step(y: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, rate: float, generator) -> None:
    """One pass: attract each due edge's ends, repel each head from NEGATIVES random codes.
    Gradients of log(1 + d^2) (attraction) and -log(1 - 1/(1 + d^2)) (repulsion), clipped
    to +-4 per coordinate as UMAP does, so that no step throws a point across the map."""
    m = len(head)
    if m == 0:
        return
    heads = torch.cat([head, head.repeat(NEGATIVES)])
    others = torch.cat([tail, torch.randint(0, len(y), (m * NEGATIVES,), generator=generator)])
    diff = y[heads] - y[others]
    d2 = (diff * diff).sum(1)
    q = 1.0 / (1.0 + d2)
    coef = torch.empty_like(d2)
    coef[:m] = -2.0 * q[:m]
    coef[m:] = 2.0 * q[m:] / (1e-3 + d2[m:])
    grad = (coef[:, None] * diff).clamp_(-4.0, 4.0).mul_(rate)
    update = torch.zeros_like(y).index_add_(0, heads, grad).index_add_(0, tail, -grad[:m])
    y += update


def _start(x: np.ndarray, init, generator) -> torch.Tensor:
    """The first layout: ``init``, or the principal components scaled to +-INIT_SPREAD;
    a little seeded jitter so that equal codes can move apart."""
    n = len(x)
    if init is not None:
        y = np.asarray(init, np.float64)
        if y.shape != (n, 2) or not np.isfinite(y).all():
            raise ValueError(f"embed: init must be finite (N, 2) = ({n}, 2), got {y.shape}")
    else:
        centred = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        y = centred @ vt[:2].T if vt.shape[0] >= 2 else np.pad(centred @ vt[:1].T, ((0, 0), (0, 1)))
        # The sign of each principal direction is arbitrary: fix it, as Projection does.
        y = y * np.where(y[np.abs(y).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)
        peak = np.abs(y).max()
        y = y / peak * INIT_SPREAD if peak > 0 else y
    jitter = torch.randn((n, 2), generator=generator, dtype=torch.float64) * 1e-4
    return (torch.from_numpy(np.ascontiguousarray(y)) + jitter).float()


def _graph(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """UMAP's fuzzy k-NN graph, symmetrised (``a + b - ab``): (head, tail, weight), each
    undirected edge listed in both directions, weights float32 in (0, 1]."""
    dist, index = _nearest(x, k)
    n = len(x)
    rho = dist[:, 0]
    excess = (dist - rho[:, None]).clamp_min(0)
    # sigma per code such that its k weights exp(-excess / sigma) sum to log2(k).
    target = math.log2(k)
    low, high = torch.zeros(n, dtype=x.dtype), torch.full((n,), math.inf, dtype=x.dtype)
    sigma = torch.ones(n, dtype=x.dtype)
    for _ in range(64):
        big = torch.exp(-excess / sigma[:, None]).sum(1) > target
        high = torch.where(big, sigma, high)
        low = torch.where(big, low, sigma)
        sigma = torch.where(torch.isinf(high), sigma * 2, (low + high) / 2)
    weight = torch.exp(-excess / sigma[:, None]).reshape(-1).numpy()
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = index.reshape(-1).numpy()
    # An edge's weight in either direction (0 if absent), then the fuzzy union.
    keys = np.concatenate([rows * n + cols, cols * n + rows])
    unique, where = np.unique(keys, return_inverse=True)
    forward = np.zeros(len(unique))
    backward = np.zeros(len(unique))
    forward[where[:len(rows)]] = weight
    backward[where[len(rows):]] = weight
    union = forward + backward - forward * backward
    return (torch.from_numpy(unique // n), torch.from_numpy(unique % n),
            torch.from_numpy(union.astype(np.float32)))


def _nearest(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances (N, k) and indices (N, k) of each row's k nearest other rows, ascending."""
    norms = (x * x).sum(1)
    dists, indices = [], []
    for start in range(0, len(x), _GRAPH_CHUNK):
        block = x[start:start + _GRAPH_CHUNK]
        d2 = (norms[start:start + len(block), None] + norms[None, :]).addmm_(block, x.T, alpha=-2)
        d2.clamp_min_(0)
        d2[torch.arange(len(block)), torch.arange(start, start + len(block))] = math.inf
        d, i = d2.topk(k, dim=1, largest=False, sorted=True)
        dists.append(d.sqrt())
        indices.append(i)
    return torch.cat(dists), torch.cat(indices)
