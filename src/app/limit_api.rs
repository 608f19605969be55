//! mod_limit's and mod_hash's API commands: `limit_usage`, `limit_hash_usage`,
//! `limit_status`, `limit_interval_reset`, `hash_dump`. The counts live in the switch
//! (it alone sees calls start, transfer and end), so each command runs on the driver's
//! task, as `show channels` does; syntax and output are FreeSWITCH's
//! (see `guard::limit`).

use super::driver::{ProfileHandle, Reply};
use crate::esl::ApiRegistry;
use crate::switch::Switch;

type Run = fn(&mut Switch, &str, u64) -> String;

pub fn register_all(registry: &mut ApiRegistry, profiles: &[ProfileHandle]) {
    let Some(profile) = profiles.first() else {
        return;
    };
    let commands: [(&str, &str, &str, Run); 5] = [
        (
            "limit_usage",
            "<backend> <realm> <id> [rate]",
            "Get the usage count (and rate) of a limit key",
            |sw, a, _| sw.limits().api_limit_usage(a),
        ),
        (
            "limit_hash_usage",
            "<realm> <id> [rate]",
            "Deprecated: gets the usage count of a hash limit key",
            |sw, a, _| sw.limits().api_limit_hash_usage(a),
        ),
        (
            "limit_status",
            "<backend>",
            "Status of a limit backend",
            |sw, a, _| sw.limits().api_limit_status(a),
        ),
        (
            "limit_interval_reset",
            "<backend> <realm> <resource>",
            "Reset the interval counter of a limit key",
            |sw, a, now| sw.limits_mut().api_limit_interval_reset(a, now),
        ),
        (
            "hash_dump",
            "all|limit|db [<realm>]",
            "Dump the hash backend's limit items",
            |sw, a, _| sw.limits().api_hash_dump(a),
        ),
    ];
    for (name, syntax, about, run) in commands {
        let p = profile.clone();
        registry.register_fn(name, syntax, about, move |args: String| {
            let p = p.clone();
            Box::pin(async move {
                p.calls(Box::new(move |_, switch, clock| {
                    Reply::Now(run(switch, args.trim(), clock.unix_us / 1_000_000))
                }))
                .await
            })
        });
    }
}
