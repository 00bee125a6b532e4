//! Policy variables in condition values (String and ARN operators), from the IAM User Guide's
//! "IAM policy elements: Variables and tags": `${aws:username}` is replaced by the request's
//! value of that key; `${key, 'default'}` gives a value when the key is absent; `${*}`, `${?}`
//! and `${$}` are the literal characters. A variable whose key is absent (and has no default) or
//! has several values leaves the policy value matching nothing.

/// Stands for a literal `*` in a pattern after substitution (from `${*}` or a variable's value).
pub(super) const LITERAL_STAR: char = '\u{E000}';
/// Stands for a literal `?` in a pattern after substitution.
pub(super) const LITERAL_QUESTION: char = '\u{E001}';

/// `text` with its variables replaced through `lookup`; `None` when one cannot be resolved.
/// For a pattern (`literal_marks`), the `*` and `?` that substitution brings in — `${*}`, `${?}`
/// and any in a variable's value — are marked literal ([`LITERAL_STAR`], [`LITERAL_QUESTION`]),
/// so they match only themselves, as IAM matches them.
pub(super) fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<Vec<String>>, literal_marks: bool) -> Option<String> {
    let literal = |s: &str| if literal_marks { s.replace('*', &LITERAL_STAR.to_string()).replace('?', &LITERAL_QUESTION.to_string()) } else { s.to_string() };
    if !text.contains("${") {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out);
        };
        let inner = after[..end].trim();
        match inner {
            "*" | "?" => out.push_str(&literal(inner)),
            "$" => out.push('$'),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                match (lookup(key).filter(|v| v.len() == 1), default) {
                    (Some(v), _) => out.push_str(&literal(&v[0])),
                    (None, Some(d)) => out.push_str(&literal(d)),
                    (None, None) => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(key: &str) -> Option<Vec<String>> {
        match key {
            "aws:PrincipalAccount" => Some(vec!["123456789012".into()]),
            "aws:TagKeys" => Some(vec!["a".into(), "b".into()]),
            _ => None,
        }
    }

    #[test]
    fn variables_are_replaced_escaped_defaulted_or_left_unresolved() {
        assert_eq!(substitute("arn:aws:iam::${aws:PrincipalAccount}:root", &lookup, false).as_deref(), Some("arn:aws:iam::123456789012:root"));
        assert_eq!(substitute("${*}literal${?}${$}", &lookup, false).as_deref(), Some("*literal?$"));
        assert_eq!(substitute("team-${aws:PrincipalTag/team, 'none'}", &lookup, false).as_deref(), Some("team-none"));
        assert_eq!(substitute("x-${aws:PrincipalTag/team}", &lookup, false), None);
        assert_eq!(substitute("${aws:TagKeys}", &lookup, false), None);
        assert_eq!(substitute("plain", &lookup, false).as_deref(), Some("plain"));
        assert_eq!(substitute("a${*}b${?}", &lookup, true).as_deref(), Some("a\u{E000}b\u{E001}"), "a pattern's substituted wildcards are literal");
    }
}
