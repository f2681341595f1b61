//! Syntax checks for names, label keys and values, port names and config
//! keys, ported from `k8s.io/apimachinery/pkg/util/validation`. Each check
//! returns the list of problems (empty when the string is valid), with
//! Kubernetes' wording.

/// Maximum length of a DNS-1123 label (and of a label value / name part).
pub(super) const LABEL_MAX: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub(super) const SUBDOMAIN_MAX: usize = 253;

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric \
characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
(e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or \
'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of \
alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', \
'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is \
'[-._a-zA-Z0-9]+')";

const QUALIFIED_NAME_MSG: &str = "a qualified name must consist of alphanumeric characters, \
'-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS \
subdomain prefix and '/' (e.g. 'example.com/MyName')";
const ENV_VAR_MSG: &str = "a valid environment variable name must consist only of printable \
ASCII characters other than '='";

fn max_len(s: &str, max: usize) -> Option<String> {
    (s.len() > max).then(|| format!("must be no more than {max} characters"))
}

/// Non-empty, only `allowed` characters, alphanumeric at both ends.
fn alnum_bounded(s: &str, allowed: impl Fn(char) -> bool, alnum: impl Fn(char) -> bool) -> bool {
    let ends_ok = s.chars().next().is_some_and(&alnum) && s.chars().last().is_some_and(&alnum);
    ends_ok && s.chars().all(allowed)
}

fn is_label_chars(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    alnum_bounded(s, |c| alnum(c) || c == '-', alnum)
}

fn is_name_part_chars(s: &str) -> bool {
    alnum_bounded(
        s,
        |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
        |c| c.is_ascii_alphanumeric(),
    )
}

/// A DNS-1123 label: at most 63 characters of `[a-z0-9-]`, alphanumeric at
/// both ends (Namespace and Service names, container names).
pub(super) fn dns1123_label(s: &str) -> Vec<String> {
    let mut msgs: Vec<String> = max_len(s, LABEL_MAX).into_iter().collect();
    if !is_label_chars(s) {
        msgs.push(LABEL_MSG.to_owned());
    }
    msgs
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels.
pub(super) fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut msgs: Vec<String> = max_len(s, SUBDOMAIN_MAX).into_iter().collect();
    if !s.split('.').all(is_label_chars) {
        msgs.push(SUBDOMAIN_MSG.to_owned());
    }
    msgs
}

/// A qualified name (label or annotation key): `[prefix/]name` where the
/// optional prefix is a DNS-1123 subdomain and the name is at most 63
/// characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
pub(super) fn qualified_name(s: &str) -> Vec<String> {
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                return vec!["prefix part must be non-empty".to_owned()];
            }
            let mut msgs: Vec<String> = dns1123_subdomain(prefix)
                .into_iter()
                .map(|m| format!("prefix part {m}"))
                .collect();
            msgs.extend(qualified_name_part(name));
            return msgs;
        }
        _ => {
            return vec![QUALIFIED_NAME_MSG.to_owned()];
        }
    };
    qualified_name_part(name)
}

fn qualified_name_part(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["name part must be non-empty".to_owned()];
    }
    let mut msgs: Vec<String> = max_len(name, LABEL_MAX)
        .map(|m| format!("name part {m}"))
        .into_iter()
        .collect();
    if !is_name_part_chars(name) {
        msgs.push(NAME_PART_MSG.to_owned());
    }
    msgs
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9_.-]`,
/// alphanumeric at both ends.
pub(super) fn label_value(s: &str) -> Vec<String> {
    let mut msgs: Vec<String> = max_len(s, LABEL_MAX).into_iter().collect();
    if !s.is_empty() && !is_name_part_chars(s) {
        msgs.push(LABEL_VALUE_MSG.to_owned());
    }
    msgs
}

/// An IANA_SVC_NAME (container port names, named target ports): at most 15
/// characters of `[a-z0-9-]` with at least one letter and no leading,
/// trailing or doubled hyphen.
pub(super) fn iana_svc_name(s: &str) -> Vec<String> {
    let mut msgs: Vec<String> = max_len(s, 15).into_iter().collect();
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        msgs.push(
            "must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if s.contains("--") {
        msgs.push("must not contain consecutive hyphens".to_owned());
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        msgs.push("must contain at least one letter (a-z)".to_owned());
    }
    if s.starts_with('-') || s.ends_with('-') {
        msgs.push("must not begin or end with a hyphen".to_owned());
    }
    msgs
}

/// An environment variable name (Kubernetes' relaxed rule): printable
/// ASCII characters other than `=`.
pub(super) fn env_var_name(s: &str) -> Vec<String> {
    if s.chars().all(|c| (' '..='~').contains(&c) && c != '=') {
        Vec::new()
    } else {
        vec![ENV_VAR_MSG.to_owned()]
    }
}

/// A ConfigMap or Secret data key: at most 253 characters of
/// `[-._a-zA-Z0-9]`, not `.`, `..` or starting with `..`.
pub(super) fn config_key(s: &str) -> Vec<String> {
    let mut msgs: Vec<String> = max_len(s, SUBDOMAIN_MAX).into_iter().collect();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        msgs.push(CONFIG_KEY_MSG.to_owned());
    }
    if s == "." {
        msgs.push("must not be '.'".to_owned());
    } else if s == ".." {
        msgs.push("must not be '..'".to_owned());
    } else if s.starts_with("..") {
        msgs.push("must not start with '..'".to_owned());
    }
    msgs
}

/// A `generateName` prefix, checked like Kubernetes' `maskTrailingDash`:
/// a trailing dash and the character before it are replaced by `a`, then
/// the result must pass `check`.
pub(super) fn name_prefix(prefix: &str, check: fn(&str) -> Vec<String>) -> Vec<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    if chars.len() > 1 && chars.last() == Some(&'-') {
        chars.truncate(chars.len() - 2);
        chars.push('a');
    }
    check(&chars.into_iter().collect::<String>())
}
