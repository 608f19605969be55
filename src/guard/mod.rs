//! The box's own defences: ACLs and fail2ban-style banning; blacklists and limits
//! join them here.

pub mod acl;
pub mod ban_record;
pub mod fail2ban;
pub mod fail2ban_api;
pub mod fail2ban_log;
pub mod flood;
pub mod scanner;
