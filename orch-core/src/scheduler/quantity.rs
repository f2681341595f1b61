//! Values of Kubernetes resource quantities (`100m`, `2`, `128Mi`, `1G`,
//! `1e3`), rounded up as `resource.Quantity`'s `MilliValue()` and
//! `Value()` do. `apiserver::validation::quantity` only checks the syntax
//! and keeps no value, so the scheduler computes values here.

/// `10^n` for the decimal suffixes, `2^(10k)` for the binary ones.
#[derive(Debug, Clone, Copy)]
enum Scale {
    Decimal(i32),
    Binary(u32),
}

fn suffix_scale(suffix: &str) -> Option<Scale> {
    Some(match suffix {
        "" => Scale::Decimal(0),
        "n" => Scale::Decimal(-9),
        "u" => Scale::Decimal(-6),
        "m" => Scale::Decimal(-3),
        "k" => Scale::Decimal(3),
        "M" => Scale::Decimal(6),
        "G" => Scale::Decimal(9),
        "T" => Scale::Decimal(12),
        "P" => Scale::Decimal(15),
        "E" => Scale::Decimal(18),
        "Ki" => Scale::Binary(10),
        "Mi" => Scale::Binary(20),
        "Gi" => Scale::Binary(30),
        "Ti" => Scale::Binary(40),
        "Pi" => Scale::Binary(50),
        "Ei" => Scale::Binary(60),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Scale::Decimal(exp.parse::<i32>().ok()?.clamp(-100, 100))
        }
    })
}

/// `ceil(a / b)` for `b > 0`.
fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && a > 0 {
        q + 1
    } else {
        q
    }
}

/// `10^n`, saturating.
fn pow10(n: u32) -> i128 {
    10i128.checked_pow(n).unwrap_or(i128::MAX)
}

/// The quantity times `10^extra`, rounded up (towards positive infinity),
/// saturated to the `i64` range. `None` when `s` is not a quantity.
fn parse_scaled(s: &str, extra: i32) -> Option<i64> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let num_len = rest
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.len() + frac.len() == 0 || frac.contains('.') {
        return None;
    }
    let scale = suffix_scale(suffix)?;
    // Leading zeros carry no value; more than 30 significant digits
    // saturates anyway.
    let digits: String = format!("{int}{frac}").trim_start_matches('0').to_string();
    if digits.len() > 30 {
        return Some(if negative { i64::MIN } else { i64::MAX });
    }
    let mut mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    if negative {
        mantissa = -mantissa;
    }
    let frac_len = i32::try_from(frac.len()).ok()?;
    let value = match scale {
        Scale::Decimal(e) => {
            let exp = e + extra - frac_len;
            if exp >= 0 {
                mantissa.saturating_mul(pow10(exp.unsigned_abs()))
            } else if exp < -38 {
                i128::from(mantissa > 0)
            } else {
                div_ceil(mantissa, pow10(exp.unsigned_abs()))
            }
        }
        Scale::Binary(bits) => {
            let m = mantissa.saturating_mul(1i128 << bits);
            let exp = extra - frac_len;
            if exp >= 0 {
                m.saturating_mul(pow10(exp.unsigned_abs()))
            } else {
                div_ceil(m, pow10(exp.unsigned_abs()))
            }
        }
    };
    Some(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// The quantity in thousandths, rounded up: `"100m"` → 100, `"2"` → 2000
/// (CPU in millicores). `None` when malformed.
pub fn parse_milli(s: &str) -> Option<i64> {
    parse_scaled(s, 3)
}

/// The quantity in units, rounded up: `"128Mi"` → 134217728, `"1G"` →
/// 10^9 (memory in bytes, pod counts). `None` when malformed.
pub fn parse_value(s: &str) -> Option<i64> {
    parse_scaled(s, 0)
}
