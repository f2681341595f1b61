//! EndpointSlice (discovery.k8s.io/v1) validation: address type, endpoint
//! addresses and ports.

use serde_json::Value;

use super::cause::Cause;
use super::common::{check_enum, check_ip, check_port, check_protocol, check_syntax, IpFamily};
use super::json::{self, child, push_invalid};
use super::names;

const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];
/// Maximum number of endpoints in one slice.
const MAX_ENDPOINTS: usize = 1000;

/// Validates an EndpointSlice.
pub(super) fn validate_endpoint_slice(obj: &Value, errs: &mut Vec<Cause>) {
    let obj = obj.as_object();
    let address_type = json::get(obj, "addressType");
    if address_type.is_none() {
        errs.push(Cause::required("addressType"));
    }
    let address_type = check_enum(address_type, "addressType", ADDRESS_TYPES, errs);

    let endpoints = json::get(obj, "endpoints");
    if endpoints
        .and_then(Value::as_array)
        .is_some_and(|e| e.len() > MAX_ENDPOINTS)
    {
        errs.push(Cause::too_long("endpoints", MAX_ENDPOINTS, "items"));
    }
    for (path, endpoint) in json::objects(endpoints, "endpoints", errs) {
        let path = child(&path, "addresses");
        let addresses = json::get(Some(endpoint), "addresses");
        if json::is_empty(addresses) {
            errs.push(Cause::required(&path));
        }
        for (i, address) in json::array(addresses, &path, errs)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let apath = json::index(&path, i);
            if let Some(address) = json::string(Some(address), &apath, errs) {
                check_address(address, address_type, &apath, errs);
            }
        }
    }

    for (path, port) in json::objects(json::get(obj, "ports"), "ports", errs) {
        let port = Some(port);
        check_port(json::get(port, "port"), &child(&path, "port"), 0, errs);
        check_protocol(json::get(port, "protocol"), &child(&path, "protocol"), errs);
        check_syntax(
            json::get(port, "name"),
            &child(&path, "name"),
            names::dns1123_label,
            errs,
        );
    }
}

/// An address must match the slice's address type.
fn check_address(address: &str, address_type: Option<&str>, path: &str, errs: &mut Vec<Cause>) {
    match address_type {
        Some("IPv4") => check_ip(address, Some(IpFamily::V4), path, errs),
        Some("IPv6") => check_ip(address, Some(IpFamily::V6), path, errs),
        Some("FQDN") => push_invalid(errs, path, names::dns1123_subdomain(address)),
        _ => {}
    }
}
