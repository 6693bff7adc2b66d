//! Exit classes and the one failure type `main` turns into a JSON error document.
//!
//! Modules keep their own `thiserror` enums; each implements [`Classified`] so that the top
//! level can map any of them to a stable exit code and a hint without knowing its variants.

use serde::Serialize;

/// Stable exit codes (documented in README and `lane --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// A command's failure, ready to print.
#[derive(Debug)]
pub struct Failure {
    pub class: ExitClass,
    pub message: String,
    pub hint: Option<String>,
    pub details: Option<Box<serde_json::Value>>,
}

impl Failure {
    pub fn new(class: ExitClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
            hint: None,
            details: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Failure {
        self.details = Some(Box::new(details));
        self
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

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::new(ExitClass::Internal, format!("{e:#}"))
            .with_hint("this is a bug in lane; please report it with the command line")
    }
}
