//! Policy variables in condition values (String and ARN operators), from the IAM User Guide's
//! "IAM policy elements: Variables and tags": `${aws:username}` is replaced by the request's
//! value of that key; `${key, 'default'}` gives a value when the key is absent; `${*}`, `${?}`
//! and `${$}` are the literal characters. A variable whose key is absent (and has no default) or
//! has several values leaves the policy value matching nothing.

/// `text` with its variables replaced through `lookup`; `None` when one cannot be resolved.
pub(super) fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<Vec<String>>) -> Option<String> {
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
            "*" | "?" | "$" => out.push_str(inner),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                match (lookup(key).filter(|v| v.len() == 1), default) {
                    (Some(v), _) => out.push_str(&v[0]),
                    (None, Some(d)) => out.push_str(d),
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
        assert_eq!(substitute("arn:aws:iam::${aws:PrincipalAccount}:root", &lookup).as_deref(), Some("arn:aws:iam::123456789012:root"));
        assert_eq!(substitute("${*}literal${?}${$}", &lookup).as_deref(), Some("*literal?$"));
        assert_eq!(substitute("team-${aws:PrincipalTag/team, 'none'}", &lookup).as_deref(), Some("team-none"));
        assert_eq!(substitute("x-${aws:PrincipalTag/team}", &lookup), None);
        assert_eq!(substitute("${aws:TagKeys}", &lookup), None);
        assert_eq!(substitute("plain", &lookup).as_deref(), Some("plain"));
    }
}
