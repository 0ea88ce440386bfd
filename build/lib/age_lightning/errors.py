"""Errors caused by a user's data or settings: reported as a message, never as a traceback."""


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class DatasetError(UserError, ValueError):
    """The labeled-photo folder cannot be used as it is; the message says what to fix."""
