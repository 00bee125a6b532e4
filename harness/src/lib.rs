//! # cloudid-harness
//!
//! Runs declarative scenarios against client programs and judges what they did from the
//! cloudid server's journal. This crate starts small: the verdict vocabulary and journal queries
//! that scenarios will be built from.

use cloudid_mock::{JournalEntry, Verdict};

/// The result of one named check of a scenario, in the OpenID conformance suite's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Result {
    /// The client behaved as the specification requires.
    Passed,
    /// It did not.
    Failed,
    /// Allowed, but not what a careful client does.
    Warning,
    /// The check did not apply to this client.
    Skipped,
}

/// The operations of `service` in the journal, in order.
pub fn operations<'a>(journal: &'a [JournalEntry], service: &str) -> Vec<&'a str> {
    journal.iter().filter(|e| e.service == service).map(|e| e.operation.as_str()).collect()
}

/// Whether any entry of the journal granted credentials with this access key id.
pub fn granted_key(journal: &[JournalEntry], access_key_id: &str) -> bool {
    journal
        .iter()
        .any(|e| e.verdict == Verdict::Granted && e.issued.as_ref().is_some_and(|i| i.access_key_id.as_deref() == Some(access_key_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_listed_in_order_for_one_service() {
        let e = |service: &str, op: &str| JournalEntry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            path: "/".into(),
            service: service.into(),
            operation: op.into(),
            principal: None,
            verdict: Verdict::Served,
            status: 200,
            checks: vec![],
            issued: None,
        };
        let j = vec![e("aws_imds", "PutToken"), e("other", "X"), e("aws_imds", "GetCredentials")];
        assert_eq!(operations(&j, "aws_imds"), vec!["PutToken", "GetCredentials"]);
        assert!(!granted_key(&j, "ASIA"));
    }
}
