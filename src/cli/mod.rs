//! The command line, shaped like an appliance's: `run`, `check`, `api`, `user`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_CONF: &str = "/etc/loopstart";
const DEFAULT_DATA: &str = "/var/lib/loopstart";

/// loopstart: SIP switch, registrar and call centre for small ARM gateways, configured
/// like FreeSWITCH.
#[derive(Parser)]
#[command(name = "loopstart", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway in the foreground (logs to stderr).
    Run {
        /// Configuration directory (FreeSWITCH-style XML tree).
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
        /// Data directory for the store (created if missing).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Validate the configuration and print a summary.
    Check {
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
    },
    /// Run an API command on the running gateway, like `fs_cli -x`.
    Api {
        /// Where to read the event socket address and password.
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
        /// Data directory (holds the generated event socket password when the config
        /// sets none).
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
        /// Event socket host (overrides the config).
        #[arg(long)]
        host: Option<String>,
        /// Event socket port (overrides the config).
        #[arg(long)]
        port: Option<u16>,
        /// Event socket password (overrides the config).
        #[arg(long)]
        password: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// The command and its arguments, e.g. `sofia status`.
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Users of the directory.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// The web page: its password and certificate.
    Web {
        #[command(subcommand)]
        action: WebAction,
    },
    /// The web page's process, started by `run` (reads its setup on stdin).
    #[command(hide = true)]
    Webd,
}

#[derive(Subcommand)]
enum WebAction {
    /// Show the web page's password (set in web.conf, or made at first start).
    Password {
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
    /// Show the SHA-256 fingerprint of the web page's certificate, to compare with the
    /// one the browser shows.
    Fingerprint {
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Show a user's password (the one generated at first boot, or the configured one).
    Show {
        /// User id, e.g. 1001.
        id: String,
        #[arg(long, default_value = DEFAULT_CONF)]
        conf: PathBuf,
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run { conf, data } => run(&conf, &data),
        Command::Check { conf } => check(&conf),
        Command::Api {
            conf,
            data,
            host,
            port,
            password,
            timeout,
            command,
        } => api(
            EslTarget {
                conf: &conf,
                data: &data,
                host,
                port,
                password,
                timeout,
            },
            &command.join(" "),
        ),
        Command::User {
            action: UserAction::Show { id, conf, data },
        } => user_show(&conf, &data, &id),
        Command::Web {
            action: WebAction::Password { conf, data },
        } => web_password(&conf, &data),
        Command::Web {
            action: WebAction::Fingerprint { data },
        } => web_fingerprint(&data),
        Command::Webd => match crate::web::run_webd() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loopstart webd: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The configured password, else the one made at first start (read, never made here:
/// the gateway makes it when it starts the page).
fn web_password(conf: &Path, data: &Path) -> ExitCode {
    let Some(cfg) = load_config(conf) else {
        return ExitCode::FAILURE;
    };
    if let Some(pw) = &cfg.web.password {
        println!("{pw}");
        return ExitCode::SUCCESS;
    }
    let path = crate::app::secrets::web_password_path(data);
    match std::fs::read_to_string(&path) {
        Ok(pw) if !pw.trim().is_empty() => {
            println!("{}", pw.trim());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "loopstart web password: no password yet in {} (the gateway makes it at its \
                 first start; is --data right?)",
                path.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn web_fingerprint(data: &Path) -> ExitCode {
    let path = crate::app::webd::tls_path(data);
    let pem = match std::fs::read_to_string(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "loopstart web fingerprint: cannot read {}: {e} (the gateway makes it at its \
                 first start; is --data right?)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    match crate::web::tls::Identity::from_pem(&pem) {
        Ok(id) => {
            println!("SHA-256 {}", id.fingerprint());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loopstart web fingerprint: {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("LOOPSTART_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("loopstart: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Loads the config, printing every diagnostic; None when it has errors.
fn load_config(conf: &Path) -> Option<crate::config::Config> {
    match crate::config::load(conf) {
        Ok(cfg) => {
            for d in &cfg.diagnostics {
                eprintln!("{d}");
            }
            Some(cfg)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "loopstart: the configuration in {} has errors (listed above)",
                conf.display()
            );
            None
        }
    }
}

fn run(conf: &Path, data: &Path) -> ExitCode {
    let Some(config) = load_config(conf) else {
        return ExitCode::FAILURE;
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(crate::app::run(config, data)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("loopstart: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(conf: &Path) -> ExitCode {
    match load_config(conf) {
        Some(cfg) => {
            print!("{}", cfg.summary());
            if cfg.event_socket.password.is_some() {
                if let Err(e) = crate::esl::validate_password(cfg.event_socket.password.as_deref())
                {
                    eprintln!("{}: error: {e}", cfg.event_socket.source);
                    return ExitCode::FAILURE;
                }
            }
            if let Some((acl, source)) = &cfg.event_socket.apply_inbound_acl {
                // The configured lists count; localnet.auto's networks do not matter for
                // whether a name resolves.
                let acls = crate::guard::acl::Acls::from_config(&cfg.acl, &cfg.domains, &[]);
                if let Err(e) = acls.resolve(acl) {
                    eprintln!("{source}: error: apply-inbound-acl: {e}");
                    return ExitCode::FAILURE;
                }
            }
            match crate::dialplan::load(conf, &cfg.vars) {
                Ok((dialplan, warnings)) => {
                    for w in &warnings {
                        eprintln!("{w}");
                    }
                    let contexts: Vec<String> = dialplan
                        .contexts
                        .iter()
                        .map(|c| format!("{} ({} extensions)", c.name, c.extensions.len()))
                        .collect();
                    println!(
                        "dialplan: {}",
                        if contexts.is_empty() {
                            "none (no dialplan/*.xml)".to_string()
                        } else {
                            contexts.join(", ")
                        }
                    );
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            }
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

/// Where the event socket is and how to log in: the config's settings unless overridden,
/// and the first-boot password in the data directory when the config sets none.
struct EslTarget<'a> {
    conf: &'a Path,
    data: &'a Path,
    host: Option<String>,
    port: Option<u16>,
    password: Option<String>,
    timeout: u64,
}

impl<'a> EslTarget<'a> {
    fn from_config(conf: &'a Path, data: &'a Path) -> Self {
        EslTarget {
            conf,
            data,
            host: None,
            port: None,
            password: None,
            timeout: 5,
        }
    }
}

fn api(target: EslTarget<'_>, command: &str) -> ExitCode {
    match api_call(target, command) {
        Ok(body) => print_api_body(&body),
        Err(e) => {
            eprintln!("loopstart api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints an API answer; `-ERR ...` answers make the command fail.
fn print_api_body(body: &str) -> ExitCode {
    print!("{body}");
    if body.starts_with("-ERR") {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn api_call(target: EslTarget<'_>, command: &str) -> Result<String, String> {
    let EslTarget {
        conf,
        data,
        host,
        port,
        password,
        timeout,
    } = target;
    let (cfg_host, cfg_port, cfg_password) = match crate::config::load(conf) {
        Ok(cfg) => (
            Some(cfg.event_socket.listen_ip.to_string()),
            Some(cfg.event_socket.listen_port),
            cfg.event_socket.password.clone(),
        ),
        Err(_) if host.is_some() && port.is_some() && password.is_some() => (None, None, None),
        Err(e) => return Err(format!("cannot read the event socket settings:\n{e}")),
    };
    let host = host.or(cfg_host).unwrap_or_else(|| "127.0.0.1".into());
    let port = port.or(cfg_port).unwrap_or(8021);
    let generated = || {
        std::fs::read_to_string(crate::app::secrets::esl_password_path(data))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let password = password
        .or(cfg_password)
        .or_else(generated)
        .ok_or_else(|| {
            format!(
                "no event socket password: set one in {}/autoload_configs/event_socket.conf.xml, \
             pass --password, or point --data at the gateway's data directory (it generates \
             one at first boot)",
                conf.display()
            )
        })?;
    let addr = format!("{host}:{port}");
    let addr: std::net::SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("bad event socket address {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("event socket address {addr} resolves to nothing"))?;
    let rt = runtime().map_err(|_| "cannot start the runtime".to_string())?;
    rt.block_on(crate::esl::run_api(
        addr,
        &password,
        command,
        Duration::from_secs(timeout),
    ))
    .map_err(|e| e.to_string())
}

/// Asks the running gateway when its event socket is up; otherwise reads the store.
fn user_show(conf: &Path, data: &Path, id: &str) -> ExitCode {
    if let Ok(body) = api_call(
        EslTarget::from_config(conf, data),
        &format!("user show {id}"),
    ) {
        return print_api_body(&body);
    }
    let Some(cfg) = load_config(conf) else {
        return ExitCode::FAILURE;
    };
    let Some(domain) = cfg.domains.first() else {
        eprintln!("loopstart: no domain configured in {}", conf.display());
        return ExitCode::FAILURE;
    };
    let Some(user) = domain.users.iter().find(|u| u.id == id) else {
        eprintln!("loopstart: no user {id} in domain {}", domain.name);
        return ExitCode::FAILURE;
    };
    if !user.has_default_password() {
        match &user.password {
            Some(pw) => println!("user: {id}@{}\npassword: {pw}", domain.name),
            None => println!("user: {id}@{}\npassword: (a1-hash configured)", domain.name),
        }
        return ExitCode::SUCCESS;
    }
    let cache = u64::from(cfg.switch.store_cache_mb) * 1024 * 1024;
    let store = match crate::store::Store::open(data, cache) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "loopstart: {e}\nIf the gateway is running, set an event socket password so \
                 `loopstart user show` can ask it."
            );
            return ExitCode::FAILURE;
        }
    };
    match crate::app::secrets::generated_password(&store, id, &domain.name) {
        Ok(Some(pw)) => {
            println!("user: {id}@{}\npassword: {pw}", domain.name);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!(
                "loopstart: user {id} has no password yet: start the gateway once \
                 (`loopstart run`) and it will generate one"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("loopstart: {e}");
            ExitCode::FAILURE
        }
    }
}
