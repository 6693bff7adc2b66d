//! Exit classes and the one failure type `main` turns into a JSON error document.
//!
//! One error style (docs/decisions.md, "One error style"): each module has its own
//! `thiserror` enum, wrapping the errors of the modules below it with `#[from]`/`#[source]`,
//! and implements [`Classified`]: the error that knows what went wrong also knows its exit
//! class, its hint and its details. [`Failure`] is the command edge's one type: it is built
//! only from a [`Classified`] error (`?` converts), so every subcommand's failure reaches `main`
//! the same way. Even the edge's own failures (clap's usage errors, `--output html` outside
//! `lane status`) are a [`UsageError`].

use serde::Serialize;

/// Stable exit codes (documented in README and `lane --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitClass {
    /// 1: a check failed or input was rejected.
    Rejected,
    /// 2: wrong usage (bad flags or arguments).
    Usage,
    /// 3: the environment failed: network, registry, git server, Kubernetes API, filesystem.
    Environment,
    /// 4: an internal error (a bug): please report it.
    Internal,
}

impl ExitClass {
    pub fn code(self) -> i32 {
        match self {
            ExitClass::Rejected => 1,
            ExitClass::Usage => 2,
            ExitClass::Environment => 3,
            ExitClass::Internal => 4,
        }
    }
}

/// A module error that knows its exit class and can advise the user.
pub trait Classified: std::error::Error + Send + Sync + 'static {
    fn class(&self) -> ExitClass;
    /// What to do about it, in one sentence.
    fn hint(&self) -> Option<String> {
        None
    }
    /// Structured details for the JSON error document (never secret values).
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The async runtime could not start: exit 4 (internal), no hint. Shared by the subcommands
/// that talk to servers (publish, verify, status, prune, rollback).
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct RuntimeError {
    pub context: &'static str,
    #[source]
    pub source: std::io::Error,
}

impl RuntimeError {
    /// The one-thread runtime every subcommand's network calls run on.
    pub fn runtime() -> Result<tokio::runtime::Runtime, RuntimeError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| RuntimeError {
                context: "start the async runtime",
                source,
            })
    }
}

impl Classified for RuntimeError {
    fn class(&self) -> ExitClass {
        ExitClass::Internal
    }
}

/// A command's failure, ready to print.
#[derive(Debug)]
pub struct Failure {
    pub class: ExitClass,
    pub message: String,
    pub hint: Option<String>,
    pub details: Option<Box<serde_json::Value>>,
}

/// Wrong usage found at the command edge: flags clap refused, or a flag combination no
/// subcommand handles (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hint: String,
    pub details: Option<serde_json::Value>,
}

impl Classified for UsageError {
    fn class(&self) -> ExitClass {
        ExitClass::Usage
    }
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
    fn details(&self) -> Option<serde_json::Value> {
        self.details.clone()
    }
}

/// Full cause chain of an error, `a: b: c`.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

impl<E: Classified> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            class: e.class(),
            message: chain(&e),
            hint: e.hint(),
            details: e.details().map(Box::new),
        }
    }
}

/// A bug surfaced as an `anyhow` error (a report that does not serialize): exit 4.
impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure {
            class: ExitClass::Internal,
            message: format!("{e:#}"),
            hint: Some("this is a bug in lane; please report it with the command line".into()),
            details: None,
        }
    }
}
