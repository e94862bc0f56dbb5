"""The writer process's pipe on its own: whole messages in order, many senders, timeouts, either end gone."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from openclaw_trace.pipeline.channel import PIPE_SIZE, ChannelClosed, ChannelReader, ChannelWriter, pipe


@dataclasses.dataclass
class Ends:
    read_fd: int
    write_fd: int
    reader: ChannelReader
    writer: ChannelWriter


@pytest.fixture
def ends() -> Iterator[Ends]:
    read_fd, write_fd = pipe()
    made = Ends(read_fd, write_fd, ChannelReader(read_fd), ChannelWriter(write_fd))
    yield made
    made.writer.close()
    made.reader.close()


def receive_all(reader: ChannelReader, count: int) -> list[Any]:
    received: list[Any] = []
    while len(received) < count:
        received += reader.receive(timeout_s=10)
    return received


def fill(write_fd: int) -> None:
    """Fill the pipe to the brim from outside the channel."""
    os.set_blocking(write_fd, False)
    try:
        while True:
            os.write(write_fd, b"\0" * 4096)
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(write_fd, True)


def test_the_pipe_is_not_inherited_by_programs_the_daemon_runs() -> None:
    read_fd, write_fd = pipe()
    try:
        assert not os.get_inheritable(read_fd)
        assert not os.get_inheritable(write_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_what_the_pipe_holds_comes_out_whole_in_one_receive(ends: Ends) -> None:
    messages = [("batches", [(1, "trace", ("p", "m"))]), ("call", 7), ("stopping",), {"nested": [1.5, None, b"\x00"]}]
    for message in messages:
        ends.writer.send(message)
    assert ends.reader.receive() == messages  # one read took them all


def test_a_message_split_across_reads_waits_for_its_rest(ends: Ends) -> None:
    ends.writer.send("first")
    whole = os.read(ends.read_fd, 1 << 16)  # the bytes of one message, taken from under the reader
    os.write(ends.write_fd, whole[:7])  # its header and a part of its body
    with pytest.raises(TimeoutError):
        ends.reader.receive(timeout_s=0.01)  # a part is not a message
    os.write(ends.write_fd, whole[7:])
    assert ends.reader.receive(timeout_s=10) == ["first"]


def test_a_message_larger_than_the_pipe_and_a_read_arrives_whole(ends: Ends) -> None:
    big = ("batches", "x" * (2 * PIPE_SIZE + 12345))
    sender = threading.Thread(target=lambda: [ends.writer.send(big), ends.writer.send("after")])
    sender.start()
    try:
        assert receive_all(ends.reader, 2) == [big, "after"]
    finally:
        sender.join(10)


def test_many_senders_never_interleave_their_messages(ends: Ends) -> None:
    senders, each = 4, 40

    def send(sender: int) -> None:
        for n in range(each):
            ends.writer.send((sender, n, "y" * (n * 997)))  # most past PIPE_BUF: written in parts

    threads = [threading.Thread(target=send, args=(sender,)) for sender in range(senders)]
    for thread in threads:
        thread.start()
    received = receive_all(ends.reader, senders * each)
    for thread in threads:
        thread.join(10)
    assert len(received) == senders * each
    for sender in range(senders):
        mine = [(n, text) for who, n, text in received if who == sender]
        assert mine == [(n, "y" * (n * 997)) for n in range(each)]  # whole, and in the order sent


def test_receive_with_a_timeout_says_when_nothing_came(ends: Ends) -> None:
    with pytest.raises(TimeoutError):
        ends.reader.receive(timeout_s=0.01)
    ends.writer.send("late")
    assert ends.reader.receive(timeout_s=10) == ["late"]


def drain(read_fd: int) -> None:
    """Empty the pipe from outside the channel."""
    os.set_blocking(read_fd, False)
    try:
        while os.read(read_fd, 1 << 20):
            pass
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(read_fd, True)


def test_a_send_with_a_timeout_gives_up_on_a_full_pipe_and_sends_nothing(ends: Ends) -> None:
    fill(ends.write_fd)
    with pytest.raises(TimeoutError, match="stayed full"):
        ends.writer.send("small", timeout_s=0.01)
    drain(ends.read_fd)
    ends.writer.send("next")  # nothing of "small" went in: the reader reads the next message whole
    assert ends.reader.receive(timeout_s=10) == ["next"]


def test_the_reader_gets_what_was_sent_then_hears_the_writer_is_gone(ends: Ends) -> None:
    ends.writer.send("last words")
    os.write(ends.write_fd, b"\0\0\0\x09half")  # a message cut short by the sender's death
    ends.writer.close()
    assert ends.reader.receive(timeout_s=10) == ["last words"]
    with pytest.raises(ChannelClosed, match="closed the pipe"):
        ends.reader.receive(timeout_s=10)


def test_a_send_to_a_reader_that_is_gone_is_said_so(ends: Ends) -> None:
    ends.reader.close()
    with pytest.raises(ChannelClosed):
        ends.writer.send("anyone there?")


def test_an_end_closed_here_refuses_its_work_and_closes_once(ends: Ends) -> None:
    ends.writer.close()
    ends.writer.close()
    with pytest.raises(ChannelClosed, match="this end was closed"):
        ends.writer.send("x")
    ends.reader.close()
    ends.reader.close()
    with pytest.raises(ChannelClosed, match="this end was closed"):
        ends.reader.receive(timeout_s=0.01)
