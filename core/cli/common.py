"""Helpers the ``python -m core`` verbs share: a stage progress bar and exiting on bad input."""

from __future__ import annotations


def stage_bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, bar_format="{desc}: {n}/{total} |{bar:20}| {postfix} [{elapsed}]")


def exit_on_value_error(command):
    """Run ``command(args)``; bad input (ValueError, e.g. an unreadable file) exits with its message."""
    def run(args) -> int:
        try:
            return command(args)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from exc

    return run
