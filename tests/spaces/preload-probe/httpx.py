"""The Space's own module named like one its preloader imported: the app must get this one."""

ORIGIN = "the Space's own httpx.py"
