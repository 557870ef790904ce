"""File → Save and Export: ask where (dialogs start in the last folder written to, else home: an image's
own folder may be read-only, as the test images are), write, and say what was written or why not."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..codec.imageio import save_image
from . import html_report, jobs, report


class Exports:
    """The window's save and export actions; `window` gives the session, the settings, the bit maps, the
    weights' card and where messages go."""

    def __init__(self, window):
        self.w = window

    # ------------------------------------------------------------------ where
    def save_dir(self) -> Path:
        return Path(str(self.w.settings.value("save_dir", Path.home())))

    def ask_save(self, title: str, name: str, filter_: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self.w, title, str(self.save_dir() / name), filter_)
        if path:
            self.w.settings.setValue("save_dir", str(Path(path).parent))
        return Path(path) if path else None

    def ask_folder(self, title: str) -> Path | None:
        folder = QFileDialog.getExistingDirectory(self.w, title, str(self.save_dir()))
        if folder:
            self.w.settings.setValue("save_dir", folder)
        return Path(folder) if folder else None

    # ------------------------------------------------------------------ what
    def _stem(self) -> str:
        return self.w.session.path.stem if self.w.session.path else "image"

    def _current(self, what: str) -> jobs.EncodeResult | None:
        if self.w.session.current is None:
            self.w.show_error(f"nothing {what} yet")
        return self.w.session.current

    def _write(self, write: Callable[[], object], failed: str, said: Callable[[object], str]) -> None:
        """Run `write()`: an error becomes a dialog (`failed`: what could not be written), its result the
        status line `said(result)`."""
        try:
            out = write()
        except (OSError, ValueError) as e:  # ValueError: a file name whose image format cannot be written
            self.w.show_error(f"{failed}: {e}")
            return
        self.w.controls.stage.setText(said(out))

    def save_msp(self) -> None:
        result = self._current("encoded")
        path = result and self.ask_save("Save .msp", f"{self._stem()}.msp", "mspview files (*.msp)")
        if path:
            self._write(lambda: path.write_bytes(result.ours.data), f"cannot write {path}", lambda _: f"saved {path}")

    def save_comparison_files(self) -> None:
        """Every file of the current result as its real bytes: the .msp and the comparison's files."""
        result = self._current("encoded")
        folder = result and self.ask_folder("Save the compared files to folder")
        if folder:
            self._write(lambda: report.comparison_files(folder, self.w.session, result), f"cannot write to {folder}",
                        lambda paths: f"saved {', '.join(p.name for p in paths)} to {folder}")

    def export_reconstruction(self) -> None:
        result = self._current("decoded")
        path = result and self.ask_save("Export reconstruction", f"{self._stem()}_mspview.png", "PNG (*.png)")
        if path:
            self._write(lambda: save_image(result.ours.decoded.output, path), f"cannot write {path}",
                        lambda _: f"saved {path}")

    def _provenance(self, result) -> tuple[dict, dict]:
        w = self.w
        return report.provenance(result, w.config.model_id, w.card.get("sha256"), str(w.model_path or "shipped"),
                                 **w.controls.settings_summary())

    def export_report(self) -> None:
        """A figure (images labelled, readouts, bytes per scale, RD curves when measured) and CSV/JSON."""
        result = self._current("encoded")
        folder = result and self.ask_folder("Export comparison report to folder")
        if not folder:
            return
        w = self.w
        settings, weights = self._provenance(result)
        self._write(lambda: report.write_report(folder, w.session, result, settings, weights),
                    f"cannot write the report to {folder}",
                    lambda paths: f"report written to {folder}: {', '.join(p.name for p in paths)}")

    def export_html(self) -> None:
        """One self-contained HTML file: every image of this session, split slider, zoom, readouts, RD
        curves, bit map; its size said before it is written."""
        result = self._current("encoded")
        if result is None:
            return
        w = self.w
        size = html_report.estimated_bytes(w.session) / 1e6
        path = self.ask_save(f"Export interactive report (about {size:.1f} MB)", f"{self._stem()}_report.html",
                             "HTML (*.html)")
        if not path:
            return
        settings, weights = self._provenance(result)
        self._write(lambda: html_report.write_html(path, w.session, result, settings, weights), f"cannot write {path}",
                    lambda out: f"interactive report written to {out} ({out.stat().st_size / 1e6:.1f} MB)")

    def export_bit_maps(self) -> None:
        if self.w.bits.maps is None:
            self.w.show_error("no bit maps yet: encode or open a file")
            return
        folder = self.ask_folder("Export bit maps to folder")
        if folder:
            self._write(lambda: self.w.bits.export(folder, self._stem()), f"cannot write to {folder}",
                        lambda paths: f"bit maps written to {folder}: {len(paths)} files")
