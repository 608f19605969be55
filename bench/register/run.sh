#!/usr/bin/env bash
# Registration-rate benchmark: loopstart vs Kamailio (in-memory registrar,
# db_text subscribers, digest with qop=auth), side by side in one run, driven
# by the same SIPp REGISTER-with-digest scenario (tests/sipp/register.xml).
# Also measures loopstart's RSS idle and after N_USERS users registered.
#
# Usage: bench/register/run.sh            (see bench/README.md)
# Env:   N_USERS=1000 CALLS=100000 ROUNDS=4 RATE=30000 LIMIT=50 TRANSPORT=u1
#        KAM_CHILDREN=2 LOOPSTART_BIN=path (skip the release build)
#        ONLY=loopstart|kamailio (run one side only)
#        SERVER_CPUS=1 SIPP_CPUS=0 (taskset pinning, same for both servers)
# Everything listens on 127.0.0.1 only; every process it starts is stopped
# by PID on exit. Prints a Markdown block for bench/RESULTS.md on stdout;
# progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
N_USERS=${N_USERS:-1000}
CALLS=${CALLS:-100000}
RATE=${RATE:-30000}
LIMIT=${LIMIT:-50}
TRANSPORT=${TRANSPORT:-u1}
KAM_CHILDREN=${KAM_CHILDREN:-2}
ROUNDS=${ROUNDS:-4}
ONLY=${ONLY:-}
# Optional CPU pinning (taskset lists), the same for both servers: e.g.
# SERVER_CPUS=1 SIPP_CPUS=0 gives each side its own core.
SERVER_PIN=""; SIPP_PIN=""
[ -n "${SERVER_CPUS:-}" ] && SERVER_PIN="taskset -c $SERVER_CPUS"
[ -n "${SIPP_CPUS:-}" ] && SIPP_PIN="taskset -c $SIPP_CPUS"
SETTLE=${SETTLE:-65}
SCENARIO="$ROOT/tests/sipp/register.xml"

# shellcheck source=bench/lib.sh
. "$HERE/../lib.sh"

command -v sipp >/dev/null || die "sipp missing (scripts/install-test-deps.sh)"
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
[ -n "$ONLY" ] && [ "$ONLY" = loopstart ] || [ -x "$KAMAILIO" ] || die "kamailio missing"

WORK=$(mktemp -d /tmp/loopstart-bench-XXXXXX)
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


user() { printf 'user%04d' "$1"; }
pass() { printf 'bench-%s-pw' "$(user "$1")"; }

# --- users: SIPp injection file, loopstart directory, Kamailio db_text ----------
log "generating $N_USERS users in $WORK"
mkdir -p "$WORK/conf/directory/default" "$WORK/conf/sip_profiles" \
         "$WORK/conf/autoload_configs" "$WORK/data" "$WORK/kamdb"
{
    echo SEQUENTIAL
    for i in $(seq 0 $((N_USERS - 1))); do
        printf '%s;[authentication username=%s password=%s];\n' "$(user "$i")" "$(user "$i")" "$(pass "$i")"
    done
} > "$WORK/users.csv"
printf 'table_name(string) table_version(int)\nsubscriber:7\n' > "$WORK/kamdb/version"
{
    echo 'id(int,auto) username(string) domain(string,null) password(string) ha1(string,null) ha1b(string,null)'
    for i in $(seq 0 $((N_USERS - 1))); do
        printf '%d:%s:127.0.0.1:%s:::\n' "$((i + 1))" "$(user "$i")" "$(pass "$i")"
    done
} > "$WORK/kamdb/subscriber"
for i in $(seq 0 $((N_USERS - 1))); do
    u=$(user "$i")
    printf '<include>\n  <user id="%s">\n    <params>\n      <param name="password" value="%s"/>\n    </params>\n    <variables>\n      <variable name="user_context" value="default"/>\n    </variables>\n  </user>\n</include>\n' \
        "$u" "$(pass "$i")" > "$WORK/conf/directory/default/$u.xml"
done

LS_PORT=$(free_port)
ESL_PORT=$(free_port)
KAM_PORT=$(free_port)
ESL_PASS="bench-$$-$RANDOM"

cat > "$WORK/conf/vars.xml" <<EOF
<include>
  <X-PRE-PROCESS cmd="set" data="domain=127.0.0.1"/>
</include>
EOF
cat > "$WORK/conf/sip_profiles/internal.xml" <<EOF
<profile name="internal">
  <settings>
    <param name="sip-ip" value="127.0.0.1"/>
    <param name="sip-port" value="$LS_PORT"/>
    <param name="rtp-ip" value="127.0.0.1"/>
    <param name="context" value="default"/>
    <param name="auth-calls" value="true"/>
    <param name="nonce-ttl" value="60"/>
    <param name="sip-expires-min" value="60"/>
  </settings>
</profile>
EOF
cat > "$WORK/conf/directory/default.xml" <<'EOF'
<include>
  <domain name="$${domain}">
    <params>
      <param name="dial-string" value="{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})}"/>
    </params>
    <groups>
      <group name="default">
        <users>
          <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
        </users>
      </group>
    </groups>
  </domain>
</include>
EOF
cat > "$WORK/conf/autoload_configs/event_socket.conf.xml" <<EOF
<configuration name="event_socket.conf" description="Socket Client">
  <settings>
    <param name="listen-ip" value="127.0.0.1"/>
    <param name="listen-port" value="$ESL_PORT"/>
    <param name="password" value="$ESL_PASS"/>
  </settings>
</configuration>
EOF
cat > "$WORK/conf/autoload_configs/switch.conf.xml" <<'EOF'
<configuration name="switch.conf" description="Core Configuration">
  <settings>
    <param name="max-sessions" value="1000"/>
  </settings>
</configuration>
EOF


# run_sipp NAME PORT CALLS RATE [SERVER_PID] -> sets SUCC FAIL SECS RPS, and with a
# server PID also SERVER_CPU and SIPP_CPU (CPU seconds used during the run).
run_sipp() {
    local name=$1 port=$2 calls=$3 rate=$4 dir="$WORK/sipp-$1-$3"
    mkdir -p "$dir"
    local lport; lport=$(free_port)
    local t0 t1 c0=0 c1=0 server_pid=${5:-}
    [ -n "$server_pid" ] && c0=$(cpu_ticks "$server_pid")
    t0=$(date +%s.%N)
    (cd "$dir" && $SIPP_PIN sipp "127.0.0.1:$port" -sf "$SCENARIO" -inf "$WORK/users.csv" \
        -key expires 3600 -m "$calls" -r "$rate" -rp 1000 -l "$LIMIT" \
        -i 127.0.0.1 -p "$lport" -t "$TRANSPORT" -nostdin -default_behaviors -bye \
        -timeout 300s -recv_timeout 5000 \
        -trace_stat -stf stats.csv -fd 1 -trace_err -error_file errors.log \
        -trace_screen -screen_file screen.log > sipp.out 2>&1; times > sipp.times) || true
    t1=$(date +%s.%N)
    if [ -n "$server_pid" ]; then
        c1=$(cpu_ticks "$server_pid")
        SERVER_CPU=$(python3 -c "print(f'{($c1 - $c0) / 100:.2f}')")
        # `times`, second line: the subshell's children (SIPp) user and system time.
        SIPP_CPU=$(sed -n 2p "$dir/sipp.times" | python3 -c "
import re, sys
t = [int(m) * 60 + float(s) for m, s in re.findall(r'(\d+)m([\d.]+)s', sys.stdin.read())]
print(f'{sum(t):.2f}')")
        log "$name: server CPU ${SERVER_CPU}s, SIPp CPU ${SIPP_CPU}s"
    fi
    read -r SUCC FAIL < <(python3 - "$dir/stats.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
h, last = rows[0], rows[-1]
print(last[h.index('SuccessfulCall(C)')], last[h.index('FailedCall(C)')])
PY
)
    SECS=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    RPS=$(python3 -c "print(f'{$SUCC / ($t1 - $t0):.0f}')")
    log "$name: $SUCC ok, $FAIL failed in ${SECS}s = $RPS reg/s"
    if [ "$FAIL" != 0 ]; then
        log "$name: first errors:"; head -c 1500 "$dir/errors.log" >&2 || true; echo >&2
    fi
}

declare -A R_SUCC R_FAIL R_SECS R_RPS R_SCPU R_PCPU PORT PID
LS_RSS_IDLE="-"; LS_RSS_REG="-"; LS_RSS_REST="-"; LS_VERSION="-"
SERVERS=()

# --- loopstart: start, register everyone, memory at rest --------------------------
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
    LS_PID=$!
    PIDS+=("$LS_PID")
    await_line "$WORK/loopstart.log" 'loopstart ready' "$LS_PID" loopstart
    sleep 1
    LS_RSS_IDLE=$(rss_kb "$LS_PID")
    # Register every user once at a gentle rate, then measure RSS at rest.
    run_sipp loopstart-warmup "$LS_PORT" "$N_USERS" 2000
    sleep 2
    LS_RSS_REG=$(rss_kb "$LS_PID")
    # At rest: the REGISTER transactions linger 32 s (Timer J) to absorb
    # retransmissions; measure again once they are gone.
    log "waiting ${SETTLE}s for the transactions to expire"
    sleep "$SETTLE"
    LS_RSS_REST=$(rss_kb "$LS_PID")
    LS_LISTED=$("$LS_BIN" api --conf "$WORK/conf" "show registrations" 2>/dev/null | tail -1 || echo "?")
    log "loopstart RSS idle ${LS_RSS_IDLE} kB, after $N_USERS registered ${LS_RSS_REG} kB, at rest ${SETTLE}s later ${LS_RSS_REST} kB (show registrations: $LS_LISTED)"
    SERVERS+=(loopstart); PORT[loopstart]=$LS_PORT; PID[loopstart]=$LS_PID
fi

# --- Kamailio: start, register everyone -------------------------------------------
if [ "$ONLY" != loopstart ]; then
    KAM_VERSION=$("$KAMAILIO" -v 2>/dev/null | head -1 | awk '{print $2, $3}')
    log "starting kamailio ($KAM_VERSION) on 127.0.0.1:$KAM_PORT, children=$KAM_CHILDREN"
    $SERVER_PIN "$KAMAILIO" -f "$HERE/kamailio.cfg" -DD -E -m 256 -M 64 \
        -l "udp:127.0.0.1:$KAM_PORT" -l "tcp:127.0.0.1:$KAM_PORT" \
        -A "DBURL=\"text://$WORK/kamdb\"" -A "CHILDREN=$KAM_CHILDREN" -A MIN_EXPIRES=60 \
        -P "$WORK/kamailio.pid" -Y "$WORK" \
        > "$WORK/kamailio.log" 2>&1 &
    KAM_PID=$!
    PIDS+=("$KAM_PID")
    for _ in $(seq 100); do
        ss -lnu 2>/dev/null | grep -q "127.0.0.1:$KAM_PORT " && break
        kill -0 "$KAM_PID" 2>/dev/null || { cat "$WORK/kamailio.log" >&2; die "kamailio exited"; }
        sleep 0.1
    done
    sleep 1
    run_sipp kamailio-warmup "$KAM_PORT" "$N_USERS" 2000
    SERVERS+=(kamailio); PORT[kamailio]=$KAM_PORT; PID[kamailio]=$KAM_PID
fi

# --- the rate runs, interleaved ----------------------------------------------------
# ROUNDS rounds of CALLS/ROUNDS registrations per server, alternating which goes
# first, so that a slow spell on the shared machine hits both servers alike.
PER_ROUND=$((CALLS / ROUNDS))
ROUND_RATIOS=()
for s in "${SERVERS[@]}"; do
    R_SUCC[$s]=0; R_FAIL[$s]=0; R_SECS[$s]=0; R_SCPU[$s]=0; R_PCPU[$s]=0
done
for r in $(seq 1 "$ROUNDS"); do
    order=("${SERVERS[@]}")
    if [ $((r % 2)) = 0 ] && [ "${#SERVERS[@]}" = 2 ]; then
        order=("${SERVERS[1]}" "${SERVERS[0]}")
    fi
    declare -A RPS_THIS=()
    for s in "${order[@]}"; do
        run_sipp "$s-round$r" "${PORT[$s]}" "$PER_ROUND" "$RATE" "${PID[$s]}"
        RPS_THIS[$s]=$RPS
        R_SUCC[$s]=$((R_SUCC[$s] + SUCC)); R_FAIL[$s]=$((R_FAIL[$s] + FAIL))
        R_SECS[$s]=$(python3 -c "print(f'{${R_SECS[$s]} + $SECS:.2f}')")
        R_SCPU[$s]=$(python3 -c "print(f'{${R_SCPU[$s]} + $SERVER_CPU:.2f}')")
        R_PCPU[$s]=$(python3 -c "print(f'{${R_PCPU[$s]} + $SIPP_CPU:.2f}')")
    done
    if [ -n "${RPS_THIS[loopstart]:-}" ] && [ -n "${RPS_THIS[kamailio]:-}" ]; then
        ROUND_RATIOS+=("$(python3 -c "print(f'{${RPS_THIS[loopstart]} / ${RPS_THIS[kamailio]}:.2f}')")")
    fi
done
for s in "${SERVERS[@]}"; do
    R_RPS[$s]=$(python3 -c "print(f'{${R_SUCC[$s]} / ${R_SECS[$s]}:.0f}')")
done
if [ -n "${PID[loopstart]:-}" ]; then LS_RSS_AFTER=$(rss_kb "${PID[loopstart]}"); fi
for s in "${SERVERS[@]}"; do
    kill -TERM "${PID[$s]}"; wait "${PID[$s]}" 2>/dev/null || true
done

# --- report ----------------------------------------------------------------------
ratio="-"
if [ -n "${R_RPS[loopstart]:-}" ] && [ -n "${R_RPS[kamailio]:-}" ] && [ "${R_RPS[kamailio]}" != 0 ]; then
    ratio=$(python3 -c "print(f'{${R_RPS[loopstart]} / ${R_RPS[kamailio]}:.2f}')")
fi
cat <<REPORT

### Registration rate ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r))

Command: \`N_USERS=$N_USERS CALLS=$CALLS ROUNDS=$ROUNDS RATE=$RATE LIMIT=$LIMIT TRANSPORT=$TRANSPORT KAM_CHILDREN=$KAM_CHILDREN bench/register/run.sh\`
SIPp $(sipp -v 2>/dev/null | grep -o 'v[0-9][^ -]*' | head -1), scenario tests/sipp/register.xml (REGISTER, 401, REGISTER with digest qop=auth, 200), $N_USERS users cycled, Expires 3600.

SIPp keeps at most LIMIT=$LIMIT registrations in flight (-l) with a target rate far above capacity (-r $RATE -rp 1000): the achieved rate is the server's capacity (with SIPp sharing the $(nproc) cores). A registration is two REGISTER transactions (401 challenge, then 200), so REGISTER requests/s is twice reg/s. The servers take turns, $ROUNDS rounds of $PER_ROUND registrations each.

| server | registrations ok | failed | seconds | reg/s | REGISTER req/s | server CPU s | SIPp CPU s |
|---|---:|---:|---:|---:|---:|---:|---:|
REPORT
for s in loopstart kamailio; do
    [ -n "${R_RPS[$s]:-}" ] || continue
    name=$s; [ "$s" = kamailio ] && name="kamailio ${KAM_VERSION:-} (children=$KAM_CHILDREN, usrloc db_mode 0, auth_db db_text)"
    [ "$s" = loopstart ] && name="loopstart ($LS_VERSION)"
    echo "| $name | ${R_SUCC[$s]} | ${R_FAIL[$s]} | ${R_SECS[$s]} | ${R_RPS[$s]} | $((2 * R_RPS[$s])) | ${R_SCPU[$s]} | ${R_PCPU[$s]} |"
done
cat <<REPORT

loopstart / kamailio reg/s ratio: **$ratio** (per round: ${ROUND_RATIOS[*]:--})

loopstart RSS (VmRSS): idle ${LS_RSS_IDLE} kB; right after $N_USERS users registered ${LS_RSS_REG} kB; with the $N_USERS registered users at rest (${SETTLE} s later, transactions expired) ${LS_RSS_REST} kB; after the rate runs ${LS_RSS_AFTER:--} kB.
REPORT
