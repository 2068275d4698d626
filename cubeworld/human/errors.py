"""The one error type the web API answers with: an HTTP status, a stable code and a sentence.

The store raises it where a request breaks a rule (unknown participant, item not assigned,
replayed request, ...); the server turns it into `{"error": message, "code": code}` with
the status, so clients (the jsPsych page, tests, a researcher with curl) see why.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: object):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.message, "code": self.code, **self.extra}
