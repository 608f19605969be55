//! Writes a FreeSWITCH-style test configuration tree (the shape of conf/):
//! vars.xml, sip_profiles/internal.xml, directory/default.xml plus one file
//! per user, autoload_configs/event_socket.conf.xml and switch.conf.xml.

use std::fs;
use std::path::{Path, PathBuf};

/// The domain of every test config: SIPp's default To/From host is the
/// remote IP, so registrations land in the right domain without rewriting.
pub const DOMAIN: &str = "127.0.0.1";

/// How event_socket.conf.xml carries its password.
#[derive(Clone, Debug)]
pub enum EslPassword {
    /// `<param name="password" value="..."/>`.
    Set(String),
    /// No password param at all (the gateway must refuse to start).
    Missing,
}

/// A directory user: `password: None` writes no password param, as the
/// factory config does, so the gateway generates one at first boot.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub password: Option<String>,
}

/// Everything a test config varies.
#[derive(Clone, Debug)]
pub struct ConfSpec {
    pub sip_port: u16,
    pub esl_port: u16,
    pub esl_password: EslPassword,
    /// Further event_socket.conf params (e.g. apply-inbound-acl).
    pub esl_params: Vec<(String, String)>,
    /// The event socket's listen-ip (127.0.0.1; a QEMU guest listens on 0.0.0.0).
    pub esl_listen_ip: String,
    pub users: Vec<User>,
    /// `sip_profiles/internal.xml` params in order; later entries with the
    /// same name replace earlier ones in place.
    pub profile_params: Vec<(String, String)>,
    /// Extra files (path relative to the conf dir, contents).
    pub extra_files: Vec<(String, String)>,
    /// The web page's port (web.conf.xml), on `esl_listen_ip`.
    pub web_port: u16,
    /// Further web.conf params (e.g. max-connections).
    pub web_params: Vec<(String, String)>,
}

impl ConfSpec {
    /// Defaults matching the brief: loopback, auth on, nonce-ttl 60,
    /// sip-expires-min 60.
    pub fn new(sip_port: u16, esl_port: u16, esl_password: &str) -> Self {
        let p = |n: &str, v: &str| (n.to_string(), v.to_string());
        ConfSpec {
            sip_port,
            esl_port,
            esl_password: EslPassword::Set(esl_password.to_string()),
            esl_params: Vec::new(),
            esl_listen_ip: "127.0.0.1".into(),
            users: Vec::new(),
            profile_params: vec![
                p("sip-ip", "127.0.0.1"),
                p("sip-port", &sip_port.to_string()),
                p("rtp-ip", "127.0.0.1"),
                p("context", "default"),
                p("auth-calls", "true"),
                p("nonce-ttl", "60"),
                p("sip-expires-min", "60"),
            ],
            extra_files: Vec::new(),
            web_port: super::ports::free_tcp_port(),
            web_params: Vec::new(),
        }
    }

    /// Sets (or replaces in place) a profile param.
    pub fn set_profile_param(&mut self, name: &str, value: &str) {
        if let Some(slot) = self.profile_params.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value.to_string();
        } else {
            self.profile_params
                .push((name.to_string(), value.to_string()));
        }
    }

    /// Writes the tree under `dir` (created if needed).
    pub fn write(&self, dir: &Path) {
        let w = |rel: &str, text: &str| write_file(&dir.join(rel), text);
        w(
            "vars.xml",
            &format!(
                "<include>\n  <X-PRE-PROCESS cmd=\"set\" data=\"domain={DOMAIN}\"/>\n  \
                 <X-PRE-PROCESS cmd=\"set\" data=\"domain_name=$${{domain}}\"/>\n</include>\n"
            ),
        );
        w("sip_profiles/internal.xml", &self.profile_xml());
        w("directory/default.xml", DIRECTORY_XML);
        for user in &self.users {
            w(
                &format!("directory/default/{}.xml", user.id),
                &user_xml(user),
            );
        }
        w(
            "autoload_configs/event_socket.conf.xml",
            &self.event_socket_xml(),
        );
        w("autoload_configs/switch.conf.xml", SWITCH_XML);
        w("autoload_configs/web.conf.xml", &self.web_xml());
        for (rel, text) in &self.extra_files {
            w(rel, text);
        }
    }

    /// The text of sip_profiles/internal.xml.
    pub fn profile_xml(&self) -> String {
        let mut s = String::from("<profile name=\"internal\">\n  <settings>\n");
        for (n, v) in &self.profile_params {
            s.push_str(&format!(
                "    <param name=\"{}\" value=\"{}\"/>\n",
                xml_escape(n),
                xml_escape(v)
            ));
        }
        s.push_str("  </settings>\n</profile>\n");
        s
    }

    fn web_xml(&self) -> String {
        let mut params = format!(
            "    <param name=\"listen-ip\" value=\"{}\"/>\n    \
             <param name=\"listen-port\" value=\"{}\"/>\n",
            xml_escape(&self.esl_listen_ip),
            self.web_port
        );
        for (n, v) in &self.web_params {
            params.push_str(&format!(
                "    <param name=\"{}\" value=\"{}\"/>\n",
                xml_escape(n),
                xml_escape(v)
            ));
        }
        format!("<configuration name=\"web.conf\">\n  <settings>\n{params}  </settings>\n</configuration>\n")
    }

    fn event_socket_xml(&self) -> String {
        let password = match &self.esl_password {
            EslPassword::Set(p) => format!(
                "    <param name=\"password\" value=\"{}\"/>\n",
                xml_escape(p)
            ),
            EslPassword::Missing => String::new(),
        };
        let mut password = password;
        for (n, v) in &self.esl_params {
            password.push_str(&format!(
                "    <param name=\"{}\" value=\"{}\"/>\n",
                xml_escape(n),
                xml_escape(v)
            ));
        }
        format!(
            "<configuration name=\"event_socket.conf\" description=\"Socket Client\">\n  \
             <settings>\n    <param name=\"listen-ip\" value=\"{}\"/>\n    \
             <param name=\"listen-port\" value=\"{}\"/>\n{password}  </settings>\n\
             </configuration>\n",
            xml_escape(&self.esl_listen_ip),
            self.esl_port
        )
    }
}

const DIRECTORY_XML: &str = r#"<include>
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
"#;

const SWITCH_XML: &str = r#"<configuration name="switch.conf" description="Core Configuration">
  <settings>
    <param name="max-sessions" value="1000"/>
  </settings>
</configuration>
"#;

fn user_xml(user: &User) -> String {
    let params = match &user.password {
        Some(p) => format!(
            "    <params>\n      <param name=\"password\" value=\"{}\"/>\n    </params>\n",
            xml_escape(p)
        ),
        None => String::new(),
    };
    format!(
        "<include>\n  <user id=\"{id}\">\n{params}    <variables>\n      \
         <variable name=\"user_context\" value=\"default\"/>\n      \
         <variable name=\"effective_caller_id_name\" value=\"Extension {id}\"/>\n      \
         <variable name=\"effective_caller_id_number\" value=\"{id}\"/>\n    \
         </variables>\n  </user>\n</include>\n",
        id = xml_escape(&user.id)
    )
}

/// Escapes text for an XML attribute value.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `text` to `path`, creating parent directories.
pub fn write_file(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// 1-based line number of the first line of `path` containing `needle`.
pub fn line_of(path: &Path, needle: &str) -> usize {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not found in {}", path.display()))
}

/// The factory configuration shipped in the repository.
pub fn factory_conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conf")
}
