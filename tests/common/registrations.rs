//! Parses FreeSWITCH's `show registrations` output:
//!
//! ```text
//! reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata
//! 1001,127.0.0.1,abc,sofia/internal/sip:1001@127.0.0.1:5070,1700000000,127.0.0.1,5070,udp,box,
//!
//! 1 total.
//! ```

/// The header FreeSWITCH prints (and loopstart must print).
pub const HEADER: &str =
    "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata";

/// One row of `show registrations`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub reg_user: String,
    pub realm: String,
    pub token: String,
    pub url: String,
    pub expires: String,
    pub network_ip: String,
    pub network_port: String,
    pub network_proto: String,
    pub hostname: String,
    pub metadata: String,
}

impl Registration {
    /// `expires` as a number (FreeSWITCH prints the absolute epoch second).
    pub fn expires_num(&self) -> Option<u64> {
        self.expires.trim().parse().ok()
    }
}

/// Parses the body; checks the header, the blank line and `N total.`.
pub fn parse(body: &str) -> Result<Vec<Registration>, String> {
    let mut lines = body.lines().skip_while(|l| l.trim().is_empty());
    let header = lines.next().ok_or("empty output")?;
    if header.trim_end() != HEADER {
        return Err(format!("header is {header:?}, expected {HEADER:?}"));
    }
    let mut rows = Vec::new();
    let mut total = None;
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        rows.push(parse_row(line)?);
    }
    for line in lines {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let n = l
            .strip_suffix(" total.")
            .ok_or_else(|| format!("expected `N total.`, got {l:?}"))?;
        total = Some(
            n.parse::<usize>()
                .map_err(|e| format!("bad total {n:?}: {e}"))?,
        );
        break;
    }
    match total {
        Some(n) if n == rows.len() => Ok(rows),
        Some(n) => Err(format!("`{n} total.` but {} rows", rows.len())),
        None => Err("missing blank line and `N total.` trailer".into()),
    }
}

fn parse_row(line: &str) -> Result<Registration, String> {
    // The last column (metadata) may itself contain commas.
    let f: Vec<&str> = line.splitn(10, ',').collect();
    if f.len() < 9 {
        return Err(format!("row has {} fields, expected 10: {line:?}", f.len()));
    }
    let g = |i: usize| f.get(i).copied().unwrap_or("").to_string();
    Ok(Registration {
        reg_user: g(0),
        realm: g(1),
        token: g(2),
        url: g(3),
        expires: g(4),
        network_ip: g(5),
        network_port: g(6),
        network_proto: g(7),
        hostname: g(8),
        metadata: g(9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_total() {
        let body = format!(
            "{HEADER}\n1001,127.0.0.1,tok,sofia/internal/sip:1001@127.0.0.1:5070,1700000000,\
             127.0.0.1,5070,udp,box,\n\n1 total.\n"
        );
        let r = parse(&body).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reg_user, "1001");
        assert_eq!(r[0].network_proto, "udp");
        assert_eq!(r[0].expires_num(), Some(1_700_000_000));
    }

    #[test]
    fn parses_empty_listing() {
        assert_eq!(parse(&format!("{HEADER}\n\n0 total.\n")).unwrap(), vec![]);
    }

    #[test]
    fn rejects_wrong_total_and_header() {
        assert!(parse(&format!("{HEADER}\n\n1 total.\n")).is_err());
        assert!(parse("user,realm\n\n0 total.\n").is_err());
        assert!(parse(&format!("{HEADER}\n")).is_err());
    }
}
