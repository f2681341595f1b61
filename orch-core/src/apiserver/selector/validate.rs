//! Syntax checks for label keys (qualified names) and label values, with
//! Kubernetes' wording (`k8s.io/apimachinery/pkg/util/validation`).

/// Maximum length of a label value and of the name part of a key.
const NAME_MAX: usize = 63;
/// Maximum length of the DNS-subdomain prefix of a key.
const PREFIX_MAX: usize = 253;

const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or \
'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const PREFIX_MSG: &str = "prefix part a lowercase RFC 1123 subdomain must consist of lower \
case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
character (e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// Non-empty, only `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn is_name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        }
        _ => false,
    }
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => alnum(f) && alnum(l) && b.iter().all(|c| alnum(c) || *c == b'-'),
        _ => false,
    }
}

/// Checks a label key (`[prefix/]name`); returns why it is invalid.
pub(crate) fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".to_owned());
        }
        if prefix.len() > PREFIX_MAX {
            return Err(format!(
                "prefix part must be no more than {PREFIX_MAX} characters"
            ));
        }
        if !prefix.split('.').all(is_dns_label) {
            return Err(PREFIX_MSG.to_owned());
        }
        if name.contains('/') {
            return Err(
                "a qualified name must consist of alphanumeric characters, '-', '_' \
                        or '.', with an optional DNS subdomain prefix and '/'"
                    .to_owned(),
            );
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_owned());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "name part must be no more than {NAME_MAX} characters"
        ));
    }
    if !is_name_chars(name) {
        return Err(NAME_PART_MSG.to_owned());
    }
    Ok(())
}

/// Checks a label value (may be empty); returns why it is invalid.
pub(crate) fn label_value(value: &str) -> Result<(), String> {
    if value.len() > NAME_MAX {
        return Err(format!("must be no more than {NAME_MAX} characters"));
    }
    if !value.is_empty() && !is_name_chars(value) {
        return Err(VALUE_MSG.to_owned());
    }
    Ok(())
}
