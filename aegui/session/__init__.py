"""The app's state without Qt: ``Session`` (what the app knows, the one rule for stale
results), the latent edit and interpolation it holds, and the requests and answers it
exchanges with whoever computes (``protocol``). Widgets observe a session and send it
intents; ``aegui.exports`` writes what it holds. No Qt, no torch.
"""

from .edits import Interpolation, LatentEdit, Pin
from .protocol import Decoded, DrawingResult, LoadFailed, MapReady, ModelInfo, Read, ReadingAsk, Request
from .session import Output, Session, Signal

__all__ = ["Decoded", "DrawingResult", "Interpolation", "LatentEdit", "LoadFailed", "MapReady", "ModelInfo",
           "Output", "Pin", "Read", "ReadingAsk", "Request", "Session", "Signal"]
