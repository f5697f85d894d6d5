"""Errors a user can fix: shown as one clear message, never as a traceback."""

import difflib


class WorkbenchError(Exception):
    """A problem with the user's input (config, data folder, run folder, checkpoint).

    The message names the file, field or key and says what to do about it.
    """


def describe_exception(error: BaseException) -> str:
    """A plain one-line message: a user's mistake as written, anything else with its type."""
    if isinstance(error, WorkbenchError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def first_line(error: BaseException) -> str:
    """The first line of an error's message (torch's carry a C++ backtrace below it), or its type."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ConfigError(WorkbenchError):
    """An invalid config key or value; ``key`` is its dotted path, e.g. ``loss.kd.temperature``."""

    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.key = key


def did_you_mean(key: str, known: list[str]) -> str:
    """" Did you mean 'width'?" for a near miss, else " Valid keys: ..." (the end of an unknown-key message)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else f" Valid keys: {', '.join(known)}."
