#!/usr/bin/env python3
"""Drive loopstart's event socket with a real ESL client library (greenswitch).

usage: esl_greenswitch.py HOST PORT PASSWORD EXPECTED [COMMAND]

Connects and authenticates with greenswitch.InboundESL, runs `api COMMAND` (default
`status`), prints the body, and exits 0 when EXPECTED is in it (1 otherwise). It also
checks that a wrong password is refused: exit 2 if a wrong password is accepted.
"""
import sys

import greenswitch


def main() -> int:
    host, port, password, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    command = sys.argv[5] if len(sys.argv) > 5 else "status"

    esl = greenswitch.InboundESL(host=host, port=port, password=password, timeout=5)
    esl.connect()
    result = esl.send("api " + command)
    body = result.data or ""
    print(body)
    esl.stop()

    wrong = greenswitch.InboundESL(host=host, port=port, password=password + "-wrong", timeout=5)
    try:
        wrong.connect()
    except Exception as e:  # greenswitch raises ValueError('Invalid password.')
        print("wrong password refused:", e)
    else:
        print("a wrong password was accepted", file=sys.stderr)
        return 2

    return 0 if expected in body else 1


if __name__ == "__main__":
    sys.exit(main())
