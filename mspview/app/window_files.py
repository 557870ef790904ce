"""Opening files in the main window: images (read off the UI thread) and .msp files (decoded in the
worker), from the dialog, drag and drop, or the recent list (a file joins it once it opens). A mixin of
MainWindow."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..codec.errors import MSPError
from ..codec.imageio import load_image
from . import jobs

OPEN_FILTER = ("Images and .msp files (*.msp *.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.ppm *.pgm *.gif);;"
               "All files (*)")


class FileOpening:
    def _recent(self) -> list[str]:
        v = self.settings.value("recent", [])
        return [v] if isinstance(v, str) else list(v or [])

    def _remember(self, path: Path) -> None:
        items = [str(path)] + [p for p in self._recent() if p != str(path)]
        self.settings.setValue("recent", items[:10])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self._recent()))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image or .msp", str(self._last_dir()), OPEN_FILTER)
        if path:
            self.open_path(path)

    def _last_dir(self) -> Path:
        r = self._recent()
        return Path(r[0]).parent if r else Path.home()

    def open_path(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix.lower() == ".msp":
            self.open_msp(path)
        else:
            self.open_image(path)

    def open_image(self, path: Path) -> None:
        """Start reading an image file; `image_loaded` fires once it is shown (a newer open wins)."""
        self._loading = (path, self._loader.submit(load_image, path))
        self.controls.stage.setText(f"loading {path.name}…")
        self._load_timer.start()

    def _collect_image(self) -> None:
        path, future = self._loading or (None, None)
        if future is None or not future.done():
            return
        self._load_timer.stop()
        self._loading = None
        try:
            img = future.result()
        except (MSPError, MemoryError) as e:
            message = str(e) if isinstance(e, MSPError) else f"{path.name}: not enough memory to read this image"
            self.controls.stage.setText(f"could not open {path.name}")
            self.show_error(message)
            self.image_failed.emit(message)
            return
        self.runner.cancel()
        self.session.open_image(img, path)
        self._forgotten = None
        self._reset_sides()
        self._clear_views()
        self._remember(path)
        self._refresh_canvas(keep_view=False)
        self._results_changed()
        note = f" ({'; '.join(img.notes)})" if img.notes else ""
        self.controls.stage.setText(f"loaded {path.name}: {img.width}×{img.height} {img.source_mode}{note}")
        self.image_loaded.emit(path)

    def open_msp(self, path: Path) -> None:
        """Decode a .msp file in the worker; it joins Open recent only once it decodes."""
        try:
            data = path.read_bytes()
        except OSError as e:
            self.show_error(f"cannot read {path}: {e}")
            return
        self.session.open_file(path)
        self._forgotten = None
        self._reset_sides()
        self._clear_views()
        self._refresh_canvas(keep_view=False)
        self._results_changed()
        self._pending_open = path
        self._start_job(f"decoding {path.name}", jobs.decode_job, data, path.name)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())
