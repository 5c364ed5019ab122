"""The error path: an exception raised anywhere (a slot, an event handler, a timer, the
inference thread, a plain thread, Qt itself) is logged, told once without a modal dialog,
and the app goes on. Help ▸ About says where the log is, and lists every shortcut."""

from __future__ import annotations

import logging
import threading

import pytest
from gui_helpers import draw_digit, settle
from PySide6.QtCore import Qt, QTimer, qCritical, qWarning
from PySide6.QtWidgets import QApplication

from aegui.gui import incidents
from aegui.gui.incidents import ErrorReporter, Incident, incident_from


@pytest.fixture
def installed(window):
    """The window's reporter handling the process's hooks, as ``aegui`` runs it (pytest-qt's
    own capture is off for these tests: ``qt_no_exception_capture``)."""
    window.reporter.install()
    yield window.reporter
    window.reporter.uninstall()
    window.incident_view.clear()     # seen and checked: the window fixture wants none left


def told(window) -> list[str]:
    messages = []
    window.statusBar().messageChanged.connect(lambda text: text and messages.append(text))
    return messages


def log_text(reporter) -> str:
    return reporter.log_path.read_text(encoding="utf-8")


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_told_once_and_the_app_goes_on(window, installed, qtbot):
    messages = told(window)

    def broken_listener():
        raise ValueError("a listener of the canvas broke")

    window.canvas.drawingChanged.connect(broken_listener)
    draw_digit(window.canvas, "3")             # every mouse move raises in that slot
    settle(qtbot, window)
    window.canvas.drawingChanged.disconnect(broken_listener)

    assert len(installed.incidents) == 1, [(i.key, i.summary) for i in installed.incidents]
    [incident] = installed.incidents
    assert incident.summary == "ValueError: a listener of the canvas broke"
    assert incident.where == "UI thread"
    assert installed.counts[incident.key] > 5
    log = log_text(installed)
    assert "ValueError: a listener of the canvas broke" in log and "broken_listener" in log
    assert log.count("Traceback") == incidents.FULL_TRACEBACKS    # repeats do not flood the log
    assert sum("Something went wrong" in m for m in messages) == 1  # told once
    button = window.incident_view.button
    assert button.isVisible() and "a listener of the canvas broke" in button.text()
    # The rest of the app went on: every view followed the drawing.
    drawing = window.session.drawing
    assert drawing is not None and drawing.z is not None
    assert window.network.model_input.pixels().any()
    assert window.map_panel.guess_label.text() == drawing.guess.describe().capitalize()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = window.incident_view.dialog
    assert dialog.isVisible() and not dialog.isModal()
    text = dialog.text.toPlainText()
    assert "Traceback" in text and "broken_listener" in text and "UI thread" in text
    assert str(installed.log_path) in dialog.intro.text()
    dialog.clear_button.click()
    assert not installed.incidents and not button.isVisible()


@pytest.mark.qt_no_exception_capture
def test_exceptions_of_timers_threads_and_libraries_and_qt_criticals_are_incidents(window, installed, qtbot,
                                                                                  caplog):
    def timer_fails():
        raise KeyError("from a timer")

    QTimer.singleShot(0, timer_fails)
    thread = threading.Thread(target=lambda: 1 / 0, name="loader")
    thread.start()
    thread.join()
    try:
        raise OSError("a callback failed")
    except OSError:
        logging.getLogger("concurrent.futures").exception("exception calling callback")
    caplog.clear()                           # seen: the clean-log check is for unseen ones
    qCritical("something critical in Qt")
    qWarning("only a warning")
    qtbot.waitUntil(lambda: len(installed.incidents) == 4)
    where = {i.summary.split(":")[0]: i.where for i in installed.incidents}
    assert where["KeyError"] == "UI thread"
    assert where["ZeroDivisionError"] == "thread loader"
    assert where["exception calling callback"].endswith("(concurrent.futures)")
    assert where["Qt"].startswith("Qt")
    log = log_text(installed)
    assert "only a warning" in log and "something critical in Qt" in log
    assert not any("only a warning" in i.summary for i in installed.incidents)


def test_a_failed_request_of_the_inference_thread_is_told_and_the_next_one_served(window, qtbot, monkeypatch):
    engine = window.worker._engine
    real = engine.answer
    broken = []

    def fails_once(request):
        if request.kind == "drawing" and not broken:
            broken.append(request.seq)
            raise RuntimeError("the model could not run")
        return real(request)

    monkeypatch.setattr(engine, "answer", fails_once)
    draw_digit(window.canvas, "1")
    settle(qtbot, window)
    [incident] = window.reporter.incidents
    assert incident.where == "inference thread (drawing)"
    assert "RuntimeError: the model could not run" in incident.details
    assert "Traceback" in log_text(window.reporter)
    assert window.session.drawing is not None and window.session.drawing.seq > broken[0]
    window.incident_view.clear()


def test_the_log_rotates_and_keeps_three_old_files(tmp_path, qapp):
    reporter = ErrorReporter(tmp_path / "logs" / "aegui.log")
    reporter._file.maxBytes = 4000
    for i in range(60):
        reporter.report(Incident("UI thread", f"ValueError: incident {i}", "x" * 300, ("test", i)))
    QApplication.processEvents()
    logs = sorted((tmp_path / "logs").iterdir())
    assert [p.name for p in logs] == ["aegui.log", "aegui.log.1", "aegui.log.2", "aegui.log.3"]
    assert all(p.stat().st_size <= 4000 for p in logs)
    assert "incident 59" in logs[0].read_text()
    assert len(reporter.incidents) == 60
    reporter.close()


def test_one_incident_raised_again_counts_up_and_logs_a_few_tracebacks(tmp_path, qapp):
    reporter = ErrorReporter(tmp_path / "aegui.log")
    for _ in range(120):
        try:
            raise ValueError("again and again")
        except ValueError as err:
            reporter.report(incident_from(err))
    QApplication.processEvents()
    assert len(reporter.incidents) == 1 and sum(reporter.counts.values()) == 120
    log = (tmp_path / "aegui.log").read_text()
    assert log.count("Traceback") == incidents.FULL_TRACEBACKS
    assert "again: 10 times so far" in log and "again: 100 times so far" in log
    reporter.close()


def test_a_log_that_cannot_be_written_is_noted_not_printed(tmp_path, qapp, capfd):
    (tmp_path / "logs").write_text("a file where the log folder should be")
    reporter = ErrorReporter(tmp_path / "logs" / "aegui.log")
    reporter.report(incident_from(ValueError("lost")))
    QApplication.processEvents()
    assert "cannot write the log" in reporter.log_problem
    assert len(reporter.incidents) == 1          # still told
    out, err = capfd.readouterr()
    assert not out and not err
    reporter.close()


def test_about_says_version_model_backend_data_folder_and_log(window, qtbot):
    dialog = window.about()
    assert dialog.isVisible() and not dialog.isModal()
    text = dialog.facts.text()
    info = window.session.info
    import aegui

    for expected in (f"aegui {aegui.__version__}", info.name, f"code size {info.latent_dim}",
                     f"{info.backend} on {info.device}", str(window.data_dir), str(window.reporter.log_path)):
        assert expected in text, expected
    dialog.close()


def test_the_shortcut_sheet_lists_every_shortcut_of_the_menus(window, qtbot):
    window.shortcuts_action.trigger()
    dialog = window.about_dialog
    assert dialog.tabs.currentIndex() == 1
    table = dialog.shortcuts
    sheet = {(table.item(r, 1).text(), table.item(r, 2).text()) for r in range(table.rowCount())}
    names = {name for name, _ in sheet}
    for action in (window.tools.undo_action, window.tools.clear_action, window.handwriting.collect_action,
                   window.latent_views.reset_action, window.exports.images_action, window.shortcuts_action):
        assert action.text().rstrip("…") in names, action.text()
    assert ("Save Drawing as 7", "7") in sheet
    assert len(sheet) >= 25
    dialog.close()


@pytest.mark.qt_no_exception_capture
def test_the_apps_own_records_go_to_the_log_without_being_incidents(window, installed):
    try:
        raise RuntimeError("fine-tuning could not read MNIST")
    except RuntimeError:
        logging.getLogger("aegui.gui.finetune_dialog").info("fine-tuning failed", exc_info=True)
    log = log_text(installed)
    assert "fine-tuning failed" in log and "RuntimeError: fine-tuning could not read MNIST" in log
    assert not installed.incidents
