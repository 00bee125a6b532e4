//! What can go wrong before a scenario runs: the bundle's configuration files, the names a
//! scenario uses, a profile that cannot be fuzzed. Scenario files have their own
//! [`LoadError`](crate::scenario::LoadError) (file, line, column, field); a failed run is a verdict,
//! not an error.

use std::path::PathBuf;

use crate::params::Flow;

/// Why the harness cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A configuration file (profiles, expected failures) cannot be read or parsed.
    #[error("{}: {message}", file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the field when known.
        message: String,
    },
    /// A scenario names a profile that is not bundled.
    #[error("{}: field `profiles`: unknown profile `{profile}` (known: {})", file.display(), known.join(", "))]
    UnknownScenarioProfile {
        /// The scenario file.
        file: PathBuf,
        /// The name it used.
        profile: String,
        /// The bundled profiles.
        known: Vec<String>,
    },
    /// The client program could not be run, or its run could not be completed (no such program,
    /// an I/O failure, or a step at one of its pauses that failed).
    #[error("client `{program}`: {why}")]
    Client {
        /// The program (first word of the command).
        program: String,
        /// What went wrong.
        why: String,
    },
    /// A flow could not be prepared (a token could not be minted, a file could not be written).
    #[error("preparing flow `{flow}`: {why}")]
    Prepare {
        /// The flow.
        flow: Flow,
        /// What went wrong.
        why: String,
    },
    /// A profile's client program is not installed: one message for the profile, saying how to
    /// set it up, instead of one failed row per scenario.
    #[error("profile `{profile}` needs `{program}`, which {why}: run scripts/setup-clients (it builds the Rust clients and installs the pinned Python and Node packages), or point {variable} at it")]
    ClientMissing {
        /// The profile.
        profile: String,
        /// The program its commands start.
        program: String,
        /// `does not exist`, `is not on PATH`.
        why: String,
        /// The environment variable that names the program.
        variable: String,
    },
    /// No bundled profile has this name.
    #[error("no profile `{0}`")]
    UnknownProfile(String),
    /// A profile's command names a placeholder the flow gives no value for.
    #[error("the command's placeholder {placeholder} has no value for this flow")]
    Placeholder {
        /// The placeholder, braces included.
        placeholder: String,
    },
    /// A step the harness applies at a client's pause failed (a fault rule, a clock move…).
    #[error("step `{step}` at pause {pause}: {why}")]
    Step {
        /// The step's name.
        step: &'static str,
        /// Which pause (1-based).
        pause: u64,
        /// What went wrong.
        why: String,
    },
    /// The profile fails the flow even unmutated, so fuzzing would only mutate error answers.
    #[error("{profile} does not complete flow `{flow}` unmutated, so fuzzing it would mutate error answers, not valid ones")]
    Unfuzzable {
        /// The profile.
        profile: String,
        /// The flow.
        flow: Flow,
    },
}
