"""User-facing errors: what the CLI turns into one red line per problem and exit code 2."""

from __future__ import annotations


class ReportgenError(Exception):
    """A mistake in the user's input or configuration (never a bug in reportgen).

    ``problems`` holds one line per problem, each naming the file, row, column,
    layer or field at fault, so the user can fix them all in one pass.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
