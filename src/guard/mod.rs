//! The box's own defences, each sans-IO: ACLs, fail2ban-style banning, flood and
//! scanner detection, number blacklists and call limits.

pub mod acl;
pub mod args;
pub mod ban_record;
pub mod blacklist;
pub mod fail2ban;
pub mod fail2ban_api;
pub mod fail2ban_log;
pub mod flood;
pub mod limit;
pub mod scanner;
