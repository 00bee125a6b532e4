//! Percent-decoding (RFC 3986 §2.1) for query strings and form bodies, in the two flavours the
//! services need: lenient (a `%` not followed by two hex digits stays as it is, as most servers
//! do) and strict (it is an error, as AWS's query protocol makes it). Bytes are decoded first and
//! read as UTF-8 after, so `caf%C3%A9` is `café`, not mojibake.

/// How `+` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plus {
    /// `+` is a space (`application/x-www-form-urlencoded`, query strings).
    Space,
    /// `+` is itself (URI paths, SigV4 canonical requests).
    Literal,
}

/// A `%` not followed by two hex digits, at this byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadEscape(pub usize);

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The bytes `s` encodes; a bad escape is an error.
pub(crate) fn decode_strict(s: &str, plus: Plus) -> Result<Vec<u8>, BadEscape> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => return Err(BadEscape(i)),
            },
            b'+' if plus == Plus::Space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// The bytes `s` encodes; a bad escape is kept as written.
pub(crate) fn decode_bytes(s: &str, plus: Plus) -> Vec<u8> {
    if !s.bytes().any(|c| c == b'%' || (c == b'+' && plus == Plus::Space)) {
        return s.as_bytes().to_vec();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus == Plus::Space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The text `s` encodes (form rules: `+` is a space), invalid UTF-8 replaced by U+FFFD.
pub(crate) fn decode_form(s: &str) -> String {
    String::from_utf8_lossy(&decode_bytes(s, Plus::Space)).into_owned()
}

/// The decoded value of the first `name=` in the query or form string `query`.
pub(crate) fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode_form(k) == name).then(|| decode_form(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_percent_encoding_decodes_to_the_characters_it_encodes() {
        assert_eq!(decode_form("caf%C3%A9+%E6%97%A5%E6%9C%AC"), "café 日本");
        assert_eq!(param("api-version=2.0&audience=https%3A%2F%2Fexample.com%2F%E3%81%82", "audience").as_deref(), Some("https://example.com/あ"));
    }

    #[test]
    fn lenient_decoding_keeps_bad_escapes_and_strict_decoding_refuses_them() {
        assert_eq!(decode_form("100%+sure%2"), "100% sure%2");
        assert_eq!(decode_strict("a%2", Plus::Space), Err(BadEscape(1)));
        assert_eq!(decode_strict("a%zz", Plus::Space), Err(BadEscape(1)));
        assert_eq!(decode_strict("a+b%2B", Plus::Literal).unwrap(), b"a+b+");
        assert_eq!(decode_strict("a+b", Plus::Space).unwrap(), b"a b");
    }
}
