//! A syntax check for resource quantities (`500m`, `1.5Gi`, `1e3`), the
//! serialization format of `k8s_openapi::apimachinery::pkg::api::resource::Quantity`.

/// Suffixes allowed after the number (besides a decimal exponent).
const SUFFIXES: &[&str] = &[
    "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
];

/// A parsed quantity: only what validation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Quantity {
    /// The value is below zero.
    pub negative: bool,
}

/// Parses `<sign>?<digits>[.<digits>]<suffix>` where the suffix is a
/// binary-SI (`Ki`..`Ei`), decimal-SI (`n u m k M G T P E`) suffix or a
/// decimal exponent (`e3`, `E-2`). Returns `None` when malformed.
pub(super) fn parse(s: &str) -> Option<Quantity> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_len = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return None;
    }
    if !SUFFIXES.contains(&suffix) && !is_exponent(suffix) {
        return None;
    }
    let nonzero = number.chars().any(|c| c.is_ascii_digit() && c != '0');
    Some(Quantity {
        negative: sign && nonzero,
    })
}

/// `e` or `E` followed by an optionally signed integer.
fn is_exponent(suffix: &str) -> bool {
    let Some(exp) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_valid_quantities() {
        for q in [
            "1", "0", "500m", "1.5Gi", "2Ki", ".5", "1.", "+3k", "1e3", "1E-2", "1E", "100n", "7u",
            "-0",
        ] {
            assert_eq!(parse(q).map(|q| q.negative), Some(false), "{q}");
        }
        assert_eq!(parse("-1").map(|q| q.negative), Some(true));
    }

    #[test]
    fn rejects_malformed_quantities() {
        for q in [
            "", "abc", "1..2", "1KB", "1K", "1e", "e3", "1 Gi", "Gi", ".", "1.2.3", "--1", "1mi",
            "1e+",
        ] {
            assert_eq!(parse(q), None, "{q}");
        }
    }
}
