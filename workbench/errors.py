"""Errors a user can fix: shown as one clear message, never as a traceback."""


class WorkbenchError(Exception):
    """A problem with the user's input (config, data folder, run folder, checkpoint).

    The message names the file, field or key and says what to do about it.
    """


class ConfigError(WorkbenchError):
    """An invalid config key or value; ``key`` is its dotted path, e.g. ``loss.kd.temperature``."""

    def __init__(self, message: str, key: str = ""):
        super().__init__(message)
        self.key = key
