//! The process's open-file limit: each call leg holds two sockets (RTP and RTCP), so a
//! box configured for 1,000 calls needs about 4,000 descriptors, and many systems start
//! a process with a soft limit of 1,024. Raised at start to what the hard limit allows.

/// Descriptors besides the calls' sockets: SIP, the store, the event socket, logs.
const BASE: u64 = 256;

/// Raises the soft limit towards `4 * max_sessions + BASE`; says what to do when the
/// hard limit is too low.
pub fn raise_open_files(max_sessions: u32) {
    let wanted = 4 * u64::from(max_sessions) + BASE;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    // rlim_t is u64 here, but 32 bits on some 32-bit C libraries.
    #[allow(clippy::unnecessary_cast)]
    let (soft, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    if soft >= wanted {
        return;
    }
    let target = wanted.min(hard);
    if target > soft {
        lim.rlim_cur = target as libc::rlim_t;
        // SAFETY: setrlimit reads one rlimit from `lim`.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            tracing::warn!(soft, hard, "could not raise the open-file limit");
        }
    }
    if hard < wanted {
        tracing::warn!(
            hard,
            wanted,
            max_sessions,
            "the open-file limit is below what max-sessions needs (two sockets per call leg): \
             raise it (LimitNOFILE= in the service, ulimit -Hn) or lower max-sessions"
        );
    }
}

#[cfg(test)]
mod tests {
    fn limits() -> libc::rlimit {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into `lim`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        lim
    }

    #[test]
    fn the_soft_limit_is_raised_for_the_sessions() {
        // Start from a low soft limit (a test runner may already run with a high
        // one), raise, then put back what the process had.
        let before = limits();
        let mut low = before;
        low.rlim_cur = before.rlim_cur.min(512);
        // SAFETY: setrlimit reads one rlimit; lowering the soft limit is allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        super::raise_open_files(300);
        let after = limits();
        // SAFETY: as above; the soft limit goes back below the unchanged hard one.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &before) };
        #[allow(clippy::unnecessary_cast)]
        let (soft, hard) = (after.rlim_cur as u64, after.rlim_max as u64);
        let want = (4 * 300 + super::BASE).min(hard);
        assert!(soft >= want, "soft {soft} < {want}");
    }
}
