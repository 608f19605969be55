//! The API registry: named commands, as typed in fs_cli or sent with `api`/`bgapi`.
//! Each domain registers its own commands at start; the registry knows none of them.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Ok(body), or Err(message) rendered as `-ERR message`.
pub type ApiResult = Result<String, String>;
pub type ApiFuture = Pin<Box<dyn Future<Output = ApiResult> + Send>>;

/// One API command.
pub trait ApiCommand: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn syntax(&self) -> &str;
    fn description(&self) -> &str;
    fn run(&self, args: String) -> ApiFuture;
}

type Handler = Arc<dyn Fn(String) -> ApiFuture + Send + Sync>;

struct Entry {
    syntax: String,
    description: String,
    handler: Handler,
}

/// Commands by name. Clones share the same table.
#[derive(Clone)]
pub struct ApiRegistry {
    commands: Arc<RwLock<BTreeMap<String, Arc<Entry>>>>,
}

impl Default for ApiRegistry {
    fn default() -> Self {
        ApiRegistry::new()
    }
}

impl ApiRegistry {
    /// A registry with the built-ins: `help`, `version`, `hostname`, `uptime`.
    pub fn new() -> ApiRegistry {
        let mut r = ApiRegistry {
            commands: Arc::new(RwLock::new(BTreeMap::new())),
        };
        let started = Instant::now();
        let help_table = r.clone();
        r.register_fn("help", "help", "List the API commands", move |_| {
            let table = help_table.clone();
            Box::pin(async move { Ok(table.help()) })
        });
        r.register_fn("version", "version", "Firmware version", |_| {
            Box::pin(async { Ok(format!("loopstart {}\n", env!("CARGO_PKG_VERSION"))) })
        });
        r.register_fn("hostname", "hostname", "The box's host name", |_| {
            Box::pin(async {
                Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "loopstart".into()))
            })
        });
        r.register_fn(
            "uptime",
            "uptime [s|m|h|d|ms|us]",
            "Seconds since start",
            move |a| {
                let up = started.elapsed();
                Box::pin(async move {
                    Ok(match a.trim() {
                        "ms" => up.as_millis().to_string(),
                        "us" => up.as_micros().to_string(),
                        "m" => (up.as_secs() / 60).to_string(),
                        "h" => (up.as_secs() / 3600).to_string(),
                        "d" => (up.as_secs() / 86_400).to_string(),
                        _ => up.as_secs().to_string(),
                    })
                })
            },
        );
        r
    }

    pub fn register(&mut self, cmd: Arc<dyn ApiCommand>) {
        let c = cmd.clone();
        self.insert(
            cmd.name(),
            cmd.syntax(),
            cmd.description(),
            Arc::new(move |args| c.run(args)),
        );
    }

    pub fn register_fn(
        &mut self,
        name: &str,
        syntax: &str,
        description: &str,
        f: impl Fn(String) -> ApiFuture + Send + Sync + 'static,
    ) {
        self.insert(name, syntax, description, Arc::new(f));
    }

    fn insert(&mut self, name: &str, syntax: &str, description: &str, handler: Handler) {
        let entry = Arc::new(Entry {
            syntax: syntax.to_string(),
            description: description.to_string(),
            handler,
        });
        if let Ok(mut map) = self.commands.write() {
            map.insert(name.to_string(), entry);
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.commands
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Runs `cmd args` and renders the result as FreeSWITCH would.
    pub async fn execute(&self, line: &str) -> String {
        let line = line.trim();
        let (name, args) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        let entry = self.commands.read().ok().and_then(|m| m.get(name).cloned());
        match entry {
            None => format!("-ERR {name} Command not found!\n"),
            Some(e) => match (e.handler)(args.to_string()).await {
                Ok(body) => body,
                Err(msg) => format!("-ERR {msg}\n"),
            },
        }
    }

    fn help(&self) -> String {
        let mut out = String::from("name,description,syntax,ikey\n");
        if let Ok(map) = self.commands.read() {
            for (name, e) in map.iter() {
                out.push_str(&format!(
                    "{name},{},{},loopstart\n",
                    e.description, e.syntax
                ));
            }
            out.push_str(&format!("\n{} total.\n", map.len()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn dispatch_args_errors_and_unknown() {
        let mut r = ApiRegistry::new();
        r.register_fn("echoargs", "echoargs <x>", "test", |a| {
            Box::pin(async move {
                if a.is_empty() {
                    Err("need args".into())
                } else {
                    Ok(format!("[{a}]"))
                }
            })
        });
        let clone = r.clone();
        assert_eq!(block_on(clone.execute("echoargs  a b ")), "[a b]");
        assert_eq!(block_on(clone.execute("echoargs")), "-ERR need args\n");
        assert_eq!(
            block_on(clone.execute("nope x")),
            "-ERR nope Command not found!\n"
        );
        assert!(block_on(clone.execute("help")).contains("echoargs"));
        assert!(r.names().contains(&"version".to_string()));
    }
}
