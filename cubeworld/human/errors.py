"""The human stage's errors: the researcher-facing one and the one the web API answers with.

`HumanStudyError` (a CubeworldError): a study folder, its settings or its data are unusable;
the command line prints it as one line and exits with code 2.

`ApiError`: an HTTP status, a stable code and a sentence.

The store raises it where a request breaks a rule (unknown participant, item not assigned,
replayed request, ...); the server turns it into `{"error": message, "code": code}` with
the status, so clients (the jsPsych page, tests, a researcher with curl) see why.
"""

from __future__ import annotations

from cubeworld.errors import CubeworldError


class HumanStudyError(CubeworldError):
    """A study folder or its settings are invalid; the message names the file and the problem."""


class SettingProblem(HumanStudyError):
    """Settings that do not fit together (raised while a typed config is built); `key` names
    the setting to change, so the reader of study.yaml can add the key's file and line."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: object):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, **self.extra}
