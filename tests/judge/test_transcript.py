"""The transcript of an interactive case: order, merging, and each direction's bound."""

from __future__ import annotations

from onpyrunner.judge.transcript import TranscriptRecorder


def test_both_directions_in_relay_order_with_consecutive_chunks_merged() -> None:
    recorder = TranscriptRecorder(cap_bytes=1024)
    recorder.record("interactor", b"1 100\n")
    recorder.record("program", b"? 5")
    recorder.record("program", b"0\n")
    recorder.record("interactor", b">\n")
    transcript = recorder.transcript()
    assert [(m.side, m.data) for m in transcript.messages] == [
        ("interactor", "1 100\n"),
        ("program", "? 50\n"),
        ("interactor", ">\n"),
    ]
    assert not transcript.truncated


def test_each_direction_is_cut_at_its_cap_and_says_so() -> None:
    recorder = TranscriptRecorder(cap_bytes=10)
    recorder.record("program", b"x" * 8)
    recorder.record("interactor", b"y" * 4)
    recorder.record("program", b"z" * 100)  # only 2 more bytes of the program's fit
    recorder.record("program", b"w" * 100)
    recorder.record("interactor", b"v" * 3)  # the interactor's direction still has room
    transcript = recorder.transcript()
    assert [(m.side, m.data) for m in transcript.messages] == [
        ("program", "x" * 8),
        ("interactor", "y" * 4),
        ("program", "zz"),
        ("interactor", "vvv"),
    ]
    assert transcript.truncated
    kept = sum(len(m.data) for m in transcript.messages if m.side == "program")
    assert kept == 10


def test_a_zero_cap_keeps_nothing() -> None:
    recorder = TranscriptRecorder(cap_bytes=0)
    recorder.record("program", b"hello\n")
    transcript = recorder.transcript()
    assert transcript.messages == []
    assert transcript.truncated


def test_bytes_that_are_not_utf8_are_replaced() -> None:
    recorder = TranscriptRecorder(cap_bytes=100)
    recorder.record("program", b"\xff\n")
    assert recorder.transcript().messages[0].data == "\ufffd\n"
