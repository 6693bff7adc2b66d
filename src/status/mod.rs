//! `lane status`: one view of a lane. Per service the chain source commit → catalog entry →
//! GitOps commit → Argo CD → what runs, and the lane's header (source tip, GitOps tip, Argo CD,
//! last PipelineRun), read with verify's readers (src/verify). Whatever cannot be read is
//! `unknown` with the reason: status reports, it does not judge a release (that is `verify`),
//! so it exits 0 whenever it could look.

pub mod gather;
pub mod history;
pub mod html;
pub mod model;
pub mod text;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Classified, ExitClass, Failure, RuntimeError};
use crate::git::gitops::GitopsArgs;
use crate::output::{self, Format, Outcome, Report};
use crate::verify::parse_duration;

pub use model::StatusReport;

const AFTER_HELP: &str = "\
Output: --output json (default: one JSON document), --output text (a table that fits 100
columns), --output html FILE (one self-contained page; stdout still carries the JSON
document). With --watch the text view (or the page) is refreshed every --interval until
interrupted.

Exit codes: 0 whenever status could look, even when parts are `unknown` (each with the
reason); 1 when --commit or deploy.json is unusable or --pipeline-run is not an object name;
2 usage; 3 the repository cannot be opened.";

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct StatusArgs {
    /// The page to write with `--output html` (written whole, via a temporary file).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The source repository (worktree or bare) holding the source and GitOps branches.
    #[arg(long, default_value = ".", value_name = "DIR", env = "LANE_REPO")]
    pub repo: PathBuf,
    /// The commit whose deploy.json names the lane (full or short SHA, or a ref).
    #[arg(long, default_value = "HEAD", value_name = "REV", env = "LANE_COMMIT")]
    pub commit: String,
    /// deploy.json from disk for the lane names, instead of the one at --commit.
    #[arg(long, value_name = "FILE", env = "LANE_DEPLOY")]
    pub deploy: Option<PathBuf>,
    #[command(flatten)]
    pub gitops: GitopsArgs,
    #[command(flatten)]
    pub kube: crate::kube::args::AccessArgs,
    /// Show this PipelineRun instead of the lane Pipeline's newest.
    #[arg(long, value_name = "NAME", env = "LANE_PIPELINE_RUN")]
    pub pipeline_run: Option<String>,
    /// How many of the last releases (GitOps commits that changed the catalog) to show.
    #[arg(long, value_name = "N", default_value_t = 10, env = "LANE_HISTORY",
          value_parser = clap::value_parser!(u16).range(1..=100))]
    pub history: u16,
    /// Refresh the text view (or the html page) every --interval until interrupted.
    #[arg(long, env = "LANE_WATCH")]
    pub watch: bool,
    /// Time between two refreshes of --watch (e.g. 5s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s",
          env = "LANE_INTERVAL")]
    pub interval: Duration,
}

impl Report for StatusReport {
    fn text(&self) -> String {
        text::render(self)
    }
}

/// Why `lane status` could not show the lane (what it finds wrong is the report, not this).
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Flags that do not fit together (the message names them).
    #[error("{message}")]
    Usage { message: String, hint: &'static str },
    /// deploy.json at the commit is unusable: without the lane's names there is nothing to
    /// look up. The message, hint and evidence are those of verify's source check.
    #[error("{message}")]
    NoLane {
        message: String,
        hint: Option<String>,
        evidence: serde_json::Value,
    },
    #[error("cannot write {file}: {message}")]
    WritePage { file: String, message: String },
    #[error("stdout was closed; --watch stopped")]
    StdoutClosed,
}

impl Classified for StatusError {
    fn class(&self) -> ExitClass {
        match self {
            StatusError::Usage { .. } => ExitClass::Usage,
            StatusError::NoLane { .. } => ExitClass::Rejected,
            StatusError::WritePage { .. } | StatusError::StdoutClosed => ExitClass::Environment,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            StatusError::Usage { hint, .. } => Some(hint.to_string()),
            StatusError::NoLane { hint, .. } => {
                hint.as_ref().map(|h| format!("{h}; or pass --deploy FILE"))
            }
            StatusError::WritePage { .. } => Some("pass a FILE in a writable directory".into()),
            StatusError::StdoutClosed => None,
        }
    }
    fn details(&self) -> Option<serde_json::Value> {
        match self {
            StatusError::NoLane { evidence, .. } => Some(evidence.clone()),
            _ => None,
        }
    }
}

fn usage(message: impl Into<String>, hint: &'static str) -> Failure {
    StatusError::Usage {
        message: message.into(),
        hint,
    }
    .into()
}

pub fn run(args: &StatusArgs, format: Format) -> Result<Outcome, Failure> {
    match (format, &args.file) {
        (Format::Html, None) => {
            return Err(usage(
                "--output html needs the page's FILE",
                "lane status --output html status.html",
            ))
        }
        (Format::Json | Format::Text, Some(f)) => {
            return Err(usage(
                format!(
                    "FILE ({}) is only for --output html",
                    crate::redact::scrub(&f.display().to_string(), &[])
                ),
                "pass --output html FILE, or drop FILE",
            ))
        }
        _ => {}
    }
    if args.watch && format == Format::Json {
        return Err(usage(
            "--watch refreshes the text view or the html page, not the JSON document",
            "lane status --watch --output text (or --output html FILE --watch)",
        ));
    }
    if args.interval < Duration::from_secs(1) {
        return Err(usage(
            "--interval must be at least 1s",
            "e.g. --interval 5s",
        ));
    }
    args.gitops.check()?;
    if let Some(name) = &args.pipeline_run {
        crate::verify::check_pipeline_run_name(name)?;
    }
    let rt = RuntimeError::runtime()?;
    if args.watch {
        return watch(args, format, &rt);
    }
    let report = gather::collect(args, &rt)?;
    if let (Format::Html, Some(file)) = (format, &args.file) {
        write_page(file, &report, None)?;
    }
    Outcome::of(&report)
}

fn write_page(
    file: &std::path::Path,
    report: &StatusReport,
    refresh: Option<Duration>,
) -> Result<(), Failure> {
    crate::fsutil::write_atomic(file, html::render(report, refresh).as_bytes()).map_err(|e| {
        StatusError::WritePage {
            file: file.display().to_string(),
            message: e.to_string(),
        }
    })?;
    output::progress(format!("wrote {}", file.display()));
    Ok(())
}

/// Refresh until interrupted (Ctrl-C ends the process). A failure of one look (the
/// repository gone) is shown and tried again at the next refresh.
fn watch(
    args: &StatusArgs,
    format: Format,
    rt: &tokio::runtime::Runtime,
) -> Result<Outcome, Failure> {
    loop {
        let frame = match gather::collect(args, rt) {
            Ok(report) => match (format, &args.file) {
                (Format::Html, Some(file)) => {
                    write_page(file, &report, Some(args.interval))?;
                    None
                }
                _ => Some(text::render(&report)),
            },
            Err(f) => Some(format!("error: {}\n", f.message)),
        };
        if let Some(frame) = frame {
            let frame = crate::redact::redact_url_userinfo(&frame).into_owned();
            let mut out = std::io::stdout().lock();
            // Home and clear, then the frame: a terminal shows one table that updates.
            let written = write!(out, "\x1b[H\x1b[2J{frame}")
                .and_then(|()| {
                    writeln!(out, "(every {}s; Ctrl-C to stop)", args.interval.as_secs())
                })
                .and_then(|()| out.flush());
            if written.is_err() {
                // Nobody reads any more (the pipe closed): stop instead of looking forever.
                return Err(StatusError::StdoutClosed.into());
            }
        }
        std::thread::sleep(args.interval);
    }
}
