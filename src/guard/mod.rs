//! The box's own defences: ACLs now; fail2ban-style banning, blacklists and limits
//! join them here.

pub mod acl;
pub mod args;
pub mod blacklist;
pub mod limit;
