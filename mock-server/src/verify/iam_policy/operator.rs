//! Condition operators, from the IAM User Guide's "IAM JSON policy elements: Condition
//! operators": the String, Numeric, Date, Bool, Binary, IP address and ARN families, their
//! negated forms, `…IfExists`, the `ForAnyValue:`/`ForAllValues:` set qualifiers and `Null`.
//!
//! The rules for a key the request does not have, as documented: a positive operator fails, a
//! negated one holds, `…IfExists` holds; `ForAnyValue` fails and `ForAllValues` holds on an empty
//! set; `Null: true` holds.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::PolicyError;
use super::variables;

/// How one policy value is compared with one request value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String { ignore_case: bool, like: bool },
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

/// A set qualifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    ForAnyValue,
    ForAllValues,
}

/// A parsed condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Operator {
    set: Option<Set>,
    family: Family,
    negated: bool,
    if_exists: bool,
}

/// The outcome of one condition, with the rule that decided when plain matching did not.
pub(super) struct Outcome {
    pub(super) holds: bool,
    pub(super) rule: Option<&'static str>,
}

impl Operator {
    /// Parses an operator name as IAM spells it (case-sensitive, as IAM's parser is).
    pub(super) fn parse(name: &str) -> Result<Self, PolicyError> {
        let unknown = || PolicyError(format!("`{name}` is not a condition operator (see the IAM User Guide, \"Condition operators\")"));
        let (set, rest) = match name.split_once(':') {
            Some(("ForAnyValue", rest)) => (Some(Set::ForAnyValue), rest),
            Some(("ForAllValues", rest)) => (Some(Set::ForAllValues), rest),
            Some(_) => return Err(unknown()),
            None => (None, name),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        use Family::*;
        use Ordering::*;
        let (family, negated) = match base {
            "StringEquals" => (String { ignore_case: false, like: false }, false),
            "StringNotEquals" => (String { ignore_case: false, like: false }, true),
            "StringEqualsIgnoreCase" => (String { ignore_case: true, like: false }, false),
            "StringNotEqualsIgnoreCase" => (String { ignore_case: true, like: false }, true),
            "StringLike" => (String { ignore_case: false, like: true }, false),
            "StringNotLike" => (String { ignore_case: false, like: true }, true),
            "NumericEquals" => (Numeric(Equals), false),
            "NumericNotEquals" => (Numeric(Equals), true),
            "NumericLessThan" => (Numeric(LessThan), false),
            "NumericLessThanEquals" => (Numeric(LessThanEquals), false),
            "NumericGreaterThan" => (Numeric(GreaterThan), false),
            "NumericGreaterThanEquals" => (Numeric(GreaterThanEquals), false),
            "DateEquals" => (Date(Equals), false),
            "DateNotEquals" => (Date(Equals), true),
            "DateLessThan" => (Date(LessThan), false),
            "DateLessThanEquals" => (Date(LessThanEquals), false),
            "DateGreaterThan" => (Date(GreaterThan), false),
            "DateGreaterThanEquals" => (Date(GreaterThanEquals), false),
            "Bool" => (Bool, false),
            "BinaryEquals" => (Binary, false),
            "IpAddress" => (Ip, false),
            "NotIpAddress" => (Ip, true),
            "ArnEquals" | "ArnLike" => (Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Arn, true),
            "Null" if !if_exists => (Null, false),
            _ => return Err(unknown()),
        };
        if family == Null && set.is_some() {
            return Err(PolicyError(format!("`{name}`: Null tests whether a key is present and takes no set qualifier")));
        }
        Ok(Self { set, family, negated, if_exists })
    }

    /// Checks the policy's values for this operator: numbers for Numeric, dates for Date,
    /// `true`/`false` for Bool and Null, CIDR blocks for IpAddress, base64 for BinaryEquals.
    pub(super) fn check_values(&self, name: &str, key: &str, values: &[String]) -> Result<(), PolicyError> {
        let bad = |v: &str, what: &str| Err(PolicyError(format!("{name} {key}: `{v}` is not {what}")));
        for v in values {
            match self.family {
                Family::Numeric(_) if number(v).is_none() => return bad(v, "a number"),
                Family::Date(_) if date(v).is_none() => return bad(v, "a date (ISO 8601, e.g. 2026-12-03T00:00:00Z, or epoch seconds)"),
                Family::Bool | Family::Null if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => return bad(v, "true or false"),
                Family::Ip if cidr(v).is_none() => return bad(v, "an IP address or CIDR block"),
                Family::Binary if base64_ok(v).is_none() => return bad(v, "base64"),
                _ => {}
            }
        }
        Ok(())
    }

    /// Evaluates the condition: the policy's `wanted` values against the request's `present`
    /// values (`None`: no such key); `lookup` resolves policy variables.
    pub(super) fn evaluate(&self, wanted: &[String], present: Option<&[String]>, lookup: &dyn Fn(&str) -> Option<Vec<String>>, variables: bool) -> Outcome {
        let present = present.filter(|v| !v.is_empty());
        if self.family == Family::Null {
            let want_absent = wanted.iter().any(|w| w.eq_ignore_ascii_case("true"));
            let holds = want_absent == present.is_none();
            let rule = Some(if present.is_none() { "Null: the key is absent" } else { "Null: the key is present" });
            return Outcome { holds, rule };
        }
        let Some(values) = present else {
            let (holds, rule) = match (self.set, self.if_exists, self.negated) {
                (Some(Set::ForAllValues), ..) => (true, "ForAllValues holds when the request has no values for the key"),
                (Some(Set::ForAnyValue), ..) => (false, "ForAnyValue fails when the request has no values for the key"),
                (None, true, _) => (true, "…IfExists holds when the key is absent"),
                (None, false, true) => (true, "a negated operator holds when the key is absent"),
                (None, false, false) => (false, "the key is absent, so the condition cannot match (…IfExists would let it hold)"),
            };
            return Outcome { holds, rule: Some(rule) };
        };
        let wanted: Vec<Option<std::borrow::Cow<'_, str>>> = wanted
            .iter()
            .map(|w| {
                if variables && self.substitutes() && w.contains("${") {
                    variables::substitute(w, lookup, self.patterns()).map(std::borrow::Cow::Owned)
                } else {
                    Some(std::borrow::Cow::Borrowed(w.as_str()))
                }
            })
            .collect();
        let unresolved = wanted.iter().any(Option::is_none);
        let matches_one = |v: &str| wanted.iter().flatten().any(|p| self.matches(p, v));
        let holds = match self.set {
            Some(Set::ForAllValues) => values.iter().all(|v| matches_one(v) != self.negated),
            Some(Set::ForAnyValue) => values.iter().any(|v| matches_one(v) != self.negated),
            None if self.negated => !values.iter().any(|v| matches_one(v)),
            None => values.iter().any(|v| matches_one(v)),
        };
        let rule = unresolved.then_some("a policy variable names a key the request does not have, so that value matches nothing");
        Outcome { holds, rule }
    }

    fn substitutes(&self) -> bool {
        matches!(self.family, Family::String { .. } | Family::Arn)
    }

    /// Whether its values are wildcard patterns (`StringLike`, the ARN operators).
    fn patterns(&self) -> bool {
        matches!(self.family, Family::String { like: true, .. } | Family::Arn)
    }

    /// Whether the request value `v` matches the policy value `p`, before negation.
    fn matches(&self, p: &str, v: &str) -> bool {
        match self.family {
            Family::String { ignore_case: false, like: false } => p == v,
            Family::String { ignore_case: true, .. } => p.to_lowercase() == v.to_lowercase(),
            Family::String { like: true, .. } => super::glob(p, v, false),
            Family::Numeric(o) => matches!((number(p), number(v)), (Some(p), Some(v)) if o.holds(Some(v.cmp(&p)))),
            Family::Date(o) => matches!((date(p), date(v)), (Some(p), Some(v)) if o.holds(Some(v.cmp(&p)))),
            Family::Bool => p.eq_ignore_ascii_case(v),
            Family::Binary => base64_ok(p).is_some() && base64_ok(p) == base64_ok(v),
            Family::Ip => matches!((cidr(p), v.parse::<IpAddr>()), (Some(block), Ok(addr)) if in_block(block, addr.to_canonical())),
            Family::Arn => arn_matches(p, v),
            Family::Null => false,
        }
    }
}

impl Ordering {
    fn holds(self, request_vs_policy: Option<std::cmp::Ordering>) -> bool {
        use std::cmp::Ordering::*;
        match (self, request_vs_policy) {
            (_, None) => false,
            (Self::Equals, Some(o)) => o == Equal,
            (Self::LessThan, Some(o)) => o == Less,
            (Self::LessThanEquals, Some(o)) => o != Greater,
            (Self::GreaterThan, Some(o)) => o == Greater,
            (Self::GreaterThanEquals, Some(o)) => o != Less,
        }
    }
}

/// A number as a condition compares it: an optional sign, digits, an optional fraction (no
/// exponent, no spaces). Exact: integers and decimals compare as decimals, never as floats.
#[derive(Debug, Clone)]
struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let zero = |d: &Decimal| d.int.is_empty() && d.frac.is_empty();
        let sign = |d: &Decimal| {
            if zero(d) {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let magnitude = |a: &Decimal, b: &Decimal| {
            let width = a.frac.len().max(b.frac.len());
            (a.int.len().cmp(&b.int.len())).then_with(|| a.int.cmp(&b.int)).then_with(|| format!("{:0<width$}", a.frac).cmp(&format!("{:0<width$}", b.frac)))
        };
        match sign(self).cmp(&sign(other)) {
            std::cmp::Ordering::Equal if sign(self) < 0 => magnitude(other, self),
            std::cmp::Ordering::Equal => magnitude(self, other),
            o => o,
        }
    }
}

fn number(s: &str) -> Option<Decimal> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Decimal { negative, int: int.trim_start_matches('0').to_string(), frac: frac.trim_end_matches('0').to_string() })
}

/// A date as IAM reads one: ISO 8601 (`2026-12-03`, `2026-12-03T10:00:00Z`, with fractions or an
/// offset, or without a zone, read as UTC) or epoch seconds.
pub(super) fn date(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return OffsetDateTime::from_unix_timestamp(s.parse().ok()?).ok();
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    if s.len() == 10 {
        return OffsetDateTime::parse(&format!("{s}T00:00:00Z"), &Rfc3339).ok();
    }
    if s.len() >= 19 && !s.ends_with('Z') && s.get(19..).is_some_and(|tail| !tail.contains(['+', '-'])) {
        return OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339).ok();
    }
    None
}

fn cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?),
        None => {
            let a = s.parse::<IpAddr>().ok()?;
            (a, if a.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn in_block((net, len): (IpAddr, u8), addr: IpAddr) -> bool {
    let (net, addr, bits) = match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    if len == 0 {
        return true;
    }
    let shift = bits - u32::from(len);
    (net >> shift) == (addr >> shift)
}

fn base64_ok(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// ARN matching: each of the six colon-separated parts compared separately, case-sensitively,
/// each allowing `*` and `?`; a request value that is not an ARN matches nothing.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if a.len() != 6 || a[0] != "arn" {
        return p.len() == 1 && p[0] == "*";
    }
    if p.len() == 1 && p[0] == "*" {
        return true;
    }
    p.len() == 6 && p.iter().zip(&a).all(|(p, a)| super::glob(p, a, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operator_name_parses_and_typos_do_not() {
        for name in [
            "StringEquals",
            "StringNotEqualsIgnoreCase",
            "StringLikeIfExists",
            "ForAnyValue:StringLike",
            "ForAllValues:StringNotEquals",
            "NumericLessThanEquals",
            "NumericGreaterThanIfExists",
            "DateGreaterThanEquals",
            "DateNotEquals",
            "Bool",
            "BoolIfExists",
            "BinaryEquals",
            "IpAddress",
            "NotIpAddressIfExists",
            "ArnEquals",
            "ArnLike",
            "ArnNotEquals",
            "ArnNotLikeIfExists",
            "ForAnyValue:ArnLike",
            "Null",
        ] {
            assert!(Operator::parse(name).is_ok(), "{name}");
        }
        for name in ["stringequals", "StringEqual", "NullIfExists", "ForAnyValue:Null", "ForSomeValues:StringLike", "Boolean", "DateLess"] {
            assert!(Operator::parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn dates_read_as_iam_reads_them() {
        let day = date("2026-12-03").unwrap();
        assert_eq!(date("2026-12-03T00:00:00Z"), Some(day));
        assert_eq!(date("2026-12-03T09:00:00+09:00"), Some(day));
        assert_eq!(date("2026-12-03T00:00:00"), Some(day));
        assert_eq!(date("1796256000"), Some(day));
        assert_eq!(date("2026-12-03T00:00:00.000Z"), Some(day));
        assert_eq!(date("yesterday"), None);
    }

    #[test]
    fn numbers_compare_exactly_and_refuse_exponents_and_spaces() {
        let n = |s: &str| number(s).unwrap();
        assert_eq!(n("10"), n("10.0"));
        assert_eq!(n("-0"), n("0"));
        assert!(n("1796256000.0000001") > n("1796256000"));
        assert!(n("-2") < n("-1.5") && n("-1.5") < n("0.1") && n("9") < n("10"));
        for bad in ["1.8e9", " 5", "5 ", "0x10", "", "-", ".", "1,000", "１"] {
            assert!(number(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn dates_with_multibyte_text_are_no_dates_not_a_panic() {
        assert_eq!(date("2026-12-03T00:00:0é"), None);
        assert_eq!(date("aaaaaaaaaaaaaaaaaaé"), None);
        assert_eq!(date("２０２６-12-03"), None);
    }

    #[test]
    fn ip_blocks_contain_what_they_should() {
        let b = cidr("203.0.113.0/24").unwrap();
        assert!(in_block(b, "203.0.113.77".parse().unwrap()));
        assert!(!in_block(b, "203.0.114.1".parse().unwrap()));
        assert!(!in_block(b, "2001:db8::1".parse().unwrap()));
        assert!(in_block(cidr("2001:db8::/32").unwrap(), "2001:db8:1::5".parse().unwrap()));
        assert!(in_block(cidr("0.0.0.0/0").unwrap(), "8.8.8.8".parse().unwrap()));
        assert!(in_block(cidr("10.1.2.3").unwrap(), "10.1.2.3".parse().unwrap()));
        assert!(cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn arns_match_part_by_part() {
        assert!(arn_matches("arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:role/a/b"));
        assert!(arn_matches("arn:aws:iam::*:role/deploy", "arn:aws:iam::123456789012:role/deploy"));
        assert!(!arn_matches("arn:aws:iam::*:role/deploy", "arn:aws:iam::123456789012:role/Deploy"));
        assert!(!arn_matches("arn:aws:iam::123456789012:*", "not-an-arn"));
        assert!(arn_matches("*", "arn:aws:iam::123456789012:role/x"));
        assert!(!arn_matches("arn:aws:iam::1234*", "arn:aws:iam::123456789012:role/x"));
    }
}
