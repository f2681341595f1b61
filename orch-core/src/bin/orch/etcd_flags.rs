//! The etcd flags (`--etcd-endpoints` and the TLS files), shared by `orch
//! server --store etcd` and `orch server migrate`, and their checks.
use std::path::PathBuf;

use anyhow::Result;
use orch_core::store::etcd::{EtcdOptions, EtcdTls};

/// How to reach etcd.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EtcdArgs {
    /// etcd client URLs (http://host:port or https://host:port), comma
    /// separated.
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// CA bundle (PEM) that signed etcd's server certificate; for https
    /// endpoints.
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate (PEM) for etcd; with --etcd-keyfile.
    #[arg(long, value_name = "FILE")]
    pub etcd_certfile: Option<PathBuf>,
    /// Client private key (PEM) for etcd; with --etcd-certfile.
    #[arg(long, value_name = "FILE")]
    pub etcd_keyfile: Option<PathBuf>,
}

impl EtcdArgs {
    /// The files, each with its flag.
    fn files(&self) -> [(&'static str, &Option<PathBuf>); 3] {
        [
            ("--etcd-cafile", &self.etcd_cafile),
            ("--etcd-certfile", &self.etcd_certfile),
            ("--etcd-keyfile", &self.etcd_keyfile),
        ]
    }

    /// The first etcd flag given, if any.
    pub fn first_given(&self) -> Option<&'static str> {
        if !self.etcd_endpoints.is_empty() {
            return Some("--etcd-endpoints");
        }
        self.files()
            .into_iter()
            .find_map(|(flag, file)| file.is_some().then_some(flag))
    }

    /// The etcd options the flags ask for, or an error naming the flag at
    /// fault. `when` ends the message of a missing `--etcd-endpoints`
    /// (" with --store etcd", or "").
    pub fn options(&self, when: &str) -> Result<EtcdOptions> {
        if self.etcd_endpoints.is_empty() {
            anyhow::bail!("--etcd-endpoints is required{when}");
        }
        let mut https = false;
        for url in &self.etcd_endpoints {
            https |= check_endpoint(url).map_err(|e| anyhow::anyhow!("--etcd-endpoints: {e}"))?;
        }
        for (flag, file) in self.files() {
            if let Some(f) = file {
                if !f.is_file() {
                    anyhow::bail!("{flag}: {} is not a readable file", f.display());
                }
                if !https {
                    anyhow::bail!("{flag} needs https:// endpoints in --etcd-endpoints");
                }
            }
        }
        if self.etcd_certfile.is_some() != self.etcd_keyfile.is_some() {
            anyhow::bail!("--etcd-certfile and --etcd-keyfile go together");
        }
        if https && self.etcd_cafile.is_none() {
            anyhow::bail!("--etcd-cafile is required with https:// endpoints");
        }
        let tls = https.then(|| EtcdTls {
            ca_file: self.etcd_cafile.clone(),
            cert_file: self.etcd_certfile.clone(),
            key_file: self.etcd_keyfile.clone(),
        });
        Ok(EtcdOptions {
            endpoints: self.etcd_endpoints.clone(),
            tls,
            ..EtcdOptions::default()
        })
    }

    /// The flags as given, to repeat them in a command line.
    pub fn command_line(&self) -> String {
        let mut out = format!("--etcd-endpoints {}", self.etcd_endpoints.join(","));
        for (flag, file) in self.files() {
            if let Some(f) = file {
                out.push_str(&format!(" {flag} {}", f.display()));
            }
        }
        out
    }
}

/// Checks one etcd URL: `http://host:port` or `https://host:port`, and
/// says whether it is https.
fn check_endpoint(url: &str) -> std::result::Result<bool, String> {
    let parsed: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    let https = match parsed.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    };
    if parsed.host().is_none_or(str::is_empty) || parsed.port_u16().is_none() {
        return Err(format!("{url:?} must name a host and a port"));
    }
    if parsed.path() != "/" && !parsed.path().is_empty() {
        return Err(format!("{url:?} must not have a path"));
    }
    Ok(https)
}
