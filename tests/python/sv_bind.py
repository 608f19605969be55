"""Runs a SIPVicious tool from one source address: sv_bind.py ADDRESS TOOL [ARGS...].

sipvicious 0.3.3 (Debian 12) documents `-b BINDINGIP`, but the main() of svwar and
svcrack never hands it to the scanner, whose socket then binds to '' and leaves from
127.0.0.1: the box itself, which the guard whitelists. This launcher makes every socket
the tool binds to the wildcard address bind to ADDRESS instead, then runs the installed
tool unchanged, so each "attacker" in the tests is a loopback host of its own.
"""

import os
import runpy
import shutil
import socket
import sys


def main() -> None:
    address, tool, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"{tool} not found: install Debian package sipvicious")
    wildcard_bind = socket.socket.bind

    def bind(self, addr):
        if isinstance(addr, tuple) and addr[0] in ("", "0.0.0.0"):
            addr = (address,) + tuple(addr[1:])
        return wildcard_bind(self, addr)

    socket.socket.bind = bind
    # As if run directly: the tool's folder (its package and metadata are there) first.
    sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    sys.argv = [tool] + args
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
