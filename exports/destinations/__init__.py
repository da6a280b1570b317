"""Export destinations behind one small interface (see base.py); `get_destination(kind)` finds one."""

from exports.destinations.base import (
    BatchContext,
    BatchResult,
    Destination,
    DestinationError,
    ObjectResult,
    RecordError,
    get_destination,
    register,
)

__all__ = [
    "BatchContext",
    "BatchResult",
    "Destination",
    "DestinationError",
    "ObjectResult",
    "RecordError",
    "get_destination",
    "register",
]
