"""The main window's dock layout and saved geometry: the docks built and arranged for the screen (a small
screen's bottom docks share one tabbed area), the window opened using the screen, a saved layout
restored only where it fits, View → Reset layout. A mixin of MainWindow."""
from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QScrollArea, QVBoxLayout, QWidget

from .plots import BitAllocation, LOFCurves, RDView
from .preview_strip import PreviewStrip
from .readouts import ReadoutsPanel

COMPACT_HEIGHT = 900  # below this many pixels of screen, the bottom docks share one tabbed area
LAYOUT_VERSION = 2  # saved dock layouts of other versions are not restored
FRAME = 4  # pixels a window manager's frame may add around the window (the title bar: 24 more)


class DockLayout:
    def _build_docks(self) -> None:
        self.readouts = ReadoutsPanel()
        self.table_dock = self._dock("Readouts", self.readouts, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.curves = LOFCurves()
        self.curves_dock = self._dock("LOF curves", self.curves, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.rd = RDView()
        self.rd_dock = self._dock("RD curve (this image)", self.rd, Qt.DockWidgetArea.BottomDockWidgetArea)
        bits_page = QWidget()
        bl = QVBoxLayout(bits_page)
        bl.setContentsMargins(0, 0, 0, 0)
        self.bits = BitAllocation()
        self.bits.hovered.connect(lambda s: self.statusBar().showMessage(s, 4000))
        self.bits.map_changed.connect(self._refresh_overlay)
        self.bits.opacity.valueChanged.connect(self._refresh_overlay)
        bl.addWidget(self.bits, 1)
        self.bits_dock = self._dock("Bit allocation", bits_page, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.strip = PreviewStrip()
        self.strip.chosen.connect(self.show_preview)
        scroll = QScrollArea()
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(True)
        scroll.setMinimumHeight(150)
        self.strip_dock = self._dock("Progressive decode", scroll, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._arrange_docks()

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "_"))
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    def _arrange_docks(self) -> None:
        """The default layout for this screen: a small screen's bottom docks share one tabbed area,
        a large one's strip runs above the LOF/RD tabs beside the bit allocation. The left column
        (controls, readouts) runs the full height."""
        compact = self._screen().height() < COMPACT_HEIGHT
        bottom = (self.strip_dock, self.curves_dock, self.rd_dock, self.bits_dock)
        for d in bottom:
            d.setFloating(False)
            d.show()
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
        for d in (self.controls_dock, self.table_dock):
            d.setFloating(False)
            d.show()
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d)
        self.splitDockWidget(self.controls_dock, self.table_dock, Qt.Orientation.Vertical)
        if compact:
            for d in bottom[1:]:
                self.tabifyDockWidget(self.strip_dock, d)
            self.strip_dock.raise_()
            self.resizeDocks([self.strip_dock], [240], Qt.Orientation.Vertical)
        else:
            self.splitDockWidget(self.strip_dock, self.curves_dock, Qt.Orientation.Vertical)
            self.splitDockWidget(self.curves_dock, self.bits_dock, Qt.Orientation.Horizontal)
            self.tabifyDockWidget(self.curves_dock, self.rd_dock)
            self.curves_dock.raise_()
            self.resizeDocks([self.strip_dock, self.curves_dock], [175, 290], Qt.Orientation.Vertical)
            self.resizeDocks([self.curves_dock, self.bits_dock], [700, 500], Qt.Orientation.Horizontal)
        self.resizeDocks([self.controls_dock], [310], Qt.Orientation.Horizontal)
        self.resizeDocks([self.controls_dock, self.table_dock], [420 if not compact else 400, 400],
                         Qt.Orientation.Vertical)

    def _screen(self):
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    def fit_to_screen(self) -> None:
        """Open using the screen: 96 % of its width and 94 % of its height (room for a frame and title),
        centred; the image area is what grows."""
        avail = self._screen()
        w, h = int(avail.width() * 0.96), int(avail.height() * 0.94)
        self.setGeometry(avail.x() + (avail.width() - w) // 2, avail.y() + (avail.height() - h) // 2, w, h)

    def reset_layout(self) -> None:
        """View → Reset layout: the default size and docks for this screen."""
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self._arrange_docks()
        self.fit_to_screen()

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        self.controls.restore(s, self.config.default_lambda)
        rect = [int(v) for v in (s.value("window_rect") or [])]
        state = s.value("window_state")
        if len(rect) == 4 and state is not None and self._fits(QRect(*rect)):
            self.setGeometry(QRect(*rect))
            self.restoreState(state, LAYOUT_VERSION)
        else:  # first start, or saved on a bigger screen: this screen's default
            self.fit_to_screen()

    def _fits(self, rect: QRect) -> bool:
        """Whether a window of `rect` (plus a frame) lies on this screen."""
        return self._screen().contains(rect.adjusted(-FRAME, -FRAME - 24, FRAME, FRAME))

    def _save_settings(self) -> None:
        s = self.settings
        self.controls.save(s)
        g = self.geometry()
        s.setValue("window_rect", [g.x(), g.y(), g.width(), g.height()])
        s.setValue("window_state", self.saveState(LAYOUT_VERSION))
        s.sync()
