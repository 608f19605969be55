#!/usr/bin/env python3
"""Pairs of loopstart RTP ports for bench/relay/run.sh, from SIPp message traces.

argv[1]: the caller's (uac) -trace_msg log: the 200 OK to each INVITE carries the
         port loopstart opened for the A leg (where the caller sends RTP).
argv[2]: the callee's (uas) -trace_msg log: each INVITE from loopstart carries the
         port of the B leg (where the callee sends RTP).
Prints "A_PORT B_PORT" lines. The pairing of A and B ports across calls is by
order only: the generator primes every port first so each leg latches, and
every stream carries its own id, so a mispairing changes nothing measured.
"""
import re
import sys


def messages(path):
    text = open(path, errors="replace").read()
    for chunk in re.split(r"\n-{10,}[^\n]*\n", text):
        if "message received" not in chunk:
            continue
        yield chunk


def ports(path, want):
    seen = {}
    for m in messages(path):
        body = m.split("\n", 2)[-1].lstrip()
        first = body.split("\n", 1)[0]
        if not want(first, body):
            continue
        cid = re.search(r"^Call-ID:\s*(\S+)", body, re.M | re.I)
        port = re.search(r"^m=audio (\d+)", body, re.M)
        if cid and port and cid.group(1) not in seen:
            seen[cid.group(1)] = int(port.group(1))
    return list(seen.values())


a = ports(sys.argv[1], lambda first, body: first.startswith("SIP/2.0 200")
          and re.search(r"^CSeq:\s*\d+ INVITE", body, re.M | re.I))
b = ports(sys.argv[2], lambda first, body: first.startswith("INVITE "))
n = min(len(a), len(b))
print(f"[ports] {len(a)} A-leg ports, {len(b)} B-leg ports", file=sys.stderr)
for pa, pb in zip(a[:n], b[:n]):
    print(pa, pb)
