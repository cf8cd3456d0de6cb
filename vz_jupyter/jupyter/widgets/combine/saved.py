"""The combine widget in saved notebooks: its state as plain HTML (no
JavaScript), shown by notebook viewers and kept up to date while it runs."""
from __future__ import annotations

import html
import traceback

import IPython.display as ipy_display  # display looked up when called, as IPython does

from ....display.common import escape, style_block
from ....display.files import file_runs, run_label
from .common import SAVED_NOTE


class SavedState:
    """Mixin of :class:`~.widget.CombineWidget`: the static HTML and the saved-state outputs."""

    def static_html(self) -> str:
        """The widget's state as plain HTML (no JavaScript): status, the files (runs
        collapsed), the check report, the chunk map and what was written. Shown by
        notebook viewers; kept up to date in the notebook (see the module docstring)."""
        status, kind = self._status_from_state()
        names = [self.label_of.get(p, p) for p in self.files]
        flagged = self._flags()
        breaks = [k for k, p in enumerate(self.files) if p in flagged]
        items = []
        for run in file_runs(names, breaks=breaks)[:200]:
            level = flagged.get(self.files[run.start], ("", ""))[0] if run.count == 1 else ""
            mark = " ✖" if level == "error" else " ▲" if level == "warning" else ""
            what = f" ({run.count:,} files, in name order)" if run.count > 1 else ""
            items.append(f"<li>{escape(run_label(run))}{escape(what)}{mark}</li>")
        left = self.left_out
        left_html = (f"<div>left out ({len(left):,}): {escape(', '.join(self.label_of[p] for p in left[:20]))}"
                     f"{escape(' …' if len(left) > 20 else '')}</div>") if left else ""
        svg = self.canvas.fallback_html or ""
        report = self.w_report.value if self.report is not None else ""
        wrote = (f"<div>written: <code>{escape(self.written)}</code> ({escape(self.w_format.value)})</div>"
                 if self.written else "")
        title = (f"vz combine: {len(self.files):,} of {len(self.datasets):,} files along "
                 f"{self.dim!r}" if self.dim else f"vz combine: {len(self.files):,} files, no concat dimension")
        if self.append_to is not None:
            title = f"vz append to {self.append_to}: {max(len(self.files) - 1, 0):,} new files along {self.dim!r}"
        return (f"<div class=\"vz-combine-static vz-root\">{style_block()}<div><b>{escape(title)}</b></div>"
                f"<div class=\"vz-combine-{escape(kind)}\">{escape(status)}</div>"
                f"<ol>{''.join(items)}</ol>{left_html}{report}{svg}{wrote}</div>")

    def _publish_saved(self, force: bool = False) -> None:
        """Update the saved-state outputs with the current state (skipped when
        nothing changed). Called from the thread that changed the state, so a
        kernel sends the update as part of that cell or that button click."""
        if not self._saved:
            return
        bundle = self._saved_bundle()
        if bundle == self._saved_last and not force:
            return
        self._saved_last = bundle
        for handle in self._saved:
            try:
                handle.update(bundle, raw=True)
            except Exception:  # noqa: BLE001 - a closed frontend must not break the widget
                pass

    def _saved_bundle(self) -> dict:
        try:
            body = self.static_html()
        except Exception:  # noqa: BLE001 - never break the display
            body = f"<pre>{html.escape(traceback.format_exc(limit=1).splitlines()[-1])}</pre>"
        return {"text/html": f"<div class=\"vz-combine-saved\">{body}</div>", "text/plain": repr(self)}

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        try:
            fallback = self.static_html()
        except Exception:  # noqa: BLE001 - never break the display
            fallback = f"<pre>{html.escape(traceback.format_exc(limit=1).splitlines()[-1])}</pre>"
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = fallback
        return bundle

    def _ipython_display_(self, **kwargs):
        """In a notebook: the widget, then its saved state (kept up to date)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        data["text/html"] = SAVED_NOTE
        ipy_display.display(data, raw=True)
        self._saved_last = self._saved_bundle()
        handle = ipy_display.display(self._saved_last, raw=True, display_id=True)
        if handle is not None:
            self._saved.append(handle)
