//! Wiring: builds the running gateway from the configuration and supervises its tasks.
//!
//! `run` loads and validates the config, opens the store, settles first-boot passwords,
//! binds every listener (so a port clash is reported before anything starts), starts a
//! driver task per SIP profile and the event socket, then waits for SIGTERM/SIGINT and
//! shuts down with the store synced.

mod acls;
mod api;
mod api_calls;
mod api_sofia;
mod blacklist;
mod cdr_writer;
mod driver;
mod gateways;
mod guard;
mod limit_api;
mod limits;
mod memory;
mod nat;
mod notify;
pub mod secrets;
pub mod webd;

pub use driver::unix_ms;

use crate::config::{Config, Domain, SipProfile};
use crate::esl::{self, AclCheck, ApiRegistry, EslServerConfig};
use crate::sip::auth::Algorithm;
use crate::sip::core::{CoreConfig, Directory, SipCore};
use crate::sip::registrar::RegistrarPolicy;
use crate::sip::transaction::TxConfig;
use crate::sip::transport::{tcp, StreamEvent};
use crate::sip::wire::Limits;
use crate::store::{Binding, Store};
use driver::{Driver, ProfileHandle};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A startup failure, worded for the operator.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Runs the gateway until SIGTERM or SIGINT.
pub async fn run(config: Config, data_dir: &Path) -> Result<(), StartError> {
    let started = Instant::now();
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StartError(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    limits::raise_open_files(config.switch.max_sessions);
    let cache = u64::from(config.switch.store_cache_mb) * 1024 * 1024;
    let store = Store::open(data_dir, cache).map_err(|e| StartError(e.to_string()))?;

    let domain = config
        .domains
        .first()
        .ok_or_else(|| {
            StartError(format!(
                "no domain in {}/directory: add directory/default.xml with a <domain>",
                config.conf_dir.display()
            ))
        })?
        .clone();
    if config.domains.len() > 1 {
        tracing::warn!(
            "only the first domain ({}) is served; the others are ignored for now",
            domain.name
        );
    }

    let (passwords, a1_hashes) = settle_passwords(&store, &domain)?;

    if let Some(board) = &config.board {
        crate::hw::report(board);
    }

    // Event socket: never with a well-known password.
    let esl_cfg = &config.event_socket;
    let esl_password = match esl_cfg.password.as_deref() {
        None => secrets::esl_password(data_dir).map_err(|e| {
            StartError(format!(
                "cannot create the event socket password under {}: {e}",
                data_dir.display()
            ))
        })?,
        Some(p) => esl::validate_password(Some(p))
            .map_err(|e| StartError(format!("{}: {e}", esl_cfg.source)))?
            .to_string(),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let restored = load_registrations(&store)?;

    let (dialplan, dialplan_warnings) = crate::dialplan::load(&config.conf_dir, &config.vars)
        .map_err(|e| StartError(format!("the dialplan does not load:\n{e}")))?;
    for w in &dialplan_warnings {
        tracing::warn!("{w}");
    }
    // The phones' profile ("internal" when there is one) sets the media engine's RTP
    // address and timeouts.
    let media_profile = config
        .profiles
        .iter()
        .find(|p| p.name == "internal")
        .or(config.profiles.first());
    let seconds = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
    let media_cfg = crate::media::engine::MediaConfig {
        rtp_ip: media_profile.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |p| p.rtp_ip),
        port_min: config.switch.rtp_start_port,
        port_max: config.switch.rtp_end_port,
        rtp_timeout: media_profile.and_then(|p| seconds(p.rtp_timeout_sec)),
        hold_timeout: media_profile.and_then(|p| seconds(p.rtp_hold_timeout_sec)),
        max_sessions: config.switch.max_sessions as usize * 2,
    };
    let (media, media_events) = crate::media::engine::MediaEngine::start(media_cfg)
        .map_err(|e| StartError(format!("cannot start the media engine: {e}")))?;
    let mut cdr_log =
        crate::switch::cdr_log::CdrLog::open(&store, config.cdr_csv.clone(), data_dir)
            .map_err(|e| StartError(format!("cannot open the call records: {e}")))?;
    let zone = crate::tz::Zone::local();
    cdr_log.set_utc_offset(zone.offset_at((unix_ms() / 1000) as i64));
    let (durable_tx, durable) = mpsc::unbounded_channel();
    let cdrs = cdr_writer::start(cdr_log, durable_tx)
        .map_err(|e| StartError(format!("cannot start the CDR writer: {e}")))?;
    let (events_tx, _) = tokio::sync::broadcast::channel::<esl::EslEvent>(1024);

    let acls = acls::SharedAcls::new(&config);
    // One identity for every event the box fires (switch, gateways, guard).
    let core_uuid = crate::ids::uuid_v4();
    let guard = guard::Guard::start(
        &config.fail2ban,
        &store,
        guard::EventSource {
            events: events_tx.clone(),
            core_uuid: core_uuid.clone(),
            hostname: hostname(),
            utc_offset: zone.offset_at((unix_ms() / 1000) as i64),
        },
    )?;
    let blacklists =
        blacklist::SharedBlacklists::start(&config.blacklist, &store, config.conf_dir.clone())?;
    // Every profile's sockets, then one driver for all of them and the switch.
    let (query_tx, query_rx) = mpsc::channel(64);
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    let mut cores = Vec::new();
    let mut profile_calls = Vec::new();
    let mut io = Vec::new();
    for (i, profile) in config.profiles.iter().enumerate() {
        let bound = bind_profile(
            &config,
            i,
            profile,
            &domain,
            (&passwords, &a1_hashes),
            &restored,
            &ProfileGuards {
                acls: &acls,
                screen: guard.screen(),
                admit: guard.admission(),
            },
        )
        .await?;
        handles.push(ProfileHandle {
            name: profile.name.clone(),
            index: i,
            queries: query_tx.clone(),
        });
        cores.push(bound.core);
        profile_calls.push(bound.calls);
        io.push(bound.io);
        tasks.extend(bound.tasks);
        ready.push(bound.summary);
    }
    let switch = crate::switch::Switch::new(
        crate::switch::SwitchConfig {
            profiles: profile_calls,
            domain: domain.name.clone(),
            users: domain
                .users
                .iter()
                .map(|u| (u.id.clone(), u.variables.clone()))
                .collect(),
            dialplan,
            zone,
            max_sessions: config.switch.max_sessions as usize,
            core_uuid: core_uuid.clone(),
            hostname: hostname(),
            api: Some(blacklists.hook()),
            limit_max_keys: config.switch.max_limit_keys,
        },
        Box::new(MediaPorts(media.clone())),
    );
    let driver = Driver {
        sip: crate::sip::profiles::Profiles::new(cores),
        io,
        switch,
        media: media.clone(),
        media_events,
        events: events_tx.clone(),
        cdrs: cdrs.clone(),
        durable,
        stats_for: Default::default(),
        queries: query_rx,
        registrations: store
            .tree::<Binding>()
            .map_err(|e| StartError(e.to_string()))?,
        shutdown: shutdown_rx.clone(),
        guard: guard.clone(),
    };
    tasks.push(tokio::spawn(driver.run()));
    tasks.push(tokio::spawn(guard::expire_bans(guard.clone())));
    let media_for_status = media;

    let mut registry = ApiRegistry::new();
    acls.register_api(&mut registry, config.conf_dir.clone());
    guard.register_api(&mut registry);
    blacklists.register_api(&mut registry);
    limit_api::register_all(&mut registry, &handles);
    api::register_all(
        &mut registry,
        Arc::new(api::ApiContext {
            started,
            hostname: hostname(),
            max_sessions: config.switch.max_sessions,
            profiles: handles.clone(),
            passwords,
            domain: domain.name.clone(),
            media: Some(media_for_status),
            conf_dir: config.conf_dir.clone(),
            blacklists: Some(blacklists.clone()),
        }),
    );
    let webd_state = Arc::new(webd::WebdState::default());
    webd_state.register_api(&mut registry);
    api_calls::register_all(
        &mut registry,
        handles.clone(),
        cdrs.clone(),
        config.conf_dir.clone(),
        Arc::new(move |c: &Config| blacklists.replace(&c.blacklist)),
    );
    let addr = SocketAddr::new(esl_cfg.listen_ip, esl_cfg.listen_port);
    let esl_acl = match &esl_cfg.apply_inbound_acl {
        None => None,
        Some((name, source)) => {
            let names = std::slice::from_ref(name);
            acls.validate(names)
                .map_err(|e| StartError(format!("{source}: apply-inbound-acl: {e}")))?;
            let check = acls.check(names).map(|c| -> AclCheck { c.0 });
            ready.push(format!("event socket ACL {name}"));
            check
        }
    };
    // A banned source cannot reach the event socket either; a wrong password counts.
    let not_banned = guard.clone();
    let esl_acl: AclCheck = match esl_acl {
        Some(acl) => Arc::new(move |ip| !not_banned.is_banned(ip) && acl(ip)),
        None => Arc::new(move |ip| !not_banned.is_banned(ip)),
    };
    let (esl_notices, mut esl_notices_rx) = mpsc::channel::<esl::EslNotice>(256);
    let counts = guard.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(n) = esl_notices_rx.recv().await {
            if let esl::EslNotice::AuthFailed { peer } = n {
                counts.failure(
                    peer.ip(),
                    crate::guard::fail2ban::FailureKind::EslAuth,
                    "",
                    "wrong event socket password",
                );
            }
        }
    }));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error("event socket", addr, &esl_cfg.source, e))?;
    // The web page's process logs in with an account of its own, made fresh at every
    // start, that may only read status and report to the guard.
    let webd_esl_password = secrets::random_password(32);
    let cfg = EslServerConfig {
        listen: addr,
        password: esl_password.clone(),
        max_connections: 32,
        auth_timeout: Duration::from_secs(10),
        accounts: esl::account_from_directory(&config.domains)
            .into_iter()
            .chain([webd::esl_account(&webd_esl_password)])
            .collect(),
    };
    tasks.push(tokio::spawn(esl::serve_with_acl(
        listener,
        cfg,
        registry.clone(),
        Some(events_tx),
        Some(esl_notices),
        Some(esl_acl),
        shutdown_rx.clone(),
    )));
    ready.push(format!("event socket on {addr}"));
    // The web page's process talks to the gateway through the event socket just opened.
    if let Some(web) = webd::start(
        &config,
        data_dir,
        &hostname(),
        (addr, &webd_esl_password),
        &webd_state,
    )
    .map_err(StartError)?
    {
        ready.push(web);
    }

    // What start-up parsed is no longer needed; keep only what the tasks hold.
    drop(config);
    drop(restored);
    memory::release_free_memory();
    tasks.push(tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            memory::release_free_memory();
        }
    }));
    tracing::info!("loopstart ready: {}", ready.join("; "));
    let notifier = notify::Notifier::from_env().map(Arc::new);
    if let Some(n) = &notifier {
        n.send(&format!("READY=1\nSTATUS={}", ready.join("; ")));
        if let Some(every) = notify::watchdog_interval() {
            tasks.push(tokio::spawn(watchdog(n.clone(), handles, every)));
        }
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    let _ = shutdown_tx.send(true);
    webd_state.stop();
    // Give drivers a moment to write out what they hold.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for t in tasks {
        t.abort();
    }
    store
        .sync()
        .map_err(|e| StartError(format!("could not sync the store at shutdown: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// Pings systemd's watchdog while every SIP profile's driver answers a query: a driver
/// stuck in a loop stops the pings, and systemd restarts the gateway.
async fn watchdog(notifier: Arc<notify::Notifier>, profiles: Vec<ProfileHandle>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let mut alive = true;
        for p in &profiles {
            let answer = tokio::time::timeout(every, p.query(Box::new(|_| String::new()))).await;
            if !matches!(answer, Ok(Ok(_))) {
                tracing::error!(profile = %p.name, "SIP profile driver did not answer within {every:?}: not pinging the watchdog");
                alive = false;
            }
        }
        if alive {
            notifier.send("WATCHDOG=1");
        }
    }
}

type Passwords = BTreeMap<String, String>;

/// Each user's effective password (configured, or generated once at first boot), and
/// the `a1-hash` of users configured with one instead.
fn settle_passwords(store: &Store, domain: &Domain) -> Result<(Passwords, Passwords), StartError> {
    let mut passwords = BTreeMap::new();
    let mut a1_hashes = BTreeMap::new();
    for user in &domain.users {
        match secrets::effective_password(store, user, &domain.name)
            .map_err(|e| StartError(e.to_string()))?
        {
            Some(pw) => {
                passwords.insert(user.id.clone(), pw);
            }
            None => {
                if let Some(h) = &user.a1_hash {
                    a1_hashes.insert(user.id.clone(), h.clone());
                }
            }
        }
    }
    Ok((passwords, a1_hashes))
}

/// The persisted location service; unreadable entries are logged and dropped (a phone
/// re-registers, nothing else depends on them).
fn load_registrations(store: &Store) -> Result<Vec<Binding>, StartError> {
    let tree = store
        .tree::<Binding>()
        .map_err(|e| StartError(e.to_string()))?;
    let mut restored = Vec::new();
    for (key, item) in tree.iter() {
        match item {
            Ok(b) => restored.push(b),
            Err(e) => {
                tracing::warn!(key = %String::from_utf8_lossy(&key), error = %e, "dropping unreadable registration");
                let _ = tree.remove(&key, crate::store::Durability::Lazy);
            }
        }
    }
    Ok(restored)
}

/// A SIP profile with its sockets bound, ready for the driver.
struct BoundProfile {
    core: SipCore,
    /// What the switch needs for this profile's calls.
    calls: crate::switch::ProfileCalls,
    io: driver::ProfileIo,
    tasks: Vec<JoinHandle<()>>,
    summary: String,
}

/// What guards a profile: the ACLs it names, the guard's look at each request, and
/// its yes or no on a connecting source.
struct ProfileGuards<'a> {
    acls: &'a acls::SharedAcls,
    screen: crate::sip::core::RequestScreen,
    admit: crate::sip::core::AddressCheck,
}

/// Builds a profile's core (with its gateways) and binds its sockets.
async fn bind_profile(
    config: &Config,
    index: usize,
    profile: &SipProfile,
    domain: &Domain,
    (passwords, a1_hashes): (&Passwords, &Passwords),
    restored: &[Binding],
    guards: &ProfileGuards<'_>,
) -> Result<BoundProfile, StartError> {
    let acls = guards.acls;
    let directory = build_directory(profile, &domain.name, passwords, a1_hashes);
    let seed = secrets::random_secret();
    acls.validate(&profile.apply_inbound_acl)
        .map_err(|e| StartError(format!("{}: apply-inbound-acl: {e}", profile.source)))?;
    let inbound_acl = acls.check(&profile.apply_inbound_acl);
    acls.validate(&profile.apply_register_acl)
        .map_err(|e| StartError(format!("{}: apply-register-acl: {e}", profile.source)))?;
    let register_acl = acls.check_all(&profile.apply_register_acl);
    let outside = nat::outside(profile, acls);
    let mut core_cfg = core_config(
        config,
        index,
        profile,
        inbound_acl,
        register_acl,
        outside.sip,
    );
    core_cfg.screen = Some(guards.screen.clone());
    let mut core = SipCore::new(
        core_cfg,
        directory,
        secrets::random_secret(),
        u64::from_le_bytes([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
        ]),
    );
    let suffix = format!("@{}", domain.name);
    // A binding belongs to the profile it registered on. Records from before there
    // were several profiles name none: they were the phones' profile's.
    let phones_profile = profile.name == "internal"
        || (index == 0 && !config.profiles.iter().any(|p| p.name == "internal"));
    let mine: Vec<Binding> = restored
        .iter()
        .filter(|b| b.aor.ends_with(&suffix))
        .filter(|b| match b.profile.as_deref() {
            Some(p) => p == profile.name,
            None => phones_profile,
        })
        .cloned()
        .collect();
    let n_restored = mine.len();
    core.restore(mine, unix_ms());
    let now = Instant::now();
    for gw in &profile.gateways {
        // A carrier's name that does not resolve yet (no DNS at boot) must not keep
        // the phones from working: the gateway waits for `sofia profile P rescan`.
        let host_for = |ip| core.host_for(ip).to_string();
        match gateways::setup(gw, profile, &host_for) {
            Ok(setup) => core.add_gateway(setup, now),
            Err(e) => tracing::error!(gateway = %gw.name, source = %gw.source,
                "gateway not started: {e}; fix the address or the network, then `sofia profile {} rescan`",
                profile.name),
        }
    }

    let mut tasks = Vec::new();
    let addr = SocketAddr::new(profile.sip_ip, profile.sip_port);
    let udp = if profile.udp {
        let s = crate::sip::transport::udp::bind(addr)
            .map_err(|e| bind_error("SIP UDP", addr, &profile.source, e))?;
        Some(Arc::new(s))
    } else {
        None
    };
    let (stream_tx, stream_rx) = mpsc::channel::<StreamEvent>(1024);
    let limits = tcp::TcpLimits {
        max_connections: 1024,
        idle_timeout: Duration::from_secs(3600),
        wire: wire_limits(config),
    };
    if profile.tcp {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| bind_error("SIP TCP", addr, &profile.source, e))?;
        tasks.push(tokio::spawn(tcp::accept_loop(
            listener,
            limits,
            Some(guards.admit.clone()),
            stream_tx.clone(),
        )));
    }
    let gateways = match profile.gateways.len() {
        0 => String::new(),
        n => format!(", {n} gateway{}", if n == 1 { "" } else { "s" }),
    };
    Ok(BoundProfile {
        calls: crate::switch::ProfileCalls {
            name: profile.name.clone(),
            context: profile.context.clone(),
            codecs: offerable(&profile.codec_prefs),
            outside_rtp: outside.rtp,
        },
        core,
        io: driver::ProfileIo::new(udp, (stream_tx, stream_rx), limits),
        tasks,
        summary: format!(
            "sip profile {} on {addr} ({}{}), {} users, {} registrations restored{gateways}",
            profile.name,
            if profile.udp { "udp" } else { "" },
            if profile.tcp { " tcp" } else { "" },
            domain.users.len(),
            n_restored
        ),
    })
}

/// The switch opens RTP ports through the media engine.
struct MediaPorts(crate::media::engine::MediaEngine);

impl crate::switch::MediaPorts for MediaPorts {
    fn open(&mut self, id: crate::switch::MediaId) -> std::io::Result<SocketAddr> {
        // The driver wakes the media thread once after each round of the switch.
        self.0.open_deferred(id)
    }
}

/// The codecs a profile (or a gateway) offers and accepts, from its codec-prefs.
fn offerable(codec_prefs: &[String]) -> crate::sip::sdp::Offerable {
    use crate::sip::sdp::Codec;
    let codecs: Vec<Codec> = codec_prefs
        .iter()
        .filter_map(|c| match c.to_ascii_uppercase().split('@').next() {
            Some("PCMU") => Some(Codec::Pcmu),
            Some("PCMA") => Some(Codec::Pcma),
            _ => None,
        })
        .collect();
    crate::sip::sdp::Offerable {
        codecs: if codecs.is_empty() {
            vec![Codec::Pcmu, Codec::Pcma]
        } else {
            codecs
        },
        ..Default::default()
    }
}

fn bind_error(
    what: &str,
    addr: SocketAddr,
    source: &crate::config::Source,
    e: std::io::Error,
) -> StartError {
    StartError(format!(
        "cannot listen for {what} on {addr}: {e} (configured at {source}; is another \
         process using the port, or is the address not on this box?)"
    ))
}

fn wire_limits(config: &Config) -> Limits {
    Limits {
        max_message_bytes: config.switch.sip_max_message_bytes,
        max_headers: config.switch.sip_max_headers,
        max_line_bytes: config.switch.sip_max_line_bytes,
    }
}

fn core_config(
    config: &Config,
    index: usize,
    profile: &SipProfile,
    inbound_acl: Option<crate::sip::core::AddressCheck>,
    register_acl: Option<crate::sip::core::AddressCheck>,
    nat: Option<crate::sip::core::NatHost>,
) -> CoreConfig {
    let mut local_hosts = vec![
        profile.sip_ip.to_string(),
        format!("{}:{}", profile.sip_ip, profile.sip_port),
    ];
    if let Some(ext) = &profile.ext_sip_ip {
        local_hosts.push(ext.clone());
    }
    if let Some(d) = &profile.force_register_domain {
        local_hosts.push(d.clone());
    }
    if let Some(ip) = config.vars.get("local_ip_v4") {
        local_hosts.push(ip.clone());
    }
    local_hosts.push("localhost".into());
    CoreConfig {
        profile: profile.name.clone(),
        index: u16::try_from(index).unwrap_or(u16::MAX),
        contact_host: format!("{}:{}", profile.sip_ip, profile.sip_port),
        nat,
        local_hosts,
        limits: wire_limits(config),
        tx: {
            let ms = |v: Option<u32>, default: Duration| {
                v.map_or(default, |ms| Duration::from_millis(u64::from(ms)))
            };
            let d = TxConfig::default();
            TxConfig {
                t1: ms(profile.timer_t1_ms, d.t1),
                t2: ms(profile.timer_t2_ms, d.t2),
                t4: ms(profile.timer_t4_ms, d.t4),
                max_transactions: config.switch.max_transactions,
            }
        },
        registrar: RegistrarPolicy {
            min_expires: profile.min_expires,
            max_expires: profile.max_expires,
            default_expires: profile.default_expires,
            max_per_aor: profile.max_registrations_per_extension,
            max_total: 100_000,
        },
        nonce_ttl: Duration::from_secs(u64::from(profile.nonce_ttl)),
        algorithms: profile
            .auth_algorithms
            .iter()
            .map(|a| match a {
                crate::config::DigestAlgorithm::Md5 => Algorithm::Md5,
                crate::config::DigestAlgorithm::Sha256 => Algorithm::Sha256,
            })
            .collect(),
        accept_blind_reg: profile.accept_blind_reg,
        auth_calls: profile.auth_calls,
        inbound_acl,
        register_acl,
        screen: None,
        user_agent: profile.user_agent.clone(),
    }
}

/// The profile's view of the domain's users; realm per `challenge-realm`.
fn build_directory(
    profile: &SipProfile,
    domain: &str,
    passwords: &BTreeMap<String, String>,
    a1_hashes: &BTreeMap<String, String>,
) -> Directory {
    let realm = match profile.realm.as_deref() {
        None | Some("auto_to") | Some("auto_from") | Some("") => domain.to_string(),
        Some(r) => r.to_string(),
    };
    let mut dir = Directory::new(domain, &realm);
    for (id, pw) in passwords {
        dir.add_password(id, pw);
    }
    for (id, h) in a1_hashes {
        if !dir.add_a1_hash(id, h) {
            tracing::error!(
                user = %id,
                "a1-hash of user {id} is not 32 hex digits (MD5 of user:realm:password): \
                 the user cannot register until it is fixed"
            );
        }
    }
    dir
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "loopstart".into())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
