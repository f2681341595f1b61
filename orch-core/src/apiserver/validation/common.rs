//! Field checks shared by several kinds: enumerations, integer ranges, port
//! numbers and protocols, named syntax checks.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use super::cause::Cause;
use super::json::{self, push_invalid};

/// Protocols accepted for container, Service and EndpointSlice ports.
pub(super) const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

/// Checks that an optional string field is one of `allowed`; returns it.
pub(super) fn check_enum<'a>(
    v: Option<&'a Value>,
    path: &str,
    allowed: &[&str],
    errs: &mut Vec<Cause>,
) -> Option<&'a str> {
    let s = json::string(v, path, errs)?;
    if !allowed.contains(&s) {
        errs.push(Cause::not_supported(path, s, allowed));
    }
    Some(s)
}

/// Checks an optional integer field lies in `min..=max`; returns it.
pub(super) fn check_range(
    v: Option<&Value>,
    path: &str,
    min: i64,
    max: i64,
    errs: &mut Vec<Cause>,
) -> Option<i64> {
    let n = json::int(v, path, errs)?;
    if n < min || n > max {
        let msg = if max == i64::MAX {
            format!("must be greater than or equal to {min}")
        } else {
            format!("must be between {min} and {max}, inclusive")
        };
        errs.push(Cause::invalid(path, msg));
    }
    Some(n)
}

/// Checks an optional integer field is `>= 0`.
pub(super) fn check_non_negative(
    v: Option<&Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<i64> {
    check_range(v, path, 0, i64::MAX, errs)
}

/// Checks an optional port number lies in `min..=65535` (`min` is 1 for
/// ports that must be set, 0 for optional ones such as `hostPort`).
pub(super) fn check_port(
    v: Option<&Value>,
    path: &str,
    min: i64,
    errs: &mut Vec<Cause>,
) -> Option<i64> {
    check_range(v, path, min, 65535, errs)
}

/// Checks a required port number (`1..=65535`).
pub(super) fn check_required_port(
    v: Option<&Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<i64> {
    if v.is_none() {
        errs.push(Cause::required(path));
    }
    check_port(v, path, 1, errs)
}

/// Checks an optional protocol (`TCP`, `UDP` or `SCTP`); returns it, or
/// `TCP` when unset.
pub(super) fn check_protocol<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> &'a str {
    check_enum(v, path, PROTOCOLS, errs).unwrap_or("TCP")
}

/// Checks an optional string field with a syntax check from `names`;
/// returns the string (which may be empty).
pub(super) fn check_syntax<'a>(
    v: Option<&'a Value>,
    path: &str,
    check: fn(&str) -> Vec<String>,
    errs: &mut Vec<Cause>,
) -> Option<&'a str> {
    let s = json::string(v, path, errs)?;
    if !s.is_empty() {
        push_invalid(errs, path, check(s));
    }
    Some(s)
}

/// Checks a string field that must be set and non-empty and pass `check`.
pub(super) fn check_required_syntax<'a>(
    v: Option<&'a Value>,
    path: &str,
    check: fn(&str) -> Vec<String>,
    errs: &mut Vec<Cause>,
) -> Option<&'a str> {
    let s = check_syntax(v, path, check, errs);
    if v.is_none() || s == Some("") {
        errs.push(Cause::required(path));
    }
    s.filter(|s| !s.is_empty())
}

/// Records a `FieldValueDuplicate` at `path` when `value` was already seen.
pub(super) fn check_unique(
    seen: &mut HashSet<String>,
    value: &str,
    path: &str,
    errs: &mut Vec<Cause>,
) {
    if !seen.insert(value.to_owned()) {
        errs.push(Cause::duplicate(path, &format!("{value:?}")));
    }
}

/// Checks that `s` is an IP address of the given family (`None`: either).
pub(super) fn check_ip(s: &str, family: Option<IpFamily>, path: &str, errs: &mut Vec<Cause>) {
    let ok = match (s.parse::<IpAddr>(), family) {
        (Ok(_), None) => true,
        (Ok(ip), Some(IpFamily::V4)) => ip.is_ipv4(),
        (Ok(ip), Some(IpFamily::V6)) => ip.is_ipv6(),
        (Err(_), _) => false,
    };
    if !ok {
        let msg = match family {
            None => "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            Some(IpFamily::V4) => "must be a valid IPv4 address",
            Some(IpFamily::V6) => "must be a valid IPv6 address",
        };
        errs.push(Cause::invalid(path, msg));
    }
}

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}
