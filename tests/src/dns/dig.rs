//! Running the real `dig` against a server on loopback and reading its
//! answer: status, flags and sections.
use std::{net::SocketAddr, process::Command};

/// What dig printed, parsed.
#[derive(Debug, Clone, Default)]
pub struct DigAnswer {
    /// `NOERROR`, `NXDOMAIN`, ...
    pub status: String,
    /// Header flags (`qr aa rd ra`).
    pub flags: Vec<String>,
    /// Answer records, whitespace collapsed (`name. 5 IN A 10.96.0.1`).
    pub answer: Vec<String>,
    /// Authority records.
    pub authority: Vec<String>,
    /// Additional records (without the OPT pseudo-section).
    pub additional: Vec<String>,
    /// The whole output.
    pub raw: String,
}

impl DigAnswer {
    /// The last field (the data) of every answer record of `rtype`.
    pub fn data(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.get(3) == Some(&rtype)).then(|| f[4..].join(" "))
            })
            .collect()
    }

    /// Whether the header has `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// `dig @server -p port ARGS`, one try, two seconds. Panics if dig cannot
/// be run (install bind9-dnsutils: `cargo xtask setup`).
pub fn dig(server: SocketAddr, args: &[&str]) -> DigAnswer {
    let out = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running dig (install bind9-dnsutils): {e}"));
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Parses dig's default output.
pub fn parse(text: &str) -> DigAnswer {
    let mut a = DigAnswer {
        raw: text.to_string(),
        ..Default::default()
    };
    let mut section: Option<&str> = None;
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            a.status = rest.split(',').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            a.flags = rest
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect();
        }
        if let Some(name) = line
            .strip_prefix(";; ")
            .and_then(|l| l.strip_suffix(" SECTION:"))
        {
            section = Some(match name {
                "ANSWER" => "answer",
                "AUTHORITY" => "authority",
                "ADDITIONAL" => "additional",
                _ => "other",
            });
            continue;
        }
        if line.trim().is_empty() {
            section = None;
            continue;
        }
        if line.starts_with(';') {
            continue;
        }
        let rec = line.split_whitespace().collect::<Vec<_>>().join(" ");
        match section {
            Some("answer") => a.answer.push(rec),
            Some("authority") => a.authority.push(rec),
            Some("additional") => a.additional.push(rec),
            _ => {}
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dig_output() {
        let text = "\n; <<>> DiG 9.18 <<>> @127.0.0.1 web\n;; global options: +cmd\n;; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: qr aa rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n;; QUESTION SECTION:\n;web.default.svc.cluster.local.\tIN\tA\n\n;; ANSWER SECTION:\nweb.default.svc.cluster.local. 5\tIN\tA\t10.96.0.20\n\n;; Query time: 0 msec\n";
        let a = parse(text);
        assert_eq!(a.status, "NOERROR");
        assert!(a.has_flag("aa"));
        assert_eq!(
            a.answer,
            ["web.default.svc.cluster.local. 5 IN A 10.96.0.20"]
        );
        assert_eq!(a.data("A"), ["10.96.0.20"]);
        assert!(a.additional.is_empty());
    }
}
