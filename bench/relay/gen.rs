//! RTP relay load generator for bench/relay/run.sh.
//!
//! Plays both ends of N calls through a relay (loopstart or rtpengine) on loopback:
//! every leg sends a 172-byte RTP packet (12-byte header, 160-byte PCMU payload)
//! every 20 ms, i.e. 50 packets/s each way per call, phases spread evenly over the
//! 20 ms so the load is smooth, not a burst per tick. The payload carries the send
//! time (ns since the generator started) and a stream id, so the receiving side
//! measures loss and one-way latency through the relay per packet.
//!
//! All A legs send from (and are latched to / announced as) one UDP socket, all B
//! legs from another: the relay's cost per packet does not depend on how many
//! sockets the far end uses, and the generator stays cheap (2 receive threads).
//!
//! Targets (the relay's ports, where each leg sends):
//!   --ports FILE        lines "A_PORT B_PORT" (loopstart: the ports its SDP
//!                       announced to the caller and to the callee; run.sh takes
//!                       them from SIPp's message traces). A leg's packets come
//!                       out of the other leg's port once both are latched, so
//!                       a priming round sends one packet to every port first.
//!   --rtpengine ADDR --calls N
//!                       sets N calls up itself with the ng protocol (bencode over
//!                       UDP): offer with socket A's address, answer with socket
//!                       B's, and sends to the ports rtpengine answers with.
//! Then for each level K in --levels (a prefix of the calls): --warmup s of
//! streaming, --secs s measured, a short drain; prints one line of JSON per level.
//! --pid PID: the relay's process, for CPU (utime+stime from /proc/PID/stat, all
//! its threads) over the measured window and RSS (VmRSS) at the window's end.
//!
//! Bounded: every level stops after warmup + secs + drain; the whole run after
//! the levels given.
//!
//! Cost (Linux): packets go out with sendmmsg, one call per socket per tick
//! (GEN_TICK_US, 200 µs: everything due by then, stamped just before the call), and
//! come in with recvmmsg (up to 64 per call). Latency is the kernel's receive
//! timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) at the generator's socket minus the send
//! stamp (CLOCK_REALTIME): the generator's own receive scheduling is not in it, the
//! relay's and the kernel's path are. The generator's own CPU per level is printed
//! (gen_cpu_s) so a run can tell when the generator, not the relay, is the limit.
//! libc's calls are declared here (std links libc already): no crate added.

use std::collections::HashMap;
use std::env;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PKT: usize = 172;
const PTIME_NS: u64 = 20_000_000;
/// Latency histogram: 1 µs buckets up to 1 s.
const HIST: usize = 1_000_000;

// --- batched syscalls (Linux x86_64/aarch64 layouts) ------------------------------

mod sys {
    use std::net::SocketAddrV4;
    use std::os::raw::{c_int, c_uint, c_void};

    #[repr(C)]
    pub struct Iovec {
        pub base: *mut c_void,
        pub len: usize,
    }
    #[repr(C)]
    pub struct MsgHdr {
        pub name: *mut c_void,
        pub namelen: u32,
        pub iov: *mut Iovec,
        pub iovlen: usize,
        pub control: *mut c_void,
        pub controllen: usize,
        pub flags: c_int,
    }
    #[repr(C)]
    pub struct MMsgHdr {
        pub hdr: MsgHdr,
        pub len: c_uint,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct SockaddrIn {
        pub family: u16,
        pub port_be: u16,
        pub addr_be: u32,
        pub zero: [u8; 8],
    }
    #[repr(C)]
    pub struct Timespec {
        pub sec: i64,
        pub nsec: i64,
    }
    extern "C" {
        fn sendmmsg(fd: c_int, v: *mut MMsgHdr, n: c_uint, flags: c_int) -> c_int;
        fn recvmmsg(fd: c_int, v: *mut MMsgHdr, n: c_uint, flags: c_int, t: *mut Timespec)
            -> c_int;
        fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: u32) -> c_int;
        fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
    }
    const SOL_SOCKET: c_int = 1;
    const SO_TIMESTAMPNS: c_int = 35;
    pub const MSG_WAITFORONE: c_int = 0x10000;
    pub const MSG_DONTWAIT: c_int = 0x40;

    pub fn sockaddr(a: SocketAddrV4) -> SockaddrIn {
        SockaddrIn {
            family: 2, // AF_INET
            port_be: a.port().to_be(),
            addr_be: u32::from(*a.ip()).to_be(),
            zero: [0; 8],
        }
    }

    /// Nanoseconds of CLOCK_REALTIME (the clock SO_TIMESTAMPNS stamps with).
    pub fn now_ns() -> u64 {
        let mut t = Timespec { sec: 0, nsec: 0 };
        unsafe { clock_gettime(0, &mut t) };
        t.sec as u64 * 1_000_000_000 + t.nsec as u64
    }

    pub fn enable_rx_timestamps(fd: c_int) -> bool {
        let one: c_int = 1;
        unsafe {
            setsockopt(
                fd,
                SOL_SOCKET,
                SO_TIMESTAMPNS,
                &one as *const c_int as *const c_void,
                4,
            ) == 0
        }
    }

    /// Packets for one sendmmsg: fixed storage (the message headers point into it,
    /// set up once), filled with [`Tx::slot`] and sent with [`Tx::send`].
    pub struct Tx {
        pkts: Vec<[u8; super::PKT]>,
        to: Vec<SockaddrIn>,
        iov: Vec<Iovec>,
        hdrs: Vec<MMsgHdr>,
        n: usize,
    }

    impl Tx {
        pub fn new(cap: usize) -> Box<Tx> {
            let mut tx = Box::new(Tx {
                pkts: vec![[0u8; super::PKT]; cap],
                to: vec![sockaddr(SocketAddrV4::new([127, 0, 0, 1].into(), 0)); cap],
                iov: Vec::with_capacity(cap),
                hdrs: Vec::with_capacity(cap),
                n: 0,
            });
            for i in 0..cap {
                let base = tx.pkts[i].as_mut_ptr() as *mut c_void;
                tx.iov.push(Iovec {
                    base,
                    len: super::PKT,
                });
            }
            for i in 0..cap {
                let iov: *mut Iovec = &mut tx.iov[i];
                let name = &mut tx.to[i] as *mut SockaddrIn as *mut c_void;
                tx.hdrs.push(MMsgHdr {
                    hdr: MsgHdr {
                        name,
                        namelen: 16,
                        iov,
                        iovlen: 1,
                        control: std::ptr::null_mut(),
                        controllen: 0,
                        flags: 0,
                    },
                    len: 0,
                });
            }
            tx
        }

        pub fn is_full(&self) -> bool {
            self.n == self.pkts.len()
        }

        /// The next packet's bytes, to be sent to `to`.
        pub fn slot(&mut self, to: SockaddrIn) -> &mut [u8; super::PKT] {
            let i = self.n;
            self.n += 1;
            self.to[i] = to;
            &mut self.pkts[i]
        }

        /// Sends what the slots hold, in as few sendmmsg calls as it takes, and empties
        /// them. Returns (sent, errors): a message the kernel refuses is counted and
        /// skipped.
        pub fn send(&mut self, fd: c_int) -> (usize, usize) {
            let n = self.n;
            self.n = 0;
            let (mut done, mut errors) = (0usize, 0usize);
            let mut at = 0usize;
            while at < n {
                let r =
                    unsafe { sendmmsg(fd, self.hdrs[at..n].as_mut_ptr(), (n - at) as c_uint, 0) };
                if r <= 0 {
                    errors += 1;
                    at += 1;
                } else {
                    done += r as usize;
                    at += r as usize;
                }
            }
            (done, errors)
        }
    }

    pub const RX_BATCH: usize = 256;
    const CMSG: usize = 64;

    /// Receive buffers for recvmmsg, reused across calls.
    pub struct Rx {
        bufs: Vec<[u8; 2048]>,
        ctl: Vec<[u64; CMSG / 8]>,
        iov: Vec<Iovec>,
        hdrs: Vec<MMsgHdr>,
    }

    impl Rx {
        pub fn new() -> Box<Rx> {
            let mut rx = Box::new(Rx {
                bufs: vec![[0u8; 2048]; RX_BATCH],
                ctl: vec![[0u64; CMSG / 8]; RX_BATCH],
                iov: Vec::with_capacity(RX_BATCH),
                hdrs: Vec::with_capacity(RX_BATCH),
            });
            for i in 0..RX_BATCH {
                let base = rx.bufs[i].as_mut_ptr() as *mut c_void;
                rx.iov.push(Iovec { base, len: 2048 });
            }
            for i in 0..RX_BATCH {
                let iov: *mut Iovec = &mut rx.iov[i];
                let control = rx.ctl[i].as_mut_ptr() as *mut c_void;
                rx.hdrs.push(MMsgHdr {
                    hdr: MsgHdr {
                        name: std::ptr::null_mut(),
                        namelen: 0,
                        iov,
                        iovlen: 1,
                        control,
                        controllen: CMSG,
                        flags: 0,
                    },
                    len: 0,
                });
            }
            rx
        }

        /// With MSG_WAITFORONE: blocks (up to the socket's read timeout) for one
        /// datagram, then takes what else is queued; with MSG_DONTWAIT: takes what is
        /// queued, none if nothing is. Up to RX_BATCH. Calls `f(datagram, kernel
        /// receive time ns)`.
        pub fn recv(&mut self, fd: c_int, flags: c_int, mut f: impl FnMut(&[u8], u64)) -> usize {
            for h in self.hdrs.iter_mut() {
                h.hdr.controllen = CMSG;
                h.hdr.flags = 0;
            }
            let r = unsafe {
                recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    RX_BATCH as c_uint,
                    flags,
                    std::ptr::null_mut(),
                )
            };
            if r <= 0 {
                return 0;
            }
            let fallback = now_ns();
            for i in 0..r as usize {
                let len = self.hdrs[i].len as usize;
                let ts = rx_stamp(&self.ctl[i], self.hdrs[i].hdr.controllen).unwrap_or(fallback);
                f(&self.bufs[i][..len.min(2048)], ts);
            }
            r as usize
        }
    }

    /// SCM_TIMESTAMPNS in a control buffer: cmsghdr {len: usize, level: i32, type: i32}
    /// then a timespec, 8-byte aligned.
    fn rx_stamp(ctl: &[u64; CMSG / 8], controllen: usize) -> Option<u64> {
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(ctl.as_ptr() as *const u8, CMSG) };
        let mut off = 0usize;
        while off + 16 <= controllen.min(CMSG) {
            let len = usize::from_ne_bytes(bytes[off..off + 8].try_into().ok()?);
            let level = i32::from_ne_bytes(bytes[off + 8..off + 12].try_into().ok()?);
            let ty = i32::from_ne_bytes(bytes[off + 12..off + 16].try_into().ok()?);
            if len < 16 {
                return None;
            }
            if level == SOL_SOCKET && ty == SO_TIMESTAMPNS && off + 32 <= CMSG {
                let sec = i64::from_ne_bytes(bytes[off + 16..off + 24].try_into().ok()?);
                let nsec = i64::from_ne_bytes(bytes[off + 24..off + 32].try_into().ok()?);
                return Some(sec as u64 * 1_000_000_000 + nsec as u64);
            }
            off += (len + 7) & !7;
        }
        None
    }
}

struct Args {
    ports: Option<String>,
    rtpengine: Option<SocketAddr>,
    calls: usize,
    levels: Vec<usize>,
    warmup: f64,
    secs: f64,
    pid: Option<u32>,
}

fn parse_args() -> Args {
    let mut a = Args {
        ports: None,
        rtpengine: None,
        calls: 0,
        levels: Vec::new(),
        warmup: 3.0,
        secs: 10.0,
        pid: None,
    };
    let v: Vec<String> = env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--ports" => a.ports = Some(val),
            "--rtpengine" => a.rtpengine = Some(val.parse().expect("--rtpengine ADDR")),
            "--calls" => a.calls = val.parse().expect("--calls N"),
            "--levels" => {
                a.levels = val
                    .split(',')
                    .map(|s| s.trim().parse().expect("--levels K,K,..."))
                    .collect()
            }
            "--warmup" => a.warmup = val.parse().expect("--warmup SECS"),
            "--secs" => a.secs = val.parse().expect("--secs SECS"),
            "--pid" => a.pid = Some(val.parse().expect("--pid PID")),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn bind() -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.into()
}

/// A socket for RTP and, with `sink`, one bound at its port + 1 (where relays
/// send RTCP reports), so the reports land somewhere instead of drawing ICMP
/// port-unreachable replies.
fn bind_pair(sink: bool) -> (UdpSocket, Option<UdpSocket>) {
    loop {
        let s = bind();
        if !sink {
            return (s, None);
        }
        let p = s.local_addr().unwrap().port();
        if p == u16::MAX {
            continue;
        }
        if let Ok(r) = UdpSocket::bind(("127.0.0.1", p + 1)) {
            return (s, Some(r));
        }
    }
}

// --- ng protocol (bencode) -------------------------------------------------------

fn bstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(format!("{}:", s.len()).as_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn ng_dict(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let mut out = b"d".to_vec();
    for (k, v) in sorted {
        bstr(&mut out, k);
        bstr(&mut out, v);
    }
    out.push(b'e');
    out
}

/// The value of a top-level string key in a bencoded reply (enough for
/// "result" and "sdp").
fn ng_get(reply: &[u8], key: &str) -> Option<String> {
    let needle = format!("{}:{}", key.len(), key);
    let pos = find(reply, needle.as_bytes())? + needle.len();
    let rest = &reply[pos..];
    let colon = rest.iter().position(|&b| b == b':')?;
    let n: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    Some(String::from_utf8_lossy(&rest[colon + 1..colon + 1 + n]).into_owned())
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn sdp_for(addr: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        ip = addr.ip(),
        port = addr.port()
    )
}

fn sdp_port(sdp: &str) -> Option<u16> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

fn ng(sock: &UdpSocket, server: SocketAddr, n: usize, pairs: &[(&str, &str)]) -> String {
    let cookie = format!("c{n}x{}", std::process::id());
    let mut msg = format!("{cookie} ").into_bytes();
    msg.extend(ng_dict(pairs));
    let mut buf = vec![0u8; 65536];
    for _ in 0..5 {
        sock.send_to(&msg, server).expect("ng send");
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            let r = &buf[..len];
            if r.starts_with(cookie.as_bytes()) {
                let res = ng_get(r, "result").unwrap_or_default();
                if res != "ok" {
                    panic!("rtpengine: {}", String::from_utf8_lossy(r));
                }
                return ng_get(r, "sdp").expect("sdp in the reply");
            }
        }
    }
    panic!("rtpengine did not answer");
}

/// Sets `calls` calls up in rtpengine; returns (A target port, B target port) each.
fn rtpengine_setup(
    server: SocketAddr,
    calls: usize,
    a: SocketAddr,
    b: SocketAddr,
) -> Vec<(u16, u16)> {
    let ctl = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sdp_a = sdp_for(a);
    let sdp_b = sdp_for(b);
    let mut out = Vec::with_capacity(calls);
    for i in 0..calls {
        let call_id = format!("bench-{}-{i}", std::process::id());
        let offer = ng(
            &ctl,
            server,
            2 * i,
            &[
                ("command", "offer"),
                ("call-id", &call_id),
                ("from-tag", "a"),
                ("sdp", &sdp_a),
            ],
        );
        let answer = ng(
            &ctl,
            server,
            2 * i + 1,
            &[
                ("command", "answer"),
                ("call-id", &call_id),
                ("from-tag", "a"),
                ("to-tag", "b"),
                ("sdp", &sdp_b),
            ],
        );
        // The offer's rewritten SDP goes to B: B sends there. The answer's goes to A.
        let pb = sdp_port(&offer).expect("port in the offer reply");
        let pa = sdp_port(&answer).expect("port in the answer reply");
        out.push((pa, pb));
    }
    out
}

// --- /proc -----------------------------------------------------------------------

fn cpu_ticks(pid: u32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: utime is field 14, stime 15.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let g = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    g(11) + g(12)
}

fn rss_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn udp_rcvbuf_errors() -> u64 {
    let s = fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let lines: Vec<&str> = s.lines().filter(|l| l.starts_with("Udp:")).collect();
    if lines.len() < 2 {
        return 0;
    }
    let h: Vec<&str> = lines[0].split_whitespace().collect();
    let v: Vec<&str> = lines[1].split_whitespace().collect();
    h.iter()
        .position(|&x| x == "RcvbufErrors")
        .and_then(|i| v.get(i)?.parse().ok())
        .unwrap_or(0)
}

// --- receive side ----------------------------------------------------------------

struct Window {
    lo: AtomicU64,
    hi: AtomicU64,
}

struct RxStats {
    got: u64,
    hist: Vec<u32>,
    over: u64,
}

impl RxStats {
    fn new() -> RxStats {
        RxStats {
            got: 0,
            hist: vec![0; HIST],
            over: 0,
        }
    }

    fn clear(&mut self) {
        self.got = 0;
        self.over = 0;
        self.hist.iter_mut().for_each(|c| *c = 0);
    }

    /// Counts a datagram received at `now` if its send stamp is in [lo, hi).
    fn count(&mut self, buf: &[u8], now: u64, lo: u64, hi: u64) {
        let Some(stamp) = buf.get(12..20) else {
            return;
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(stamp);
        let sent = u64::from_be_bytes(b);
        if sent >= lo && sent < hi {
            self.got += 1;
            let us = (now.saturating_sub(sent) / 1000) as usize;
            if us < HIST {
                self.hist[us] += 1;
            } else {
                self.over += 1;
            }
        }
    }
}

/// GEN_RX=threads: one thread per socket blocked in recvmmsg (the generator before
/// the fifth cut). Every datagram the relay sends then wakes a sleeping reader, and
/// on loopback that wake-up runs inside the relay's send and is charged to the relay.
fn receiver(sock: UdpSocket, win: Arc<Window>, stop: Arc<AtomicBool>, out: Arc<Mutex<RxStats>>) {
    use std::os::fd::AsRawFd;
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let fd = sock.as_raw_fd();
    let mut rx = sys::Rx::new();
    let mut local = RxStats::new();
    let mut last_flush = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let (lo, hi) = (
            win.lo.load(Ordering::Relaxed),
            win.hi.load(Ordering::Relaxed),
        );
        rx.recv(fd, sys::MSG_WAITFORONE, |buf, now| {
            local.count(buf, now, lo, hi)
        });
        if last_flush.elapsed() > Duration::from_millis(100) {
            let mut o = out.lock().unwrap();
            o.got += local.got;
            o.over += local.over;
            for (i, c) in local.hist.iter_mut().enumerate() {
                if *c != 0 {
                    o.hist[i] += *c;
                    *c = 0;
                }
            }
            local.got = 0;
            local.over = 0;
            last_flush = Instant::now();
        }
    }
    let mut o = out.lock().unwrap();
    o.got += local.got;
    o.over += local.over;
    for (i, c) in local.hist.iter().enumerate() {
        o.hist[i] += *c;
    }
}

/// The default: the sending thread also takes what has arrived, without blocking
/// (MSG_DONTWAIT), once per tick. Nobody sleeps on the sockets, so a datagram's
/// arrival wakes no one: the generator pays no wake-ups, and the relay's sends pay none
/// either (as when its packets leave by a NIC). SO_TIMESTAMPNS still stamps each
/// datagram when the kernel queues it, so the tick's wait is not in the latency.
fn drain(rx: &mut sys::Rx, fd: i32, st: &mut RxStats, lo: u64, hi: u64) {
    while rx.recv(fd, sys::MSG_DONTWAIT, |buf, now| st.count(buf, now, lo, hi)) == sys::RX_BATCH {}
}

fn percentile(hist: &[u32], over: u64, total: u64, q: f64) -> String {
    if total == 0 {
        return "null".into();
    }
    let want = ((total as f64) * q).ceil() as u64;
    let mut acc = 0u64;
    for (us, &c) in hist.iter().enumerate() {
        acc += c as u64;
        if acc >= want {
            return format!("{us}");
        }
    }
    let _ = over;
    format!("{}", HIST)
}

fn packet(buf: &mut [u8; PKT], stream: u32, seq: u16, ts: u32, sent_ns: u64) {
    buf[0] = 0x80;
    buf[1] = 0; // PCMU
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&(0x1000_0000u32 + stream).to_be_bytes());
    buf[12..20].copy_from_slice(&sent_ns.to_be_bytes());
    buf[20..24].copy_from_slice(&stream.to_be_bytes());
}

fn main() {
    let args = parse_args();
    let tick_ns: u64 = env::var("GEN_TICK_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
        * 1000;
    let rtcp_sink = env::var("RTCP_SINK").is_ok();
    let (sock_a, _rtcp_a) = bind_pair(rtcp_sink);
    let (sock_b, _rtcp_b) = bind_pair(rtcp_sink);
    let addr_a = sock_a.local_addr().unwrap();
    let addr_b = sock_b.local_addr().unwrap();

    let targets: Vec<(u16, u16)> = if let Some(file) = &args.ports {
        fs::read_to_string(file)
            .expect("ports file")
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .collect()
    } else if let Some(server) = args.rtpengine {
        let t0 = Instant::now();
        let t = rtpengine_setup(server, args.calls, addr_a, addr_b);
        eprintln!(
            "[gen] rtpengine: {} calls set up in {:.2}s",
            t.len(),
            t0.elapsed().as_secs_f64()
        );
        t
    } else {
        panic!("--ports FILE or --rtpengine ADDR --calls N");
    };
    let rss_setup = args.pid.map(rss_kb).unwrap_or(0);
    let mut seen = HashMap::new();
    for (a, b) in &targets {
        *seen.entry(*a).or_insert(0) += 1;
        *seen.entry(*b).or_insert(0) += 1;
    }
    assert!(
        seen.values().all(|&c| c == 1),
        "a port appears twice in the targets"
    );
    let max_level = args.levels.iter().copied().max().unwrap_or(0);
    assert!(
        max_level <= targets.len(),
        "level {max_level} above the {} calls set up",
        targets.len()
    );

    // Priming: one packet to every port from its leg's socket, so every leg latches
    // (loopstart learns the far end from the first packet), then a pause.
    // Priming packets use each stream's own SSRC and sequence (a stream's numbers
    // run on across priming and levels, as a phone's do), with send time 0 so no
    // window counts them.
    let mut buf = [0u8; PKT];
    let mut seq = vec![0u16; 2 * targets.len()];
    for _round in 0..3 {
        for (i, (pa, pb)) in targets.iter().enumerate() {
            for (s, sock, port) in [(2 * i, &sock_a, *pa), (2 * i + 1, &sock_b, *pb)] {
                packet(&mut buf, s as u32, seq[s], seq[s] as u32 * 160, 0);
                seq[s] = seq[s].wrapping_add(1);
                let _ = sock.send_to(&buf, SocketAddr::from(([127, 0, 0, 1], port)));
            }
            if i % 64 == 63 {
                thread::sleep(Duration::from_micros(500));
            }
        }
        thread::sleep(Duration::from_millis(200));
    }

    use std::os::fd::AsRawFd;
    let (fd_a, fd_b) = (sock_a.as_raw_fd(), sock_b.as_raw_fd());
    for fd in [fd_a, fd_b] {
        if !sys::enable_rx_timestamps(fd) {
            eprintln!(
                "[gen] SO_TIMESTAMPNS refused: latency includes the generator's receive delay"
            );
        }
    }
    let rx_threads = env::var("GEN_RX").as_deref() == Ok("threads");
    let win = Arc::new(Window {
        lo: AtomicU64::new(u64::MAX),
        hi: AtomicU64::new(u64::MAX),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(RxStats::new()));
    let mut rx = Vec::new();
    if rx_threads {
        for s in [&sock_a, &sock_b] {
            let (s, w, st, o) = (
                s.try_clone().unwrap(),
                win.clone(),
                stop.clone(),
                stats.clone(),
            );
            rx.push(thread::spawn(move || receiver(s, w, st, o)));
        }
    }
    // The polled receive's buffers and counts (GEN_RX unset).
    let mut prx = sys::Rx::new();
    let mut pstats = RxStats::new();
    // Packets per sendmmsg: a chunk is stamped just before its call, so the last
    // packet of a chunk carries the time the chunk took to send (a few µs each).
    const CHUNK: usize = 32;
    let mut tx_a = sys::Tx::new(CHUNK);
    let mut tx_b = sys::Tx::new(CHUNK);
    let mut due_a: Vec<usize> = Vec::with_capacity(CHUNK);
    let mut due_b: Vec<usize> = Vec::with_capacity(CHUNK);

    for &level in &args.levels {
        stats.lock().unwrap().clear();
        pstats.clear();
        let streams = 2 * level; // stream 2i: A -> B of call i; 2i+1: B -> A
        let start = sys::now_ns() + 5_000_000;
        let w_lo = start + (args.warmup * 1e9) as u64;
        let w_hi = w_lo + (args.secs * 1e9) as u64;
        win.lo.store(w_lo, Ordering::Relaxed);
        win.hi.store(w_hi, Ordering::Relaxed);
        // Each stream's next due time, phases spread over the 20 ms.
        let mut due: Vec<u64> = (0..streams)
            .map(|s| start + (s as u64 * PTIME_NS) / streams.max(1) as u64)
            .collect();
        let mut sent_in_window = 0u64;
        let mut send_errors = 0u64;
        let (mut cpu0, mut cpu1, mut rss, mut drops0) = (0, 0, 0, 0);
        let drops1;
        let mut window_started = false;
        let mut next = 0usize; // streams are due in round-robin order
        let dest: Vec<(sys::SockaddrIn, bool)> = (0..streams)
            .map(|s| {
                let (pa, pb) = targets[s / 2];
                let port = if s % 2 == 0 { pa } else { pb };
                (
                    sys::sockaddr(std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port)),
                    s % 2 == 0,
                )
            })
            .collect();
        let mut max_lag = 0u64;
        // Lag of each packet sent in the window, 100 µs buckets up to 10 s: a single
        // hiccup (the box is shared) shows in the max, a generator that cannot keep up
        // in the 99th percentile.
        let mut lag_hist = vec![0u32; 100_000];
        let mut batches = 0u64;
        let mut gen_cpu_w0 = 0;
        let gen_cpu_w1;
        let load1;
        loop {
            let now = sys::now_ns();
            if !window_started && now >= w_lo {
                window_started = true;
                if let Some(pid) = args.pid {
                    cpu0 = cpu_ticks(pid);
                }
                gen_cpu_w0 = cpu_ticks(std::process::id());
                drops0 = udp_rcvbuf_errors();
            }
            if now >= w_hi {
                if let Some(pid) = args.pid {
                    cpu1 = cpu_ticks(pid);
                    rss = rss_kb(pid);
                }
                gen_cpu_w1 = cpu_ticks(std::process::id());
                drops1 = udp_rcvbuf_errors();
                load1 = fs::read_to_string("/proc/loadavg")
                    .ok()
                    .and_then(|l| l.split_whitespace().next().map(str::to_owned))
                    .unwrap_or_else(|| "null".into());
                break;
            }
            // Everything due by now, in chunks of at most CHUNK per socket, each chunk
            // stamped just before its sendmmsg.
            loop {
                let now = sys::now_ns();
                if now >= w_hi {
                    // Behind for good (more than it can send): the window is over.
                    break;
                }
                if !window_started && now >= w_lo {
                    // (also here: a generator behind schedule may never leave this loop
                    // between the window's start and its end)
                    window_started = true;
                    if let Some(pid) = args.pid {
                        cpu0 = cpu_ticks(pid);
                    }
                    gen_cpu_w0 = cpu_ticks(std::process::id());
                    drops0 = udp_rcvbuf_errors();
                }
                due_a.clear();
                due_b.clear();
                while streams > 0 && due[next] <= now && due_a.len() < CHUNK && due_b.len() < CHUNK
                {
                    if dest[next].1 {
                        due_a.push(next);
                    } else {
                        due_b.push(next);
                    }
                    next = (next + 1) % streams;
                }
                if due_a.is_empty() && due_b.is_empty() {
                    break;
                }
                for (fd, tx, list) in [(fd_a, &mut tx_a, &due_a), (fd_b, &mut tx_b, &due_b)] {
                    if list.is_empty() {
                        continue;
                    }
                    let stamp = sys::now_ns();
                    for &s in list.iter() {
                        let t = due[s];
                        let lag = stamp.saturating_sub(t);
                        max_lag = max_lag.max(lag);
                        if stamp >= w_lo && stamp < w_hi {
                            let last = lag_hist.len() - 1;
                            lag_hist[((lag / 100_000) as usize).min(last)] += 1;
                        }
                        packet(
                            tx.slot(dest[s].0),
                            s as u32,
                            seq[s],
                            seq[s] as u32 * 160,
                            stamp,
                        );
                        seq[s] = seq[s].wrapping_add(1);
                        due[s] = t + PTIME_NS;
                    }
                    debug_assert!(!tx.is_full() || list.len() == CHUNK);
                    let (ok, err) = tx.send(fd);
                    batches += 1;
                    send_errors += err as u64;
                    if stamp >= w_lo && stamp < w_hi {
                        sent_in_window += ok as u64;
                    }
                }
                if !rx_threads {
                    drain(&mut prx, fd_a, &mut pstats, w_lo, w_hi);
                    drain(&mut prx, fd_b, &mut pstats, w_lo, w_hi);
                }
            }
            // Sleep to the next due packet, but at least one tick: packets due within
            // the tick go out together in the next batch.
            let wait = due
                .get(next)
                .map_or(1_000_000, |&d| d.saturating_sub(sys::now_ns()));
            thread::sleep(Duration::from_nanos(wait.clamp(tick_ns, 1_000_000)));
        }
        // Drain: packets sent at the window's end still in flight.
        let end = Instant::now() + Duration::from_millis(500);
        while Instant::now() < end {
            if !rx_threads {
                drain(&mut prx, fd_a, &mut pstats, w_lo, w_hi);
                drain(&mut prx, fd_b, &mut pstats, w_lo, w_hi);
            }
            thread::sleep(Duration::from_millis(1));
        }
        let shared = stats.lock().unwrap();
        let o: &RxStats = if rx_threads { &shared } else { &pstats };
        let (got, p50, p99, p999, max, over) = {
            let total = o.got;
            let maxus = o.hist.iter().rposition(|&c| c != 0).map_or(0, |i| i as u64);
            (
                total,
                percentile(&o.hist, o.over, total, 0.50),
                percentile(&o.hist, o.over, total, 0.99),
                percentile(&o.hist, o.over, total, 0.999),
                maxus,
                o.over,
            )
        };
        drop(shared);
        // Stop counting until the next level sets its window.
        win.lo.store(u64::MAX, Ordering::Relaxed);
        let loss = if sent_in_window > 0 {
            1.0 - got as f64 / sent_in_window as f64
        } else {
            0.0
        };
        let lag_p99_us = {
            let total: u64 = lag_hist.iter().map(|&c| u64::from(c)).sum();
            let want = (total as f64 * 0.99).ceil() as u64;
            let mut acc = 0u64;
            let mut at = 0usize;
            for (i, &c) in lag_hist.iter().enumerate() {
                acc += u64::from(c);
                if acc >= want {
                    at = i;
                    break;
                }
            }
            // The bucket's upper edge.
            (at as u64 + 1) * 100
        };
        let cpu_s = (cpu1.saturating_sub(cpu0)) as f64 / 100.0;
        let us_per_pkt = if got > 0 {
            cpu_s * 1e6 / got as f64
        } else {
            0.0
        };
        println!(
            "{{\"calls\":{level},\"sent\":{sent_in_window},\"received\":{got},\"loss_pct\":{:.4},\"lat_p50_us\":{p50},\"lat_p99_us\":{p99},\"lat_p999_us\":{p999},\"lat_max_us\":{max},\"lat_over_1s\":{over},\"relay_cpu_s\":{cpu_s:.2},\"relay_cpu_us_per_pkt\":{us_per_pkt:.2},\"relay_rss_kb\":{rss},\"udp_rcvbuf_errors\":{},\"send_errors\":{send_errors},\"gen_max_lag_us\":{},\"gen_lag_p99_us\":{lag_p99_us},\"gen_cpu_s\":{:.2},\"gen_batches\":{batches},\"rss_after_setup_kb\":{rss_setup},\"load1\":{load1}}}",
            loss * 100.0,
            drops1.saturating_sub(drops0),
            max_lag / 1000,
            gen_cpu_w1.saturating_sub(gen_cpu_w0) as f64 / 100.0
        );
        eprintln!(
            "[gen] {level} calls: sent {sent_in_window}, received {got}, loss {:.4}%, p50 {p50} us, p99 {p99} us, relay CPU {cpu_s:.2}s = {us_per_pkt:.2} us/pkt, RSS {rss} kB, rcvbuf errors {}, send errors {send_errors}, pacing lag max {} us (p99 {lag_p99_us} us), generator CPU {:.2}s, load {load1}",
            loss * 100.0,
            drops1.saturating_sub(drops0),
            max_lag / 1000,
            gen_cpu_w1.saturating_sub(gen_cpu_w0) as f64 / 100.0
        );
    }
    stop.store(true, Ordering::Relaxed);
    for h in rx {
        let _ = h.join();
    }
}
