"""Upload areas whose size limit is enforced in the browser by ``assets/upload_size_limit.js``."""

from dash import dcc, html

#: Class of the wrapper that ``assets/upload_size_limit.js`` watches.
SIZE_LIMITED_UPLOAD_CLASS = "size-limited-upload"


def size_limited_upload(upload_id: str, message_id: str, max_bytes: int, **upload_props) -> html.Div:
    """A ``dcc.Upload`` that refuses, in the browser, any file over ``max_bytes``.

    ``assets/upload_size_limit.js`` stops the file choice or drop before the file is read, so nothing
    is sent, and shows "<name> is N MiB; the limit is M MiB" in the component ``message_id``. The
    server must still check the size: a client can skip the script.

    Parameters
    ----------
    upload_id : str
        Id of the ``dcc.Upload``.
    message_id : str
        Id of the component whose ``children`` show the message (the upload's status line).
    max_bytes : int
        Largest file accepted, in bytes (per file when ``multiple=True``).
    **upload_props
        Other ``dcc.Upload`` arguments (``children``, ``accept``, ``multiple``, ``className``, ...).
    """
    return html.Div(dcc.Upload(id=upload_id, **upload_props), className=SIZE_LIMITED_UPLOAD_CLASS,
                    **{"data-max-bytes": str(max_bytes), "data-message-id": message_id})
