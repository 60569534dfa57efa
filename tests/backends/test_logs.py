"""An app's log: every byte to the file, known noise folded in what people read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from spacerunner.backends.logs import LOOP_NOISE_NOTE, RELOAD_PORT_NOTE, AppLog

LOOP_NOISE = """Exception ignored in: <function BaseEventLoop.__del__ at 0x7fe9fa843240>
Traceback (most recent call last):
  File "/usr/lib/python3.11/asyncio/base_events.py", line 694, in __del__
    self.close()
  File "/usr/lib/python3.11/asyncio/selector_events.py", line 98, in _close_self_pipe
    self._remove_reader(self._ssock.fileno())
  File "/usr/lib/python3.11/selectors.py", line 42, in _fileobj_to_fd
    raise ValueError("Invalid file descriptor: {}".format(fd))
ValueError: Invalid file descriptor: -1
"""


def test_gradios_event_loop_noise_is_one_line_and_kept_in_the_file(tmp_path: Path) -> None:
    log = AppLog(tmp_path / "app.log")
    log.feed(b"* Running on local URL:  http://127.0.0.1:7860\n")
    log.feed((LOOP_NOISE * 2).encode())
    log.feed(b"ERROR:    [Errno 98] error while attempting to bind on address ")
    log.feed(b"('0.0.0.0', 7887): address already in use\n")
    log.feed(b"the app goes on\n")
    assert log.tail() == [
        "* Running on local URL:  http://127.0.0.1:7860",
        LOOP_NOISE_NOTE,
        LOOP_NOISE_NOTE,
        RELOAD_PORT_NOTE,
        "the app goes on",
    ]
    log.close()
    kept = (tmp_path / "app.log").read_text()
    assert kept.count("Invalid file descriptor: -1") == 2 and "7887" in kept


def test_noise_cut_into_by_another_threads_output_is_still_folded(tmp_path: Path) -> None:
    """Gradio prints from a thread while the collector prints the traceback (one pipe): seen
    in CI, a line of it ended up inside a traceback line."""
    lines = LOOP_NOISE.splitlines()
    lines[3] = "    * To create a public link, set `share=True` in `launch()`." + lines[3].strip()
    log = AppLog(tmp_path / "app.log")
    log.feed(("\n".join(lines) + "\nafter\n").encode())
    assert log.tail() == [LOOP_NOISE_NOTE, "after"]


def test_other_tracebacks_are_shown_whole(tmp_path: Path) -> None:
    log = AppLog(tmp_path / "app.log")
    other = LOOP_NOISE.replace("ValueError: Invalid file descriptor: -1", "KeyError: 'model'")
    log.feed(other.encode())
    log.feed(("\n".join(f"line {n}" for n in range(40)) + "\n").encode())
    # a block that does not end as the known one does is shown as it came, nothing lost
    assert log.tail(100) == [*other.splitlines(), *(f"line {n}" for n in range(40))][-100:]
    # and what is still held when the log ends is shown, too
    log.feed(b"Exception ignored in: <function BaseEventLoop.__del__ at 0x2>\nTraceback (most\n")
    assert log.tail(1) == ["line 39"]  # (not yet: it may be noise)
    log.close()
    assert log.tail(1) == ["Traceback (most"]


def test_followers_see_the_folded_log(tmp_path: Path) -> None:
    async def main() -> list[str]:
        log = AppLog(tmp_path / "app.log")
        seen: list[str] = []

        async def follow() -> None:
            async for line in log.follow():
                seen.append(line)

        task = asyncio.create_task(follow())
        await asyncio.sleep(0)
        log.feed(("before\n" + LOOP_NOISE + "after\n").encode())
        log.close()
        await asyncio.wait_for(task, 5)
        return seen

    assert asyncio.run(main()) == ["before", LOOP_NOISE_NOTE, "after"]
