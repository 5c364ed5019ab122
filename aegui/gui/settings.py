"""What the app remembers between runs, through QSettings: window geometry and dock
layout, pen width, the last model, the folder of the last file dialog and the MNIST data
set that fine-tuning mixes in. QSettings writes its file atomically (a temporary
file renamed over the old one), so a crash never leaves half a settings file."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

__all__ = ["Settings"]

ORGANIZATION = "aegui"
APPLICATION = "aegui"


class Settings:
    """Typed access to the app's QSettings (``path``: an INI file instead, for tests)."""

    def __init__(self, path: str | None = None):
        if path is None:
            self._store = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                    ORGANIZATION, APPLICATION)
        else:
            self._store = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def file_name(self) -> str:
        return self._store.fileName()

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @property
    def geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._store.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._store.setValue("window/state", value)

    @property
    def pen_width(self) -> int:
        try:
            width = int(self._store.value("drawing/pen_width", 32))
        except (TypeError, ValueError):
            return 32
        return min(max(width, 2), 120)

    @pen_width.setter
    def pen_width(self, value: int) -> None:
        self._store.setValue("drawing/pen_width", int(value))

    @property
    def drawn_before(self) -> bool:
        """The user has drawn on the canvas before (no first-run hint then)."""
        return str(self._store.value("drawing/drawn_before", "false")).lower() == "true"

    @drawn_before.setter
    def drawn_before(self, value: bool) -> None:
        self._store.setValue("drawing/drawn_before", "true" if value else "false")

    @property
    def last_model(self) -> str | None:
        value = self._store.value("model/last")
        return str(value) if value else None

    @last_model.setter
    def last_model(self, value: str | None) -> None:
        if value:
            self._store.setValue("model/last", str(value))
        else:
            self._store.remove("model/last")

    @property
    def last_folder(self) -> str:
        """The folder of the file last opened or saved through a dialog ("" if none)."""
        return str(self._store.value("files/last_folder", "") or "")

    @last_folder.setter
    def last_folder(self, value: str) -> None:
        self._store.setValue("files/last_folder", str(value))

    @property
    def data_path(self) -> str:
        """MNIST for fine-tuning (a mnist.npz or a folder of IDX files); "" = not set, and
        then $AEGUI_DATA, as for ``aegui train``."""
        return str(self._store.value("data/mnist", "") or "")

    @data_path.setter
    def data_path(self, value: str) -> None:
        if value:
            self._store.setValue("data/mnist", str(value))
        else:
            self._store.remove("data/mnist")

    def sync(self) -> None:
        self._store.sync()
