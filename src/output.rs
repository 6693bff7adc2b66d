//! The command contract (docs/cli-contract.md): one JSON document on stdout, progress on
//! stderr.

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
    /// `lane status` only: a self-contained HTML page written to FILE; stdout carries the
    /// JSON document.
    Html,
}

pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// A progress line on stderr (`lane: plan: ...`). Never secret values.
pub fn progress(msg: impl AsRef<str>) {
    if !QUIET.load(Ordering::Relaxed) {
        // One write per line: stderr is unbuffered, and `writeln!` would write the prefix,
        // the message and the newline apart, leaving a reader of the pipe a part of a line.
        let line = format!(
            "lane: {}\n",
            crate::redact::redact_url_userinfo(msg.as_ref())
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
///
/// A failure is shown once: with `--output text` stdout carries it (nothing is repeated on
/// stderr); with JSON stdout carries the document and stderr one readable `error:` line.
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
            let text = match &f.hint {
                Some(h) => format!("error: {}\nhint: {}", f.message, h),
                None => format!("error: {}", f.message),
            };
            if format != Format::Text {
                progress(format!("error: {}", f.message));
                if let Some(h) = &f.hint {
                    progress(format!("hint: {h}"));
                }
            }
            (error_doc(command, &f), text, f.class.code())
        }
    };
    emit(doc, &text, format);
    code
}

/// The document every command prints on success: `command` and `ok` lead, the report's
/// fields follow. [`finish`] writes it; readers (scripts, the tests) parse it back typed.
#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Document<R> {
    pub command: String,
    pub ok: bool,
    #[serde(flatten)]
    pub report: R,
}

/// The document of a failed command.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorDocument {
    pub command: String,
    /// Always false.
    pub ok: bool,
    pub exit_code: i32,
    pub error: ErrorBody,
}

/// What failed, and what to do about it.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorBody {
    pub class: crate::error::ExitClass,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Structured details (findings, the refused access, …), never secret values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// The document of a failed command.
fn error_doc(command: &str, f: &Failure) -> Value {
    let doc = ErrorDocument {
        command: command.to_string(),
        ok: false,
        exit_code: f.class.code(),
        error: ErrorBody {
            class: f.class,
            message: f.message.clone(),
            hint: f.hint.clone(),
            details: f.details.as_deref().cloned(),
        },
    };
    serde_json::to_value(doc).unwrap_or_else(|_| json!({"command": command, "ok": false}))
}

/// Print the document (JSON) or the text view on stdout, URL credentials redacted.
fn emit(doc: Value, text: &str, format: Format) {
    // A URL with credentials (`--api-server https://user:pass@host`, a remote with a token)
    // may reach any message or field: its userinfo never reaches the output.
    let mut doc = doc;
    redact_urls(&mut doc);
    let text = crate::redact::redact_url_userinfo(text).into_owned();
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Json | Format::Html => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
        ),
        Format::Text => writeln!(out, "{}", text.trim_end()),
    };
    let _ = out.flush();
}

/// A command line clap rejected (exit 2), or `--help`/`--version` (exit 0, printed as clap
/// prints them). A usage error is one JSON document on stdout like every other failure;
/// clap's own rendering (usage line, tips) goes to stderr, or is the stdout view with
/// `--output text`. `args` are the arguments after the program name: the format, `--quiet`
/// and the subcommand are read from them, since the parse that would have given them failed.
pub fn usage_error(e: clap::Error, args: &[String], subcommands: &[&str]) -> i32 {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return 0;
    }
    let seen = UsageScan::of(args, subcommands);
    let rendered = e.render().to_string();
    let failure = usage_failure(e.kind(), &rendered, seen.command);
    let doc = error_doc(seen.command.unwrap_or("lane"), &failure);
    if seen.format == Format::Json && !seen.quiet {
        let _ = write!(
            std::io::stderr().lock(),
            "{}",
            crate::redact::redact_url_userinfo(&rendered)
        );
    }
    emit(doc, &rendered, seen.format);
    failure.class.code()
}

/// What a failed command line still says about how to answer it.
#[derive(Debug, PartialEq, Eq)]
struct UsageScan<'a> {
    format: Format,
    quiet: bool,
    command: Option<&'a str>,
}

impl<'a> UsageScan<'a> {
    fn of(args: &[String], subcommands: &[&'a str]) -> UsageScan<'a> {
        let mut format = std::env::var("LANE_OUTPUT").ok();
        let mut quiet = false;
        let mut command = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--" => break,
                "--output" => format = it.next().cloned(),
                "-q" | "--quiet" => quiet = true,
                _ => {
                    if let Some(v) = a.strip_prefix("--output=") {
                        format = Some(v.to_string());
                    } else if command.is_none() && !a.starts_with('-') {
                        command = subcommands.iter().find(|s| **s == a).copied();
                    }
                }
            }
        }
        UsageScan {
            format: if format.as_deref() == Some("text") {
                Format::Text
            } else {
                Format::Json
            },
            quiet,
            command,
        }
    }
}

/// clap's rendered error as a failure: its `error:` line is the message, its tips and usage
/// line the hint, the error kind the details.
fn usage_failure(kind: clap::error::ErrorKind, rendered: &str, command: Option<&str>) -> Failure {
    let mut message = None;
    let mut hint = Vec::new();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(m) = line.strip_prefix("error: ") {
            message.get_or_insert_with(|| m.to_string());
        } else if let Some(t) = line.strip_prefix("tip: ") {
            hint.push(t.to_string());
        } else if line.starts_with("Usage: ") && hint.iter().all(|h| !h.starts_with("Usage: ")) {
            hint.push(line.to_string());
        }
    }
    let help = match command {
        Some(c) => format!("`lane {c} --help` explains every flag"),
        None => "`lane --help` lists the subcommands".to_string(),
    };
    hint.push(help);
    let message = message.unwrap_or_else(|| match kind {
        clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "a subcommand is required".to_string()
        }
        _ => kind.to_string(),
    });
    crate::error::UsageError {
        message,
        hint: hint.join("; "),
        details: Some(json!({"kind": kebab(&format!("{kind:?}"))})),
    }
    .into()
}

/// `UnknownArgument` → `unknown-argument`.
fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`crate::redact::redact_url_userinfo`] on every string of a document.
fn redact_urls(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = crate::redact::redact_url_userinfo(s) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_urls),
        Value::Object(m) => m.values_mut().for_each(redact_urls),
        _ => {}
    }
}

#[cfg(test)]
mod usage_tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_failed_command_line_still_gives_format_quiet_and_subcommand() {
        let subs = ["plan", "render"];
        let s = UsageScan::of(&args(&["--output=text", "-q", "render", "--bogus"]), &subs);
        assert_eq!(
            (s.format, s.quiet, s.command),
            (Format::Text, true, Some("render"))
        );
        let s = UsageScan::of(
            &args(&["--output", "json", "plan", "--output", "text"]),
            &subs,
        );
        assert_eq!((s.format, s.command), (Format::Text, Some("plan")));
        // After `--` nothing is an option; an unknown word is no subcommand.
        let s = UsageScan::of(&args(&["nosuch", "--", "--output", "text"]), &subs);
        assert_eq!(s.command, None);
        assert_eq!(kebab("UnknownArgument"), "unknown-argument");
    }

    #[test]
    fn clap_lines_become_message_and_hint() {
        let f = usage_failure(
            clap::error::ErrorKind::UnknownArgument,
            "error: unexpected argument '--forse' found

  tip: a similar argument exists: '--force'

Usage: lane plan [OPTIONS]

For more information, try '--help'.
",
            Some("plan"),
        );
        assert_eq!(f.message, "unexpected argument '--forse' found");
        assert_eq!(
            f.hint.as_deref(),
            Some("a similar argument exists: '--force'; Usage: lane plan [OPTIONS]; `lane plan --help` explains every flag")
        );
        assert_eq!(f.class.code(), 2);
    }
}
