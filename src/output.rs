//! The command contract (SPEC §6): one JSON document on stdout, progress on stderr.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::Failure;

static QUIET: AtomicBool = AtomicBool::new(false);

/// How the result is shown on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One JSON document (default; what Tekton steps and scripts read).
    #[default]
    Json,
    /// A short human view.
    Text,
}

pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// A progress line on stderr (`lane: plan: ...`). Never secret values.
pub fn progress(msg: impl AsRef<str>) {
    if !QUIET.load(Ordering::Relaxed) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(
            e,
            "lane: {}",
            crate::model::secrets::redact_url_userinfo(msg.as_ref())
        );
    }
}

/// What a command produced.
pub trait Report: Serialize {
    /// Human view for `--output text`.
    fn text(&self) -> String;
    /// True when the report records a failed check (exit code 1, document still printed).
    fn failed(&self) -> bool {
        false
    }
}

/// A finished command: its document, its text, and whether a check failed.
pub struct Outcome {
    pub doc: Value,
    pub text: String,
    pub failed: bool,
}

impl Outcome {
    pub fn of<R: Report>(r: &R) -> Result<Outcome, Failure> {
        Ok(Outcome {
            doc: serde_json::to_value(r).map_err(|e| anyhow::anyhow!("serialize report: {e}"))?,
            text: r.text(),
            failed: r.failed(),
        })
    }
}

/// Print the outcome and return the exit code.
pub fn finish(command: &str, format: Format, result: Result<Outcome, Failure>) -> i32 {
    let (doc, text, code) = match result {
        Ok(o) => {
            let mut doc = o.doc;
            let ok = !o.failed;
            if let Value::Object(m) = &mut doc {
                // command and ok lead the document so a reader sees them first.
                let mut front = serde_json::Map::new();
                front.insert("command".into(), json!(command));
                front.insert("ok".into(), json!(ok));
                front.extend(std::mem::take(m));
                *m = front;
            }
            (doc, o.text, if ok { 0 } else { 1 })
        }
        Err(f) => {
            let mut err = json!({
                "class": f.class,
                "message": f.message,
            });
            if let Some(h) = &f.hint {
                err["hint"] = json!(h);
            }
            if let Some(d) = &f.details {
                err["details"] = (**d).clone();
            }
            let text = match &f.hint {
                Some(h) => format!("error: {}\nhint: {}", f.message, h),
                None => format!("error: {}", f.message),
            };
            progress(format!("error: {}", f.message));
            if let Some(h) = &f.hint {
                progress(format!("hint: {h}"));
            }
            (
                json!({"command": command, "ok": false, "exitCode": f.class.code(), "error": err}),
                text,
                f.class.code(),
            )
        }
    };
    // A URL with credentials (`--api-server https://user:pass@host`, a remote with a token)
    // may reach any message or field: its userinfo never reaches the output.
    let mut doc = doc;
    redact_urls(&mut doc);
    let text = crate::model::secrets::redact_url_userinfo(&text).into_owned();
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
        ),
        Format::Text => writeln!(out, "{}", text.trim_end()),
    };
    let _ = out.flush();
    code
}

/// [`crate::model::secrets::redact_url_userinfo`] on every string of a document.
fn redact_urls(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = crate::model::secrets::redact_url_userinfo(s) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_urls),
        Value::Object(m) => m.values_mut().for_each(redact_urls),
        _ => {}
    }
}
