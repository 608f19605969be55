#!/usr/bin/env bash
# RTP relay benchmark: loopstart (calls set up through it with SIPp, media anchored)
# vs rtpengine (userspace forwarding, calls set up with its ng protocol), side by
# side in one run, the same generator (bench/relay/gen.rs) playing both ends of
# every call: 50 packets/s each way per call (172-byte RTP, PCMU 20 ms), phases
# spread over the 20 ms, payload stamped with the send time.
#
# Per server and round: start it fresh, read its RSS idle, set CALLS calls up,
# read its RSS again, then for each LEVEL (a prefix of the calls): WARMUP s of
# streaming, SECS s measured (loss, one-way latency p50/p99 through the relay,
# the relay's CPU from /proc/PID/stat over the window divided by the packets it
# relayed, its RSS), then the next level. Servers take turns, order alternating
# per round.
#
# Usage: bench/relay/run.sh            (see bench/README.md)
# Env:   CALLS=2000 LEVELS=250,500,1000,1500,2000 WARMUP=3 SECS=10 ROUNDS=2
#        SETUP_RATE=200 RTPENGINE_THREADS=(rtpengine's default: one per core)
#        LOOPSTART_BIN=path GEN_BIN=path ONLY=loopstart|rtpengine KEEP_WORK=1
# Everything listens on 127.0.0.1 only; every process it starts is stopped by
# PID on exit. Prints a Markdown block for bench/RESULTS.md on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CALLS=${CALLS:-2000}
LEVELS=${LEVELS:-250,500,1000,1500,2000}
WARMUP=${WARMUP:-3}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-2}
SETUP_RATE=${SETUP_RATE:-200}
ONLY=${ONLY:-}
UAC="$ROOT/bench/calls/uac_noauth.xml"
UAS="$ROOT/bench/calls/uas_answer.xml"
REG="$ROOT/tests/sipp/register.xml"
CALLEE=1002
CALLEE_PW="bench-callee-$$-pw"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"
command -v sipp >/dev/null || die "sipp missing (scripts/install-test-deps.sh)"
RTPENGINE=$(command -v rtpengine || echo /usr/bin/rtpengine)
[ "$ONLY" = loopstart ] || [ -x "$RTPENGINE" ] || die "rtpengine missing (apt-get install rtpengine-daemon)"
ulimit -n 65536 2>/dev/null || true

WORK=$(mktemp -d /tmp/loopstart-bench-relay-XXXXXX)
PIDS=()
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && stop_pid "$pid"; done
    if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT INT TERM


# --- binaries -----------------------------------------------------------------------
if [ -n "${LOOPSTART_BIN:-}" ]; then LS_BIN=$LOOPSTART_BIN; else
    log "cargo build --release --bin loopstart"
    (cd "$ROOT" && cargo build --release --bin loopstart >&2)
    LS_BIN="$TARGET/release/loopstart"
fi
if [ -n "${GEN_BIN:-}" ]; then GEN=$GEN_BIN; else
    log "cargo build --release --example relay_gen"
    (cd "$ROOT" && cargo build --release --example relay_gen >&2)
    GEN="$TARGET/release/examples/relay_gen"
fi
LS_VERSION=$("$LS_BIN" --version 2>/dev/null | head -1 || echo loopstart)
RTPE_VERSION=$("$RTPENGINE" --version 2>&1 | head -1 || echo rtpengine)

# --- loopstart config: bench/lib.sh's write_call_conf, plus a long RTP timeout -----
printf 'SEQUENTIAL\n%s;[authentication username=%s password=%s];\n' "$CALLEE" "$CALLEE" "$CALLEE_PW" > "$WORK/callee.csv"

N_LEVELS=$(echo "$LEVELS" | tr ',' '\n' | wc -l)
# How long each call must stay up: setup, then every level, with margin.
HOLD_S=$(python3 -c "import math; print(math.ceil($CALLS / $SETUP_RATE + 3 + $N_LEVELS * ($WARMUP + $SECS + 1.5) + 30))")

# run_loopstart ROUND -> appends JSON lines to $WORK/results.jsonl
run_loopstart() {
    local r=$1 dir="$WORK/loopstart-$1" sip esl uas_port pid uas uac
    sip=$(free_port); esl=$(free_port); uas_port=$(free_port)
    write_call_conf "$dir/conf" "$sip" "$esl" "bench-$$-$RANDOM" "$CALLEE" "$CALLEE_PW" 65536 \
        '    <param name="rtp-timeout-sec" value="600"/>'; mkdir -p "$dir/data" "$dir/uas" "$dir/uac"
    NO_COLOR=1 "$LS_BIN" run --conf "$dir/conf" --data "$dir/data" 2> "$dir/loopstart.log" &
    pid=$!; PIDS+=("$pid")
    for _ in $(seq 150); do
        grep -q 'loopstart ready' "$dir/loopstart.log" && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/loopstart.log" >&2; die "loopstart exited"; }
        sleep 0.1
    done
    (cd "$dir/uas" && sipp "127.0.0.1:$sip" -sf "$REG" -inf "$WORK/callee.csv" -key expires 3600 -m 1 \
        -i 127.0.0.1 -p "$uas_port" -t u1 -nostdin -timeout 10s > reg.out 2>&1) || die "callee registration failed"
    (cd "$dir/uas" && exec sipp "127.0.0.1:$sip" -sf "$UAS" -i 127.0.0.1 -p "$uas_port" -t u1 -nostdin \
        -timeout $((HOLD_S + 60))s -buff_size 4194304 -trace_msg -message_file msgs.log \
        -trace_err -error_file errors.log > sipp.out 2>&1) &
    uas=$!; PIDS+=("$uas")
    sleep 1
    local idle; idle=$(rss_kb "$pid" 0)
    log "loopstart round $r: RSS idle $idle kB; setting up $CALLS calls at $SETUP_RATE/s, held ${HOLD_S}s"
    (cd "$dir/uac" && exec sipp "127.0.0.1:$sip" -sf "$UAC" -key dest "$CALLEE" -m "$CALLS" -l "$CALLS" \
        -r "$SETUP_RATE" -d $((HOLD_S * 1000)) -i 127.0.0.1 -p "$(free_port)" -t u1 -nostdin \
        -timeout $((HOLD_S + 60))s -buff_size 4194304 -trace_msg -message_file msgs.log \
        -trace_err -error_file errors.log > sipp.out 2>&1) &
    uac=$!; PIDS+=("$uac")
    local want=$((2 * CALLS)) have=0
    for _ in $(seq $((CALLS / SETUP_RATE * 10 + 300))); do
        have=$("$LS_BIN" api --conf "$dir/conf" "show channels count" 2>/dev/null | grep -o '^[0-9]*' | tail -1 || echo 0)
        [ "${have:-0}" -ge "$want" ] && break
        sleep 0.2
    done
    [ "${have:-0}" -ge "$want" ] || { tail -20 "$dir/loopstart.log" >&2; die "only $have of $want channels up"; }
    sleep 2
    local setup_rss; setup_rss=$(rss_kb "$pid" 0)
    python3 "$HERE/ports_from_traces.py" "$dir/uac/msgs.log" "$dir/uas/msgs.log" > "$dir/ports.txt"
    log "loopstart round $r: $have channels, RSS $setup_rss kB; streaming"
    ${GEN_WRAP:-} "$GEN" --ports "$dir/ports.txt" --levels "$LEVELS" --warmup "$WARMUP" --secs "$SECS" --pid "$pid" \
        2> "$dir/gen.err" | while read -r line; do
            echo "{\"server\":\"loopstart\",\"round\":$r,\"rss_idle_kb\":$idle,\"rss_setup_kb\":$setup_rss,${line#\{}"
        done >> "$WORK/results.jsonl"
    cat "$dir/gen.err" >&2
    LS_WARN=$(grep -cE ' (WARN|ERROR) ' "$dir/loopstart.log" || true)
    [ "$LS_WARN" = 0 ] || { log "loopstart log WARN/ERROR lines: $LS_WARN, first:"; grep -E ' (WARN|ERROR) ' "$dir/loopstart.log" | head -5 >&2; }
    stop_pid "$uac"; stop_pid "$uas"; stop_pid "$pid"
}

run_rtpengine() {
    local r=$1 dir="$WORK/rtpengine-$1" ng pid
    ng=$(free_port); mkdir -p "$dir"
    cat > "$dir/rtpengine.conf" <<X
[rtpengine]
table = -1
interface = 127.0.0.1
listen-ng = 127.0.0.1:$ng
port-min = 20000
port-max = 60000
timeout = 600
log-level = 4
foreground = true
log-stderr = true
${RTPENGINE_THREADS:+num-threads = $RTPENGINE_THREADS}
X
    "$RTPENGINE" --config-file="$dir/rtpengine.conf" --pidfile="$dir/rtpengine.pid" > "$dir/rtpengine.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    for _ in $(seq 100); do
        ss -lnu 2>/dev/null | grep -q "127.0.0.1:$ng " && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/rtpengine.log" >&2; die "rtpengine exited"; }
        sleep 0.1
    done
    sleep 1
    local idle; idle=$(rss_kb "$pid" 0)
    log "rtpengine round $r: RSS idle $idle kB; setting up $CALLS calls over ng, streaming"
    "$GEN" --rtpengine "127.0.0.1:$ng" --calls "$CALLS" --levels "$LEVELS" --warmup "$WARMUP" --secs "$SECS" \
        --pid "$pid" 2> "$dir/gen.err" | while read -r line; do
            echo "{\"server\":\"rtpengine\",\"round\":$r,\"rss_idle_kb\":$idle,${line#\{}"
        done >> "$WORK/results.jsonl"
    cat "$dir/gen.err" >&2
    stop_pid "$pid"
}

SERVERS=()
[ "$ONLY" != rtpengine ] && SERVERS+=(loopstart)
[ "$ONLY" != loopstart ] && SERVERS+=(rtpengine)
for r in $(seq 1 "$ROUNDS"); do
    order=("${SERVERS[@]}")
    if [ $((r % 2)) = 0 ] && [ "${#SERVERS[@]}" = 2 ]; then order=("${SERVERS[1]}" "${SERVERS[0]}"); fi
    for s in "${order[@]}"; do "run_$s" "$r"; done
done

# --- report -------------------------------------------------------------------------
python3 - "$WORK/results.jsonl" "$CALLS" "$LEVELS" "$WARMUP" "$SECS" "$ROUNDS" "$SETUP_RATE" \
    "$LS_VERSION" "$RTPE_VERSION" "${RTPENGINE_THREADS:-default}" "$(nproc)" "$(uname -r)" "${LOOPSTART_BIN:-}" <<'PY'
import json, sys, datetime
path, calls, levels, warmup, secs, rounds, setup_rate, lsv, rtv, threads, cores, kernel, lsbin = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
day = datetime.datetime.utcnow().strftime("%Y-%m-%d")
print(f"\n### RTP relay ({day}, {cores} cores, {kernel})\n")
env = f"LOOPSTART_BIN={lsbin} " if lsbin else ""
print(f"Command: `{env}CALLS={calls} LEVELS={levels} WARMUP={warmup} SECS={secs} ROUNDS={rounds} SETUP_RATE={setup_rate} RTPENGINE_THREADS={threads} bench/relay/run.sh`")
print(f"loopstart: {lsv}, calls set up by SIPp (bench/calls scenarios, auth-calls=false, `bridge user/1002`), legs latched by the generator. rtpengine: {rtv}, userspace (table=-1), calls set up over ng (offer/answer), worker threads: {threads}.")
print("Generator: bench/relay/gen.rs (`cargo build --release --example relay_gen`), 50 pkt/s each way per call, 172-byte RTP (PCMU 20 ms), send time in the payload; latency is one-way generator → relay → generator on loopback (includes the generator's own scheduling). CPU: the relay's utime+stime over the window / packets it delivered. RSS/call: (RSS with the calls set up, before media − RSS idle) / calls; and at the largest level, with media.\n")
# A level the generator could not pace (a stream more than LAG_MS late) measured the
# generator, not the relay: flagged, and left out of the pass/CPU summaries.
lag_ms = float(__import__("os").environ.get("LAG_MS", "20"))
for x in rows:
    x["gen_ok"] = x.get("gen_max_lag_us", 0) <= lag_ms * 1000
print("| server | round | calls | packets sent | loss % | p50 µs | p99 µs | p99.9 µs | max µs | relay CPU s | CPU µs/pkt | RSS kB | generator CPU s | generator lag max ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for x in rows:
    flag = "" if x["gen_ok"] else " (generator behind)"
    print(f"| {x['server']} | {x['round']} | {x['calls']} | {x['sent']} | {x['loss_pct']:.3f} | {x['lat_p50_us']} | {x['lat_p99_us']} | {x['lat_p999_us']} | {x['lat_max_us']} | {x['relay_cpu_s']} | {x['relay_cpu_us_per_pkt']} | {x['relay_rss_kb']} | {x.get('gen_cpu_s', '-')} | {x.get('gen_max_lag_us', 0) / 1000:.0f}{flag} |")
print()
print(f"Levels where the generator ran more than {lag_ms:g} ms behind schedule are marked and left out below: there the generator, not the relay, was the limit.\n")
best, cpu, mem = {}, {}, {}
for s in ("loopstart", "rtpengine"):
    mine = [x for x in rows if x["server"] == s]
    if not mine:
        continue
    # highest level where every round had < 0.1 % loss
    ok = {}
    for x in mine:
        ok.setdefault(x["calls"], []).append(x["loss_pct"] < 0.1 and x["gen_ok"])
    passed = [c for c, v in ok.items() if all(v)]
    best[s] = max(passed) if passed else 0
    per = {}
    for x in mine:
        if x["gen_ok"]:
            per.setdefault(x["calls"], []).append(x["relay_cpu_us_per_pkt"])
    cpu[s] = per
    n = int(calls)
    setup = [(x.get("rss_setup_kb", x.get("rss_after_setup_kb", 0)) - x["rss_idle_kb"]) * 1024 / n / 1024 for x in mine if x["calls"] == max(r["calls"] for r in mine)]
    media = [(x["relay_rss_kb"] - x["rss_idle_kb"]) * 1024 / x["calls"] / 1024 for x in mine if x["calls"] == max(r["calls"] for r in mine)]
    mem[s] = (setup, media)
    print(f"- {s}: highest level with < 0.1 % loss in every round: **{best[s]} calls**; RSS per call set up (before media): {', '.join(f'{v:.1f}' for v in setup)} KiB; at the largest level with media: {', '.join(f'{v:.1f}' for v in media)} KiB")
if len(best) == 2:
    r = best["loopstart"] / best["rtpengine"] if best["rtpengine"] else float("inf")
    print(f"- concurrent calls at < 0.1 % loss, loopstart / rtpengine: **{r:.2f}** (bar ≥ 1.5)")
    for lvl in sorted(set(cpu["loopstart"]) & set(cpu["rtpengine"])):
        med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2]) / 2
        a = med(cpu["loopstart"][lvl]); b = med(cpu["rtpengine"][lvl])
        print(f"- {lvl} calls: CPU per packet (median of rounds) loopstart {a:.2f} µs, rtpengine {b:.2f} µs, ratio **{a / b if b else float('inf'):.2f}** (bar ≤ 0.5)")
PY
