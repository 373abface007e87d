"""A umockdev testbed driven line by line from a test, with one child in the fake world.

Run as `umockdev-wrapper .venv/bin/python controller.py` (the wrapper preloads umockdev so
/sys, /dev and udev's netlink are the testbed's). It drives libumockdev through ctypes, so
no PyGObject is needed in the venv. Commands arrive as JSON lines on stdin:

    {"add": "P: /devices/...\\nE: SUBSYSTEM=block\\n..."}   add devices, emit "add" for each
    {"remove": "/sys/devices/..."}                         emit "remove", then delete it
    {"change": ["/sys/devices/...", {"A:size": "0", "E:ID_FS_UUID": "x"}]}
                                                           set attributes (A:) and properties
                                                           (E:), then emit "change"
    {"spawn": ["python", "-m", ...]}                      start the child inside the testbed

Each command is answered with `{"ok": true}` or `{"error": "..."}`; every stdout line of the
child is forwarded as `{"child": "..."}`. End of stdin stops the child and the controller.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading

_lock = threading.Lock()


def send(doc: dict[str, object]) -> None:
    with _lock:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()


class Testbed:
    """The few libumockdev calls the tests need."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libumockdev.so.0")
        lib.umockdev_testbed_new.restype = ctypes.c_void_p
        lib.umockdev_testbed_get_root_dir.argtypes = [ctypes.c_void_p]
        lib.umockdev_testbed_get_root_dir.restype = ctypes.c_char_p
        lib.umockdev_testbed_add_from_string.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        lib.umockdev_testbed_add_from_string.restype = ctypes.c_bool
        lib.umockdev_testbed_uevent.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.umockdev_testbed_remove_device.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        for name in ("umockdev_testbed_set_attribute", "umockdev_testbed_set_property"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, *[ctypes.c_char_p] * 3]
        self._lib = lib
        self._tb = lib.umockdev_testbed_new()
        self.root = lib.umockdev_testbed_get_root_dir(self._tb).decode()

    def add(self, text: str) -> None:
        error = ctypes.c_void_p()
        if not self._lib.umockdev_testbed_add_from_string(
            self._tb, text.encode(), ctypes.byref(error)
        ):
            raise ValueError("umockdev rejected the device description")

    def change(self, sys_path: str, values: dict[str, str]) -> None:
        for key, value in values.items():
            kind, _, name = key.partition(":")
            call = {"A": self._lib.umockdev_testbed_set_attribute,
                    "E": self._lib.umockdev_testbed_set_property}[kind]
            call(self._tb, sys_path.encode(), name.encode(), value.encode())
        self._lib.umockdev_testbed_uevent(self._tb, sys_path.encode(), b"change")

    def remove(self, sys_path: str) -> None:
        self._lib.umockdev_testbed_uevent(self._tb, sys_path.encode(), b"remove")
        self._lib.umockdev_testbed_remove_device(self._tb, sys_path.encode())


def main() -> int:
    if "umockdev" not in os.environ.get("LD_PRELOAD", ""):
        print("run me under umockdev-wrapper", file=sys.stderr)
        return 2
    testbed = Testbed()
    child: subprocess.Popen[str] | None = None

    def forward(stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            send({"child": line.rstrip("\n")})
        send({"child_exit": child.wait() if child else None})

    for raw in sys.stdin:
        command = json.loads(raw)
        try:
            if "add" in command:
                testbed.add(command["add"])
            elif "change" in command:
                testbed.change(*command["change"])
            elif "remove" in command:
                testbed.remove(command["remove"])
            elif "spawn" in command:
                # UMOCKDEV_DIR lives at C level only: hand it to the child explicitly.
                env = {**os.environ, "UMOCKDEV_DIR": testbed.root}
                child = subprocess.Popen(
                    command["spawn"], stdout=subprocess.PIPE, text=True, env=env
                )
                threading.Thread(target=forward, args=(child.stdout,), daemon=True).start()
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as exc:
            send({"error": f"{type(exc).__name__}: {exc}"})
            continue
        send({"ok": True})
    if child is not None and child.poll() is None:
        child.terminate()
        child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
