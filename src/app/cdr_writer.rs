//! The CDR writer: its own thread, so that the fsync each record needs never stalls
//! signalling or media. Finished channels arrive with the receiver their RTP
//! statistics come back on; whatever has queued up while the previous sync ran is
//! written as one batch with one sync (group commit), then retention runs.
//!
//! A call the phone ended with BYE has its 200 held until its record is durable: once
//! a batch is synced, the writer hands those legs back (`durable`), and the driver
//! answers the BYEs. API requests (`cdr list`) come on the same queue, so the log has
//! one owner.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::media::engine::RtpStats;
use crate::sip::dialog::LegId;
use crate::switch::cdr::Cdr;
use crate::switch::cdr_log::{self, CdrLog, LegKind};
use crate::switch::Finished;

/// At most this many records per sync.
const MAX_BATCH: usize = 512;
/// How long a record waits for its channel's RTP statistics before it is written
/// without them.
const STATS_WAIT: Duration = Duration::from_secs(2);
/// A batch sync slower than this is logged (the BYEs of its calls wait for it).
const SLOW_SYNC: Duration = Duration::from_secs(1);
/// Retention runs at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub enum CdrRequest {
    Write {
        finished: Box<Finished>,
        stats: oneshot::Receiver<RtpStats>,
    },
    List {
        n: usize,
        reply: oneshot::Sender<String>,
    },
    Rotate {
        reply: oneshot::Sender<String>,
    },
}

/// Starts the writer thread; it ends when every sender is dropped.
pub fn start(
    mut log: CdrLog,
    durable: tokio::sync::mpsc::UnboundedSender<LegId>,
) -> std::io::Result<mpsc::Sender<CdrRequest>> {
    let (tx, rx) = mpsc::channel::<CdrRequest>();
    thread::Builder::new()
        .name("loopstart-cdr".into())
        .spawn(move || {
            let mut last_prune = Instant::now();
            while let Ok(first) = rx.recv() {
                let mut batch = Vec::new();
                let mut byes = Vec::new();
                let mut next = Some(first);
                while let Some(req) = next.take() {
                    match req {
                        CdrRequest::Write { finished, stats } => {
                            byes.extend(finished.bye);
                            batch.push(record(*finished, stats))
                        }
                        CdrRequest::List { n, reply } => {
                            flush(&mut log, &mut batch);
                            let _ = reply.send(cdr_log::format_list(&log.list(n)));
                        }
                        CdrRequest::Rotate { reply } => {
                            flush(&mut log, &mut batch);
                            let _ = reply.send(match log.rotate() {
                                Ok(()) => "+OK\n".to_string(),
                                Err(e) => format!("-ERR cannot rotate the CDR files: {e}\n"),
                            });
                        }
                    }
                    if batch.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                flush(&mut log, &mut batch);
                for leg in byes.drain(..) {
                    let _ = durable.send(leg);
                }
                if last_prune.elapsed() >= PRUNE_EVERY {
                    last_prune = Instant::now();
                    let gone = log.prune(crate::app::unix_ms() * 1000);
                    if gone > 0 {
                        tracing::info!(removed = gone, "CDR retention: old records removed");
                    }
                }
            }
        })?;
    Ok(tx)
}

/// The record of a finished channel, with its RTP statistics when they come in time.
fn record(finished: Finished, stats: oneshot::Receiver<RtpStats>) -> (LegKind, Cdr) {
    let mut channel = finished.channel;
    let deadline = Instant::now() + STATS_WAIT;
    let mut stats = stats;
    // The media thread answers within microseconds: spin a little before sleeping,
    // since the caller's BYE waits for this record.
    let mut tries = 0u32;
    let got = loop {
        tries += 1;
        match stats.try_recv() {
            Ok(s) => break Some(s),
            Err(oneshot::error::TryRecvError::Closed) => break None,
            Err(oneshot::error::TryRecvError::Empty) => {
                if Instant::now() >= deadline {
                    tracing::warn!(uuid = %channel.uuid, "RTP statistics late: CDR written without them");
                    break None;
                }
                if tries < 100 {
                    thread::yield_now();
                } else {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        }
    };
    if let Some(s) = got {
        for (name, value) in s.variables() {
            channel.set(name, &value);
        }
    }
    let leg = if finished.outbound {
        LegKind::B
    } else {
        LegKind::A
    };
    (
        leg,
        Cdr::from_channel(&channel, finished.times, finished.utc_offset),
    )
}

fn flush(log: &mut CdrLog, batch: &mut Vec<(LegKind, Cdr)>) {
    if batch.is_empty() {
        return;
    }
    let refs: Vec<(LegKind, &Cdr)> = batch.iter().map(|(l, c)| (*l, c)).collect();
    let started = Instant::now();
    let written = log.write_batch(&refs);
    let took = started.elapsed();
    if took >= SLOW_SYNC {
        // The phones' BYEs wait for this sync: past a few seconds they retransmit, and
        // past 32 s their transactions time out.
        tracing::warn!(
            records = batch.len(),
            took_ms = took.as_millis() as u64,
            "CDR sync was slow: the flash (or something else writing to it) is holding up the 200s to BYE"
        );
    }
    if written.is_err() {
        tracing::error!(
            records = batch.len(),
            "CDRs may not be durable (see the error above)"
        );
    }
    batch.clear();
}
