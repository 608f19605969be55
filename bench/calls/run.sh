#!/usr/bin/env bash
# Call-setup-rate benchmark: loopstart (B2BUA, RTP anchored) vs Kamailio
# (stateful proxy, record-routed, no media), side by side in one run, driven by
# the same SIPp scenarios: uac INVITE (no auth) -> server -> registered SIPp uas
# (200 with SDP) -> ACK -> HOLD_MS of call -> BYE -> 200.
#
# The offered rate climbs a ladder (RATES); at each step each server takes
# STEP_SECS x rate calls, the two taking turns (order alternating per step).
# A server passes a step with no failed call and no SIPp timeout; its ladder
# stops at its first failed step. Result: the highest passed rate per server
# and their ratio.
#
# Usage: bench/calls/run.sh            (see bench/README.md)
# Env:   RATES="500 1000 2000 3000 4000 5000 6000" STEP_SECS=5 HOLD_MS=100
#        KAM_CHILDREN=2 KAM_SHM_MB=2048 LOOPSTART_BIN=path (skip the build)
#        MAX_TRANSACTIONS=65536 ONLY=loopstart|kamailio KEEP_WORK=1
#        SERVER_CPUS=1 SIPP_CPUS=0 (taskset pinning, same for both servers)
# Everything listens on 127.0.0.1 only; every process it starts is stopped by
# PID on exit. Prints a Markdown block for bench/RESULTS.md on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RATES=${RATES:-"500 1000 2000 3000 4000 5000 6000"}
STEP_SECS=${STEP_SECS:-5}
HOLD_MS=${HOLD_MS:-100}
KAM_CHILDREN=${KAM_CHILDREN:-2}
KAM_SHM_MB=${KAM_SHM_MB:-2048}
MAX_TRANSACTIONS=${MAX_TRANSACTIONS:-65536}
ONLY=${ONLY:-}
SERVER_PIN=""; SIPP_PIN=""
[ -n "${SERVER_CPUS:-}" ] && SERVER_PIN="taskset -c $SERVER_CPUS"
[ -n "${SIPP_CPUS:-}" ] && SIPP_PIN="taskset -c $SIPP_CPUS"
UAC="$HERE/uac_noauth.xml"
UAS="$HERE/uas_answer.xml"
REG="$ROOT/tests/sipp/register.xml"
CALLEE=1002
CALLEE_PW="bench-callee-$$-pw"
SIPP_BUF=4194304

# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"

command -v sipp >/dev/null || die "sipp missing (scripts/install-test-deps.sh)"
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
[ "$ONLY" = loopstart ] || [ -x "$KAMAILIO" ] || die "kamailio missing"

ulimit -n 65536 2>/dev/null || true   # SIPp wants max_socket + calls < open files
WORK=$(mktemp -d /tmp/loopstart-bench-calls-XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT INT TERM

# --- configs ----------------------------------------------------------------------
mkdir -p "$WORK/data" "$WORK/kamdb"
printf 'SEQUENTIAL\n%s;[authentication username=%s password=%s];\n' "$CALLEE" "$CALLEE" "$CALLEE_PW" > "$WORK/callee.csv"
printf 'table_name(string) table_version(int)\nsubscriber:7\n' > "$WORK/kamdb/version"
printf 'id(int,auto) username(string) domain(string,null) password(string) ha1(string,null) ha1b(string,null)\n1:%s:127.0.0.1:%s:::\n' \
    "$CALLEE" "$CALLEE_PW" > "$WORK/kamdb/subscriber"

LS_PORT=$(free_port); ESL_PORT=$(free_port); KAM_PORT=$(free_port)
ESL_PASS="bench-$$-$RANDOM"
# auth-calls=false: the caller is not challenged (as Kamailio's INVITEs are not);
# the callee's REGISTER is, on both servers.
write_call_conf "$WORK/conf" "$LS_PORT" "$ESL_PORT" "$ESL_PASS" "$CALLEE" "$CALLEE_PW" "$MAX_TRANSACTIONS" \
    '    <param name="nonce-ttl" value="60"/>
    <param name="sip-expires-min" value="60"/>'

# --- servers and callees ------------------------------------------------------------
declare -A PORT PID UAS_PID UAS_DIR
SERVERS=()

# start_callee NAME SERVER_PORT: registers 1002 from a fixed port, then runs the
# answering uas there (bounded by -timeout), in the background.
start_callee() {
    local name=$1 port=$2 dir="$WORK/uas-$1" lport
    mkdir -p "$dir"
    lport=$(free_port)
    (cd "$dir" && sipp "127.0.0.1:$port" -sf "$REG" -inf "$WORK/callee.csv" -key expires 3600 \
        -m 1 -i 127.0.0.1 -p "$lport" -t u1 -nostdin -timeout 10s -recv_timeout 5000 \
        -trace_err -error_file reg-errors.log > reg.out 2>&1) \
        || { cat "$dir/reg.out" "$dir/reg-errors.log" >&2 2>/dev/null; die "$name: callee registration failed"; }
    (cd "$dir" && exec $SIPP_PIN sipp "127.0.0.1:$port" -sf "$UAS" -i 127.0.0.1 -p "$lport" -t u1 \
        -nostdin -timeout 3000s -buff_size $SIPP_BUF -max_recv_loops 10000 \
        -trace_stat -stf stats.csv -fd 1 -trace_err -error_file errors.log > sipp.out 2>&1) &
    UAS_PID[$name]=$!; UAS_DIR[$name]=$dir
    PIDS+=("${UAS_PID[$name]}")
    sleep 0.5
    kill -0 "${UAS_PID[$name]}" || { cat "$dir/sipp.out" >&2; die "$name: uas did not start"; }
}

if [ "$ONLY" != kamailio ]; then
    if [ -n "${LOOPSTART_BIN:-}" ]; then
        LS_BIN=$LOOPSTART_BIN
    else
        log "cargo build --release --bin loopstart"
        (cd "$ROOT" && cargo build --release --bin loopstart >&2)
        LS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/loopstart"
    fi
    LS_VERSION=$("$LS_BIN" --version 2>/dev/null | head -1 || echo loopstart)
    log "starting loopstart on 127.0.0.1:$LS_PORT"
    NO_COLOR=1 $SERVER_PIN "$LS_BIN" run --conf "$WORK/conf" --data "$WORK/data" \
        2> "$WORK/loopstart.log" &
    LS_PID=$!; PIDS+=("$LS_PID")
    await_line "$WORK/loopstart.log" 'loopstart ready' "$LS_PID" loopstart
    start_callee loopstart "$LS_PORT"
    SERVERS+=(loopstart); PORT[loopstart]=$LS_PORT; PID[loopstart]=$LS_PID
    LS_RSS_IDLE=$(rss_kb "$LS_PID")
fi
if [ "$ONLY" != loopstart ]; then
    KAM_VERSION=$("$KAMAILIO" -v 2>/dev/null | head -1 | awk '{print $2, $3}')
    log "starting kamailio ($KAM_VERSION) on 127.0.0.1:$KAM_PORT, children=$KAM_CHILDREN, -m $KAM_SHM_MB"
    $SERVER_PIN "$KAMAILIO" -f "$HERE/kamailio.cfg" -DD -E -m "$KAM_SHM_MB" -M 64 \
        -l "udp:127.0.0.1:$KAM_PORT" \
        -A "DBURL=\"text://$WORK/kamdb\"" -A "CHILDREN=$KAM_CHILDREN" \
        -P "$WORK/kamailio.pid" -Y "$WORK" > "$WORK/kamailio.log" 2>&1 &
    KAM_PID=$!; PIDS+=("$KAM_PID")
    for _ in $(seq 100); do
        ss -lnu 2>/dev/null | grep -q "127.0.0.1:$KAM_PORT " && break
        kill -0 "$KAM_PID" 2>/dev/null || { cat "$WORK/kamailio.log" >&2; die "kamailio exited"; }
        sleep 0.1
    done
    sleep 1
    start_callee kamailio "$KAM_PORT"
    SERVERS+=(kamailio); PORT[kamailio]=$KAM_PORT; PID[kamailio]=$KAM_PID
fi

# run_step NAME RATE -> sets SUCC FAIL SECS CPS SCPU RTD RETR
run_step() {
    local name=$1 rate=$2 calls=$(( $2 * STEP_SECS )) dir="$WORK/uac-$1-$2" lport t0 t1 c0 c1
    mkdir -p "$dir"; lport=$(free_port)
    c0=$(cpu_ticks "${PID[$name]}")
    t0=$(date +%s.%N)
    (cd "$dir" && $SIPP_PIN sipp "127.0.0.1:${PORT[$name]}" -sf "$UAC" -key dest "$CALLEE" \
        -m "$calls" -r "$rate" -rp 1000 -d "$HOLD_MS" -l 20000 \
        -i 127.0.0.1 -p "$lport" -t u1 -nostdin -buff_size $SIPP_BUF -max_recv_loops 10000 \
        -timeout $((STEP_SECS * 4 + 30))s -recv_timeout 8000 \
        -trace_stat -stf stats.csv -fd 1 -trace_err -error_file errors.log \
        -trace_screen -screen_file screen.log > sipp.out 2>&1) || true
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "${PID[$name]}")
    read -r SUCC FAIL RTD RETR < <(python3 - "$dir/stats.csv" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
    h, last = rows[0], rows[-1]
    g = lambda k: last[h.index(k)]
    h_, m_, s_, us_ = (int(x) for x in g('ResponseTime1(C)').split(':'))
    rtd = ((h_ * 60 + m_) * 60 + s_) * 1000 + us_ / 1000
    print(g('SuccessfulCall(C)'), g('FailedCall(C)'), f'{rtd:.1f}', g('Retransmissions(C)'))
except Exception:
    print(0, -1, '-', '-')
PY
)
    SECS=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    CPS=$(python3 -c "print(f'{$SUCC / ($t1 - $t0):.0f}')")
    SCPU=$(python3 -c "print(f'{($c1 - $c0) / 100:.2f}')")
    log "$name @ $rate/s: $SUCC ok, $FAIL failed of $calls in ${SECS}s = $CPS calls/s; INVITE->200 mean $RTD; retransmissions $RETR; server CPU ${SCPU}s"
    if [ "$FAIL" != 0 ]; then
        log "$name: first errors:"; head -c 1200 "$dir/errors.log" >&2 || true; echo >&2
    fi
}

declare -A BEST ALIVE
ROWS=()
for s in "${SERVERS[@]}"; do BEST[$s]=0; ALIVE[$s]=1; done
step=0
for rate in $RATES; do
    step=$((step + 1))
    order=("${SERVERS[@]}")
    if [ $((step % 2)) = 0 ] && [ "${#SERVERS[@]}" = 2 ]; then order=("${SERVERS[1]}" "${SERVERS[0]}"); fi
    for s in "${order[@]}"; do
        [ "${ALIVE[$s]}" = 1 ] || continue
        kill -0 "${PID[$s]}" 2>/dev/null || { log "$s is gone"; ALIVE[$s]=0; continue; }
        run_step "$s" "$rate"
        ROWS+=("| $rate | $s | $((rate * STEP_SECS)) | $SUCC | $FAIL | $SECS | $CPS | $RTD | $RETR | $SCPU |")
        if [ "$FAIL" = 0 ] && [ "$SUCC" = $((rate * STEP_SECS)) ]; then BEST[$s]=$rate; else ALIVE[$s]=0; fi
        sleep 2   # let the BYE transactions of the step drain before the next one
    done
    any=0; for s in "${SERVERS[@]}"; do [ "${ALIVE[$s]}" = 1 ] && any=1; done
    [ $any = 1 ] || break
done
# Channels left open: right after the ladder, SETTLE_SHORT (3) s later and
# SETTLE_LONG (35) s later (past 64*T1 = 32 s, when every transaction has timed
# out); the full `show channels` of the last look is kept in the work dir.
SETTLE_SHORT=${SETTLE_SHORT:-3}
SETTLE_LONG=${SETTLE_LONG:-35}
ls_channels() { "$LS_BIN" api --conf "$WORK/conf" "show channels count" 2>/dev/null | grep -o '[0-9]* total' | head -1 || echo "?"; }
if [ -n "${PID[loopstart]:-}" ]; then
    LS_RSS_AFTER=$(rss_kb "${PID[loopstart]}")
    LS_CHANNELS=$(ls_channels)
    sleep "$SETTLE_SHORT"; LS_CHANNELS_SHORT=$(ls_channels)
    sleep $((SETTLE_LONG - SETTLE_SHORT)); LS_CHANNELS_LONG=$(ls_channels)
    LS_RSS_LONG=$(rss_kb "${PID[loopstart]}")
    "$LS_BIN" api --conf "$WORK/conf" "show channels" > "$WORK/channels-after-${SETTLE_LONG}s.txt" 2>&1 || true
    log "loopstart channels: right after ${LS_CHANNELS:-?}, +${SETTLE_SHORT}s ${LS_CHANNELS_SHORT:-?}, +${SETTLE_LONG}s ${LS_CHANNELS_LONG:-?} (list in $WORK/channels-after-${SETTLE_LONG}s.txt)"
fi
# The callees' own view (failed calls on the uas side).
declare -A UAS_FAIL
for s in "${SERVERS[@]}"; do
    kill -USR1 "${UAS_PID[$s]}" 2>/dev/null || true
    kill -TERM "${UAS_PID[$s]}" 2>/dev/null || true
    wait "${UAS_PID[$s]}" 2>/dev/null || true
    UAS_FAIL[$s]=$(python3 - "${UAS_DIR[$s]}/stats.csv" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
    h, last = rows[0], rows[-1]
    print(f"{last[h.index('SuccessfulCall(C)')]} ok / {last[h.index('FailedCall(C)')]} failed")
except Exception as e:
    print('?')
PY
)
done
LS_ERRORS=$(grep -cE ' (ERROR|WARN) ' "$WORK/loopstart.log" 2>/dev/null || true)

ratio="-"
if [ -n "${BEST[loopstart]:-}" ] && [ -n "${BEST[kamailio]:-}" ] && [ "${BEST[kamailio]}" != 0 ]; then
    ratio=$(python3 -c "print(f'{${BEST[loopstart]} / ${BEST[kamailio]}:.2f}')")
fi
cat <<REPORT

### Call setup rate ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))

Command: \`RATES="$RATES" STEP_SECS=$STEP_SECS HOLD_MS=$HOLD_MS KAM_CHILDREN=$KAM_CHILDREN KAM_SHM_MB=$KAM_SHM_MB MAX_TRANSACTIONS=$MAX_TRANSACTIONS ${LOOPSTART_BIN:+LOOPSTART_BIN=$LOOPSTART_BIN }bench/calls/run.sh\`
SIPp $(sipp -v 2>/dev/null | grep -o 'v[0-9][^ -]*' | head -1): uac bench/calls/uac_noauth.xml (INVITE with SDP, no auth; 200; ACK; ${HOLD_MS} ms; BYE; 200) → server → registered uas bench/calls/uas_answer.xml (200 with SDP at once, no 180). loopstart: profile auth-calls=false, dialplan \`bridge user/1002\`, RTP anchored (ports opened per leg, no packets sent). Kamailio: tm + rr (record-routed, so ACK and BYE pass through it too) + registrar/usrloc in memory, no media.

Each step offers STEP_SECS × rate calls at that rate (open loop, \`-r RATE -rp 1000\`); the servers take turns, order alternating per step. A step passes with every call successful (no failure, no timeout); a server's ladder stops at its first failed step.

| offered calls/s | server | calls | ok | failed | seconds | completed calls/s | INVITE→200 mean (ms) | retransmissions | server CPU s |
|---:|---|---:|---:|---:|---:|---:|---|---:|---:|
$(printf '%s\n' "${ROWS[@]}")

Highest rate with no failed call: loopstart ${BEST[loopstart]:--} calls/s, Kamailio ${KAM_VERSION:-} (children=$KAM_CHILDREN, -m $KAM_SHM_MB) ${BEST[kamailio]:--} calls/s; **ratio ${ratio}**.
Callee side (uas): loopstart ${UAS_FAIL[loopstart]:--}; Kamailio ${UAS_FAIL[kamailio]:--}. loopstart RSS idle ${LS_RSS_IDLE:--} kB, after the ladder ${LS_RSS_AFTER:--} kB; channels open after the ladder: ${LS_CHANNELS:--} right after, ${LS_CHANNELS_SHORT:--} after ${SETTLE_SHORT:-3} s, ${LS_CHANNELS_LONG:--} after ${SETTLE_LONG:-35} s (RSS then ${LS_RSS_LONG:--} kB); WARN/ERROR log lines: ${LS_ERRORS:-0}.
REPORT
