//! The journal: every request an emulated endpoint served, in order, with its verdict and the
//! checks that ran. Secrets never enter it: issued secrets appear only as fingerprints.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What the server decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Credentials or tokens were issued.
    Granted,
    /// An authentication or authorization check refused the request.
    Denied,
    /// Non-secret data was served.
    Served,
    /// The request was malformed or asked for something that does not exist.
    Error,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check held.
    Pass,
    /// The check failed (and decided the verdict).
    Fail,
    /// The check did not apply.
    Skip,
}

/// One named check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Short name, e.g. `imds.token.valid`.
    pub name: String,
    /// What it found.
    pub outcome: Outcome,
    /// Evidence, never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(name: &str, detail: impl Into<Option<String>>) -> Self {
        Self { name: name.into(), outcome: Outcome::Pass, detail: detail.into() }
    }

    /// A failing check.
    pub fn fail(name: &str, detail: impl Into<Option<String>>) -> Self {
        Self { name: name.into(), outcome: Outcome::Fail, detail: detail.into() }
    }

    /// A check that did not apply.
    pub fn skip(name: &str, detail: impl Into<Option<String>>) -> Self {
        Self { name: name.into(), outcome: Outcome::Skip, detail: detail.into() }
    }
}

/// Credentials a response handed out, identified without their secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The access key id.
    pub access_key_id: String,
    /// Fingerprint of the secret access key ([`crate::Secret::fingerprint`]).
    pub secret_fingerprint: String,
    /// Fingerprint of the session token.
    pub token_fingerprint: String,
    /// Expiry, `YYYY-MM-DDTHH:MM:SSZ`.
    pub expiration: String,
    /// The assumed-role ARN the credentials stand for.
    pub arn: String,
}

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// Server-clock time the request was answered, RFC 3339.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Request path (no query: queries can carry tokens).
    pub path: String,
    /// Emulated service, e.g. `aws_imds`.
    pub service: String,
    /// Operation within it, e.g. `GetCredentials`.
    pub operation: String,
    /// Who the request acted as, when known (an ARN or account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The decision.
    pub verdict: Verdict,
    /// Response status code.
    pub status: u16,
    /// The checks that ran, in order.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Credentials handed out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Issued>,
}

/// What a handler says about the request it answered; the server's journal layer completes it
/// with method, path, time and status. Handlers attach it to the response's extensions.
#[derive(Debug, Clone)]
pub struct Note {
    /// Emulated service.
    pub service: &'static str,
    /// Operation.
    pub operation: &'static str,
    /// Principal, if known.
    pub principal: Option<String>,
    /// The decision.
    pub verdict: Verdict,
    /// Checks that ran.
    pub checks: Vec<Check>,
    /// Credentials handed out.
    pub issued: Option<Issued>,
}

impl Note {
    /// A note for `service`/`operation` with the given verdict and no checks yet.
    pub fn new(service: &'static str, operation: &'static str, verdict: Verdict) -> Self {
        Self { service, operation, principal: None, verdict, checks: Vec::new(), issued: None }
    }
}

/// Everything the journal holds, as the control plane returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JournalSnapshot {
    /// Entries dropped because the journal was full (oldest first).
    pub dropped: u64,
    /// The entries kept, oldest first.
    pub entries: Vec<JournalEntry>,
}

/// The server's journal: a bounded, ordered log shared by every handler.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    next_seq: u64,
    dropped: u64,
    entries: VecDeque<JournalEntry>,
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                capacity: capacity.max(1),
                next_seq: 1,
                dropped: 0,
                entries: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an entry, giving it the next sequence number.
    pub fn push(&self, mut entry: JournalEntry) {
        let mut j = self.lock();
        entry.seq = j.next_seq;
        j.next_seq += 1;
        if j.entries.len() == j.capacity {
            j.entries.pop_front();
            j.dropped += 1;
        }
        j.entries.push_back(entry);
    }

    /// A copy of everything kept.
    pub fn snapshot(&self) -> JournalSnapshot {
        let j = self.lock();
        JournalSnapshot { dropped: j.dropped, entries: j.entries.iter().cloned().collect() }
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.snapshot().entries
    }

    /// Empties the journal and restarts numbering.
    pub fn clear(&self) {
        let mut j = self.lock();
        j.entries.clear();
        j.dropped = 0;
        j.next_seq = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> JournalEntry {
        JournalEntry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            path: path.into(),
            service: "s".into(),
            operation: "o".into(),
            principal: None,
            verdict: Verdict::Served,
            status: 200,
            checks: vec![],
            issued: None,
        }
    }

    #[test]
    fn a_full_journal_drops_the_oldest_and_counts_them() {
        let j = Journal::new(2);
        for p in ["/a", "/b", "/c"] {
            j.push(entry(p));
        }
        let s = j.snapshot();
        assert_eq!(s.dropped, 1);
        assert_eq!(s.entries.iter().map(|e| (e.seq, e.path.as_str())).collect::<Vec<_>>(), vec![(2, "/b"), (3, "/c")]);
        j.clear();
        j.push(entry("/d"));
        assert_eq!(j.entries()[0].seq, 1);
    }
}
