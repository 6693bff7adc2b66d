//! `lane validate [FILE]`: check a deploy.json or an artifact catalog and list every finding.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Failure, UsageError};
use crate::model::{check, Finding, InputError, Lane, LaneNames};
use crate::output::{Outcome, Report};

#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// File to check: a deploy.json or an artifact catalog.
    #[arg(default_value = "deploy/deploy.json")]
    pub file: PathBuf,
    /// What the file is; `auto` looks at its shape.
    #[arg(long, value_enum, default_value_t = Kind::Auto, env = "LANE_KIND")]
    pub kind: Kind,
    /// For a catalog: the lane's deploy.json, so a catalog of another lane is rejected.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,
    /// Source checkout to check build paths against (they must exist and not leave the
    /// repository through symlinks). Without it only the path syntax is checked.
    #[arg(long, value_name = "DIR", env = "LANE_REPO_ROOT")]
    pub repo_root: Option<PathBuf>,
    /// Also print the resolved intent summary (services, kinds, sources).
    #[arg(long)]
    pub explain: bool,
    /// For CI checks (deploy/ci-checks.json): the digest the validate Task was generated
    /// from; a declaration with another digest is reported (rule task-out-of-date).
    #[arg(long, value_name = "SHA256", env = "LANE_CI_DIGEST")]
    pub ci_digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Auto,
    Deploy,
    Catalog,
    /// The project's CI checks (deploy/ci-checks.json, see src/ci).
    Ci,
}

impl Kind {
    /// What a file of this kind is, for messages.
    fn describe(self) -> &'static str {
        match self {
            Kind::Auto => "of a kind not yet known",
            Kind::Deploy => "a deploy.json",
            Kind::Catalog => "an artifact catalog",
            Kind::Ci => "a CI checks declaration",
        }
    }
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateReport {
    pub file: String,
    pub kind: Kind,
    pub valid: bool,
    pub findings: Vec<Finding>,
    /// Resolved lane names (deploy.json, or the `--deploy` lane for a catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<LaneNames>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceSummary>>,
    /// CI checks: the declaration's digest and its packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<crate::ci::Summary>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSummary {
    pub id: crate::model::ServiceId,
    pub kind: String,
    pub enabled: bool,
    pub source: String,
    pub image_repository: Option<crate::model::ImageRepository>,
}

impl Report for ValidateReport {
    fn text(&self) -> String {
        let mut s = String::new();
        if self.valid {
            let kind = format!("{:?}", self.kind).to_lowercase();
            s.push_str(&format!("{}: valid {kind}\n", self.file));
        } else {
            s.push_str(&format!(
                "{}: {} finding(s)\n",
                self.file,
                self.findings.len()
            ));
            for f in &self.findings {
                s.push_str(&format!("  {f}\n"));
            }
        }
        if let Some(n) = &self.names {
            s.push_str("lane names:\n");
            if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(n) {
                for (k, v) in m {
                    s.push_str(&format!("  {k:22} {}\n", v.as_str().unwrap_or_default()));
                }
            }
        }
        if let Some(ci) = &self.ci {
            s.push_str(&format!("ci checks {} in {}:\n", ci.digest, ci.image));
            for p in &ci.packages {
                s.push_str(&format!(
                    "  {:24} {:16} {} | {} | {}\n",
                    p.name,
                    p.dir,
                    p.install.join(" "),
                    p.typecheck.join(" "),
                    p.test.join(" ")
                ));
            }
        }
        if let Some(svcs) = &self.services {
            s.push_str("services:\n");
            for x in svcs {
                s.push_str(&format!(
                    "  {:24} {:10} {:8} {}\n",
                    x.id,
                    x.kind,
                    if x.enabled { "enabled" } else { "excluded" },
                    x.source
                ));
            }
        }
        s
    }
    fn failed(&self) -> bool {
        !self.valid
    }
}

fn detect(bytes: &[u8]) -> Kind {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) if v.get("lane").is_some_and(|l| l.is_string()) => Kind::Catalog,
        Ok(v) if v.get("packages").is_some() && v.get("lane").is_none() => Kind::Ci,
        _ => Kind::Deploy,
    }
}

/// A flag of another kind of file is refused, not ignored: `lane validate --deploy x.json`
/// would otherwise check the default deploy/deploy.json and report it valid, while the one
/// meant was never read. (The flags with an environment form, `--repo-root` and
/// `--ci-digest`, are left alone: a Task's environment sets them for whatever it checks.)
fn refuse_foreign_flags(args: &ValidateArgs, kind: Kind) -> Result<(), UsageError> {
    let (flag, hint) = match kind {
        Kind::Catalog | Kind::Ci if args.explain => (
            "--explain",
            format!(
                "--explain summarises a deploy.json's services; drop it for {}",
                kind.describe()
            ),
        ),
        Kind::Deploy | Kind::Ci if args.deploy.is_some() => (
            "--deploy",
            "--deploy names the lane's deploy.json when FILE is a catalog; to check a deploy.json, pass it as FILE: lane validate path/to/deploy.json".into(),
        ),
        _ => return Ok(()),
    };
    Err(UsageError {
        message: format!(
            "{flag} does not apply to {}, which is {}",
            args.file.display(),
            kind.describe()
        ),
        hint,
        details: Some(serde_json::json!({"flag": flag, "kind": kind})),
    })
}

pub fn run(args: &ValidateArgs) -> Result<Outcome, Failure> {
    let file = args.file.display().to_string();
    let bytes = match check::read_limited(&args.file) {
        Ok(b) => b,
        Err(e @ InputError::Io { .. }) => return Err(e.into()),
        Err(e) => {
            return Outcome::of(&ValidateReport {
                file,
                kind: args.kind,
                valid: false,
                findings: e.findings(),
                names: None,
                services: None,
                ci: None,
            })
        }
    };
    let kind = match args.kind {
        Kind::Auto => detect(&bytes),
        k => k,
    };
    refuse_foreign_flags(args, kind)?;
    let report = match kind {
        Kind::Ci => {
            let (findings, ci) = crate::ci::validate(
                &bytes,
                &file,
                args.repo_root.as_deref(),
                args.ci_digest.as_deref(),
            );
            ValidateReport {
                file,
                kind,
                valid: findings.is_empty(),
                findings,
                names: None,
                services: None,
                ci,
            }
        }
        Kind::Catalog => {
            let lane = match &args.deploy {
                Some(d) => Some(Lane::load(d, None)?),
                None => None,
            };
            let names = lane.map(|l| l.names);
            let res = check::parse_catalog(&bytes, &file, names.as_ref());
            ValidateReport {
                file,
                kind,
                valid: res.is_ok(),
                findings: res.err().map(|e| e.findings()).unwrap_or_default(),
                names,
                services: None,
                ci: None,
            }
        }
        _ => {
            let root = args.repo_root.clone();
            match Lane::parse_in(&bytes, &file, root.as_deref()) {
                Ok(lane) => {
                    let services = args.explain.then(|| {
                        lane.intent()
                            .services
                            .iter()
                            .map(|s| ServiceSummary {
                                id: s.id.clone(),
                                kind: s.kind.as_str().into(),
                                enabled: s.enabled,
                                source: match s.source() {
                                    crate::model::intent::ImageSource::Build(b) => {
                                        format!("build {}", b.context)
                                    }
                                    crate::model::intent::ImageSource::Upstream(u) => {
                                        format!("upstream {}:{}", u.repository, u.tag)
                                    }
                                    crate::model::intent::ImageSource::Unsupported => {
                                        "unsupported (nothing to build or pin)".into()
                                    }
                                },
                                image_repository: Some(s.image_repository(&lane.intent().lane)),
                            })
                            .collect()
                    });
                    ValidateReport {
                        file,
                        kind: Kind::Deploy,
                        valid: true,
                        findings: vec![],
                        names: Some(lane.names),
                        services,
                        ci: None,
                    }
                }
                Err(e) => ValidateReport {
                    file,
                    kind: Kind::Deploy,
                    valid: false,
                    findings: e.findings(),
                    names: None,
                    services: None,
                    ci: None,
                },
            }
        }
    };
    Outcome::of(&report)
}
