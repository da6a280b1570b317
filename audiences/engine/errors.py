"""The engine's one error type (its own module so every other engine module can raise it without cycles)."""


class EngineError(RuntimeError):
    """The dataset cannot be read as asked (no files, unknown partition or column, object storage failing)."""


class UnreadableFileError(EngineError):
    """A file of the dataset is not readable Parquet (truncated, corrupt); ``file`` is its path inside the
    dataset (``day=…/prefix=…/score=…/part-0.parquet``), safe to show to admins and support."""

    def __init__(self, file: str):
        super().__init__(f"unreadable Parquet file: {file}")
        self.file = file


def removed_file_error(path: str) -> EngineError:
    """The error for a file a planner listed that is gone when its unit reads it (named inside its tree)."""
    return EngineError(f"{'/'.join(path.split('/')[-4:])} was removed from the dataset after it was listed")
