//! The box's network lists at run time: built once from `acl.conf.xml` and the
//! directory, shared by whatever checks addresses (SIP profiles' apply-inbound-acl, the
//! event socket), and swapped whole by `reloadacl` — every check reads the current
//! lists, so a reload takes effect on the next request without a restart.

use crate::esl::ApiRegistry;
use crate::guard::acl::{self, Acls};
use crate::sip::core::AddressCheck;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The current lists.
#[derive(Clone)]
pub struct SharedAcls(Arc<RwLock<Acls>>);

impl SharedAcls {
    pub fn new(config: &crate::config::Config) -> SharedAcls {
        SharedAcls(Arc::new(RwLock::new(Acls::from_config(
            &config.acl,
            &config.domains,
            &acl::local_networks(),
        ))))
    }

    /// Whether list `name` allows `ip` now; a list a reload removed allows nobody.
    pub fn allows(&self, name: &str, ip: IpAddr) -> bool {
        self.0
            .read()
            .is_ok_and(|a| a.allows(name, ip).unwrap_or(false))
    }

    /// Checks that every name is a list (or an address) now, for a start-up error
    /// that names the config line.
    pub fn validate(&self, names: &[String]) -> Result<(), String> {
        let acls = self
            .0
            .read()
            .map_err(|_| "ACL lists: lock poisoned".to_string())?;
        for n in names {
            acls.resolve(n).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// One check for several lists: an address any of them allows passes, as in
    /// mod_sofia. None when no list is named.
    pub fn check(&self, names: &[String]) -> Option<AddressCheck> {
        if names.is_empty() {
            return None;
        }
        let shared = self.clone();
        let names = names.to_vec();
        Some(AddressCheck(Arc::new(move |ip| {
            names.iter().any(|n| shared.allows(n, ip))
        })))
    }

    /// One check for several lists that must all allow (mod_sofia's
    /// apply-register-acl). None when no list is named.
    pub fn check_all(&self, names: &[String]) -> Option<AddressCheck> {
        if names.is_empty() {
            return None;
        }
        let shared = self.clone();
        let names = names.to_vec();
        Some(AddressCheck(Arc::new(move |ip| {
            names.iter().all(|n| shared.allows(n, ip))
        })))
    }

    /// `reloadacl` and `acl <ip> <list>`.
    pub fn register_api(&self, registry: &mut ApiRegistry, conf_dir: PathBuf) {
        let for_reload = self.clone();
        registry.register_fn(
            "reloadacl",
            "reloadacl [reloadxml]",
            "Reload the ACL lists (autoload_configs/acl.conf.xml, directory users' cidr)",
            move |_| {
                let acls = for_reload.clone();
                let conf_dir = conf_dir.clone();
                Box::pin(async move {
                    let cfg = crate::config::load(&conf_dir)
                        .map_err(|e| format!("reloadacl: nothing changed:\n{e}"))?;
                    let fresh = Acls::from_config(&cfg.acl, &cfg.domains, &acl::local_networks());
                    *acls
                        .0
                        .write()
                        .map_err(|_| "reloadacl: ACL lists lock poisoned".to_string())? = fresh;
                    tracing::info!(lists = cfg.acl.lists.len(), "reloadacl: ACL lists reloaded");
                    Ok("+OK acl reloaded\n".to_string())
                })
            },
        );
        let for_api = self.clone();
        registry.register_fn(
            "acl",
            "<ip> <list_name>",
            "Compare an ip to an ACL list",
            move |args| {
                let verdict = for_api
                    .0
                    .read()
                    .map(|a| acl::acl_api(&a, &args))
                    .unwrap_or_else(|_| "false".into());
                Box::pin(async move { Ok(verdict) })
            },
        );
    }
}
