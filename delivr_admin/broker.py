"""The embedded default's Celery broker: kombu's filesystem transport, with messages written atomically.

kombu's filesystem transport creates a message file, then locks and writes it. A worker listing the folder in
between moves the still-empty (or half-written) file away and fails to decode it; under load that ends the worker.
Here a message is written under a name the consumer skips (``.<name>.part``) and renamed into place, so a file
with the ``.msg`` name is always whole. Selected by ``CELERY_BROKER_TRANSPORT`` when the broker URL is
``filesystem://``.
"""

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class FilesystemChannel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FilesystemTransport(filesystem.Transport):
    Channel = FilesystemChannel


# kombu resolves a URL's scheme through this table; the scheme and the folders stay as configured.
TRANSPORT_ALIASES["filesystem"] = f"{__name__}:FilesystemTransport"
