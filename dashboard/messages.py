"""The one place where exceptions become sentences on the page.

A :class:`core.errors.UserError` carries a message written for the user (what was wrong with their input,
what to do): it is shown as it is. Any other exception is a fault of the program: its traceback goes to the
server log and the page says only :data:`GENERIC_MESSAGE`, never a class name, a server path or a repr.

Background jobs run in other processes; Dash hands their failures to the web process as a
``BackgroundCallbackError`` whose text holds the job's message and traceback. :func:`user_message` reads the
class of the job's exception from the traceback's last line, so a ``UserError`` raised in a job is shown
like one raised in the web process.
"""

from __future__ import annotations

import importlib
import logging

import dash_bootstrap_components as dbc
from dash.exceptions import BackgroundCallbackError

from core.errors import UserError
from dashboard.jobs import JOB_LOST_MESSAGE

__all__ = ["GENERIC_MESSAGE", "error_alert", "user_message"]

#: What the page says about a fault of the program (the details go to the server log).
GENERIC_MESSAGE = "Something went wrong; the details are in the server log. The server is still running."

_BACKGROUND_PREFIX = "An error occurred inside a background callback: "

logger = logging.getLogger("virtual_fmri_studio")


def _job_error(error: BackgroundCallbackError) -> tuple[str, str]:
    """``(message, qualified class name)`` of the exception a background job raised ("" when unknown).

    Dash writes ``PREFIX + message + "\\n" + traceback``, and a traceback ends with ``"module.Class: message"``,
    so the message is the shortest first part (up to a line break) that the traceback ends with.
    """
    text = str(error).removeprefix(_BACKGROUND_PREFIX).rstrip("\n")
    position = text.find("\n")
    while position != -1:
        message, traceback = text[:position], text[position + 1:]
        suffix = f": {message}" if message else ""
        if traceback.endswith(suffix):
            return message, traceback[: len(traceback) - len(suffix)].rsplit("\n", 1)[-1]
        position = text.find("\n", position + 1)
    return text.strip(), ""


def _is_user_error_class(qualified_name: str) -> bool:
    """Whether ``"package.module.Class"`` (a job's exception class) is a UserError of this project."""
    module, _, name = qualified_name.rpartition(".")
    if not module.startswith(("core.", "dashboard.")):
        return False
    try:
        cls = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, UserError)


def user_message(error: BaseException) -> str:
    """The sentence the page shows for ``error``; logs it (with its traceback unless it is a UserError).

    Parameters
    ----------
    error : BaseException
        Raised by a callback, a service, or (as ``BackgroundCallbackError``) a background job.

    Returns
    -------
    str
        The ``UserError``'s own message, the lost-job notice, or :data:`GENERIC_MESSAGE`.
    """
    if isinstance(error, UserError):
        logger.info("refused input: %s", error)
        return str(error)
    if isinstance(error, BackgroundCallbackError):
        message, raised = _job_error(error)
        if message == JOB_LOST_MESSAGE or _is_user_error_class(raised):
            logger.info("background job refused input or was lost: %s", message)
            return message
        logger.error("background job failed: %s", error)
        return GENERIC_MESSAGE
    logger.error("callback failed", exc_info=error)
    return GENERIC_MESSAGE


def error_alert(error: BaseException, *, color: str = "danger", **props) -> dbc.Alert:
    """``user_message(error)`` in a dismissable Bootstrap alert (``props`` go to ``dbc.Alert``)."""
    return dbc.Alert(user_message(error), color=color, dismissable=True, **props)
