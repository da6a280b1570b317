"""The embedded broker writes messages atomically: a consumer never sees an empty or half-written message."""

import threading

from kombu import Connection

from delivr_admin.broker import FilesystemTransport


def _connection(folder) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    return Connection("filesystem://", transport_options=options)


def test_filesystem_urls_resolve_to_the_atomic_transport(tmp_path):
    with _connection(tmp_path) as conn:
        assert conn.transport_cls == "filesystem"
        assert isinstance(conn.transport, FilesystemTransport)


def test_a_consumer_racing_the_producer_reads_every_message_whole(tmp_path):
    sent = 40
    big = "x" * 1_000_000  # kombu's own transport exposes the empty file while it writes a large body

    def produce() -> None:
        with _connection(tmp_path) as conn:
            queue = conn.SimpleQueue("race")
            for index in range(sent):
                queue.put({"index": index, "body": big})
            queue.close()

    producer = threading.Thread(target=produce)
    received: list[int] = []
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("race")
        producer.start()
        while len(received) < sent:
            message = queue.get(timeout=30)  # a partial file would raise a decode error here
            assert message.payload["body"] == big
            received.append(message.payload["index"])
            message.ack()
        queue.close()
    producer.join()
    assert sorted(received) == list(range(sent))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith((".msg", ".part"))]
