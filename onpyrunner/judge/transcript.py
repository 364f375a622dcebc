"""The bounded transcript of an interactive case: what each side wrote, in relay order.

The host relays every chunk between the program and the interactor, so it sees both
directions in the order it passed them on. Each direction keeps at most `cap_bytes`
(setting interactor_transcript_kb); past that its chunks are dropped and the transcript
says it was truncated. Consecutive chunks of one side are merged into one message.
"""

from __future__ import annotations

from typing import Literal

from onpyrunner.models import Transcript, TranscriptMessage

Side = Literal["program", "interactor"]


class TranscriptRecorder:
    """Collects both directions of one exchange, each up to cap_bytes."""

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self._kept: dict[Side, int] = {"program": 0, "interactor": 0}
        self._chunks: list[tuple[Side, bytearray]] = []
        self.truncated = False

    def record(self, side: Side, data: bytes) -> None:
        """A chunk one side wrote (kept up to its direction's cap)."""
        room = self.cap_bytes - self._kept[side]
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if not data:
            return
        self._kept[side] += len(data)
        if self._chunks and self._chunks[-1][0] == side:
            self._chunks[-1][1].extend(data)
        else:
            self._chunks.append((side, bytearray(data)))

    def transcript(self) -> Transcript:
        """What was kept, as text (bytes that are not UTF-8 are replaced)."""
        return Transcript(
            messages=[
                TranscriptMessage(side=side, data=data.decode(errors="replace"))
                for side, data in self._chunks
            ],
            truncated=self.truncated,
        )
