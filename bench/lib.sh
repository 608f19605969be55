# Shared by bench/*/run.sh (sourced): logging, free ports, CPU and memory readings of
# a process, and the loopstart configuration the call benchmarks run.

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# free_port -> a port free for both UDP and TCP on 127.0.0.1
free_port() {
    python3 - <<'PY'
import socket
for _ in range(200):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

# rss_kb PID [FALLBACK] -> resident memory in kB (FALLBACK, default "?", when gone)
# await_line LOG PATTERN PID NAME: waits up to 15 s for PATTERN in LOG, written by the
# server NAME running as PID; dies with the log's tail when it exits or never says it.
await_line() {
    local log=$1 pattern=$2 pid=$3 name=$4
    for _ in $(seq 150); do
        grep -q "$pattern" "$log" && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited"; }
        sleep 0.1
    done
    tail -20 "$log" >&2; die "$name not ready in 15 s"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "${2:-?}"; }

# cpu_ticks PID... -> user+system CPU of these processes and their children, in
# clock ticks (1/100 s), from /proc.
cpu_ticks() {
    local total=0 p
    for p in "$@" $(ps -o pid= --ppid "$1" 2>/dev/null); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$total"
}

# write_call_conf DIR SIP_PORT ESL_PORT ESL_PASS CALLEE CALLEE_PW MAX_TRANSACTIONS [PARAMS]
# loopstart's conf for the call benchmarks: one profile on 127.0.0.1:SIP_PORT with
# auth-calls=false and apply-inbound-acl=loopback.auto (the caller is not challenged,
# as a proxy's INVITEs are not; the callee's REGISTER is), the callee user, `bridge user/$1` for 10xx, the event socket,
# and an RTP range for ~10,000 calls open at once (4 ports a call). PARAMS: more
# <param/> lines for the profile.
write_call_conf() {
    local d=$1
    mkdir -p "$d/directory/default" "$d/sip_profiles" "$d/dialplan" "$d/autoload_configs"
    printf '<include>\n  <X-PRE-PROCESS cmd="set" data="domain=127.0.0.1"/>\n  <X-PRE-PROCESS cmd="set" data="domain_name=$${domain}"/>\n</include>\n' > "$d/vars.xml"
    cat > "$d/sip_profiles/internal.xml" <<X
<profile name="internal">
  <settings>
    <param name="sip-ip" value="127.0.0.1"/>
    <param name="sip-port" value="$2"/>
    <param name="rtp-ip" value="127.0.0.1"/>
    <param name="context" value="default"/>
    <param name="auth-calls" value="false"/>
    <param name="apply-inbound-acl" value="loopback.auto"/>
${8:-}
  </settings>
</profile>
X
    cat > "$d/directory/default.xml" <<'X'
<include>
  <domain name="$${domain}">
    <groups>
      <group name="default">
        <users>
          <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
        </users>
      </group>
    </groups>
  </domain>
</include>
X
    printf '<include>\n  <user id="%s">\n    <params>\n      <param name="password" value="%s"/>\n    </params>\n    <variables>\n      <variable name="user_context" value="default"/>\n    </variables>\n  </user>\n</include>\n' \
        "$5" "$6" > "$d/directory/default/$5.xml"
    cat > "$d/dialplan/default.xml" <<'X'
<include>
  <context name="default">
    <extension name="local">
      <condition field="destination_number" expression="^(10[0-9][0-9])$">
        <action application="set" data="call_timeout=10"/>
        <action application="set" data="hangup_after_bridge=true"/>
        <action application="bridge" data="user/$1"/>
      </condition>
    </extension>
  </context>
</include>
X
    cat > "$d/autoload_configs/event_socket.conf.xml" <<X
<configuration name="event_socket.conf" description="Socket Client">
  <settings>
    <param name="listen-ip" value="127.0.0.1"/>
    <param name="listen-port" value="$3"/>
    <param name="password" value="$4"/>
  </settings>
</configuration>
X
    cat > "$d/autoload_configs/switch.conf.xml" <<X
<configuration name="switch.conf" description="Core Configuration">
  <settings>
    <param name="max-sessions" value="20000"/>
    <param name="max-transactions" value="$7"/>
    <param name="rtp-start-port" value="20000"/>
    <param name="rtp-end-port" value="60000"/>
  </settings>
</configuration>
X
}
