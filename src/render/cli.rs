//! `lane render`: write the runtime tree (`--out DIR`, replaced whole) or, with `--no-write`,
//! report what would change against the GitOps branch (or `--against DIR`) and write nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{diff, missing_digests, render_tree_with, RenderError, RenderedTree, Templates};
use crate::error::{Classified, ExitClass, Failure};
use crate::git::gitops::{self, GitopsArgs, GitopsHead};
use crate::git::Repo;
use crate::model::catalog_at;
use crate::model::intent::ComponentKind;
use crate::model::{Catalog, Lane};
use crate::output::{progress, Outcome, Report};

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:\n  \
lane render --catalog catalog.json --out build/runtime-v01\n  \
lane render --no-write --diff                 # dry-run against the GitOps branch\n  \
lane render --no-write --exit-code            # CI gate: exit 1 when the branch would change\n  \
lane render --no-write --against deploy/gitops/g14/runtime-v01")]
pub struct RenderArgs {
    /// The lane's deploy.json.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "deploy/deploy.json",
        env = "LANE_DEPLOY"
    )]
    pub deploy: PathBuf,
    /// Artifact catalog file to pin digests from, instead of the catalog on the GitOps branch.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Repository (worktree or bare) that holds the GitOps branch; read without a checkout.
    #[arg(long, value_name = "DIR", default_value = ".", env = "LANE_REPO")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub gitops: GitopsArgs,
    /// Write the tree into DIR. DIR is replaced whole (files of removed services disappear);
    /// it must be new, empty, or hold only the files lane wrote there (recorded in
    /// .lane-render.json), unchanged.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "no_write",
        required_unless_present = "no_write"
    )]
    pub out: Option<PathBuf>,
    /// Dry-run: write nothing; report the files that would be added, changed or removed on
    /// the GitOps branch's runtime path (or against --against DIR).
    #[arg(long, env = "LANE_NO_WRITE")]
    pub no_write: bool,
    /// With --no-write: compare against this directory instead of the GitOps branch.
    #[arg(
        long,
        value_name = "DIR",
        requires = "no_write",
        conflicts_with = "out"
    )]
    pub against: Option<PathBuf>,
    /// With --no-write: exit 1 (like `git diff --exit-code`) when the GitOps branch's runtime
    /// tree (or --against DIR) would change, 0 when it would not. The document is printed
    /// either way; its `changed` says which, `ok` is false when it would change.
    // `requires` alone lets `--out` through: clap excuses a missing --no-write when an
    // argument that conflicts with it is present.
    #[arg(long, requires = "no_write", conflicts_with = "out")]
    pub exit_code: bool,
    /// Add a unified diff of every changed file to the report.
    #[arg(long)]
    pub diff: bool,
    /// Directory of templates that replace the embedded ones by file name.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// Where the catalog came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogOrigin {
    /// `--catalog FILE`.
    File,
    /// The catalog at the GitOps branch tip.
    Gitops,
}

/// What the tree was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineKind {
    /// The runtime path at the GitOps branch tip.
    Gitops,
    /// `--against DIR`.
    Dir,
    /// The previous content of `--out`.
    Out,
}

/// What render did with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineStatus {
    Rendered,
    /// Enabled, but the catalog has no digest for it.
    Missing,
    /// `enabled: false`.
    Disabled,
}

/// One file against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Added,
    Changed,
    Unchanged,
    Removed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
            Change::Removed => "removed",
        }
    }
}

/// Whether the tree is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `--out DIR`.
    Write,
    /// `--no-write`: the dry run.
    NoWrite,
}

/// Where the catalog came from.
#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogSource {
    pub source: CatalogOrigin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitopsHead>,
    /// The catalog's newest promoted source commit.
    pub source_commit: String,
}

/// What the tree was compared with.
#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    pub kind: BaselineKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitopsHead>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// False when the branch, path or directory does not exist yet (every file is added).
    pub exists: bool,
}

#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLine {
    pub id: crate::model::ServiceId,
    pub kind: ComponentKind,
    pub status: LineStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::model::ImageRef>,
}

#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLine {
    pub path: String,
    pub change: Change,
    /// sha256 of the rendered content (of the old content for `removed`).
    pub sha256: String,
    pub bytes: usize,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub files: usize,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderReport {
    pub lane: String,
    pub namespace: String,
    pub runtime_path: String,
    pub mode: Mode,
    /// True when the tree was written (--out).
    pub written: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    pub catalog: CatalogSource,
    pub against: Baseline,
    pub services: Vec<ServiceLine>,
    /// Enabled services without a catalog digest (the tree is not rendered then).
    pub missing: Vec<String>,
    pub files: Vec<FileLine>,
    pub summary: Summary,
    /// Whether anything would change (or changed) against the baseline.
    pub changed: bool,
    /// `--exit-code`: a change fails the command (exit 1).
    #[serde(skip)]
    pub exit_on_change: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Report for RenderReport {
    fn text(&self) -> String {
        let mut s = String::new();
        if !self.missing.is_empty() {
            s.push_str(&format!(
                "render {}: no digest in the catalog for: {}\n",
                self.lane,
                self.missing.join(", ")
            ));
            return s;
        }
        let verb = if self.written { "wrote" } else { "would write" };
        s.push_str(&format!(
            "render {} ({}): {verb} {} files: {} added, {} changed, {} removed, {} unchanged\n",
            self.lane,
            self.namespace,
            self.summary.files,
            self.summary.added,
            self.summary.changed,
            self.summary.removed,
            self.summary.unchanged
        ));
        for f in self.files.iter().filter(|f| f.change != Change::Unchanged) {
            s.push_str(&format!("  {:<9} {}\n", f.change.as_str(), f.path));
        }
        if let Some(d) = &self.diff {
            s.push_str(d);
        }
        if self.exit_on_change && self.changed {
            s.push_str("the GitOps branch would change (--exit-code: exit 1)\n");
        }
        s
    }

    fn failed(&self) -> bool {
        !self.missing.is_empty() || (self.exit_on_change && self.changed)
    }
}

/// Why `lane render` stopped, beyond the errors of the modules it calls.
#[derive(Debug, thiserror::Error)]
pub enum RenderRunError {
    /// A file or directory could not be read or written (the message names it).
    #[error("{0}")]
    Environment(String),
    /// A flag names something unusable (the message names the flag).
    #[error("{0}")]
    Usage(String),
    #[error(
        "the GitOps branch '{branch}' was not found in {repo} (no catalog to pin digests from)"
    )]
    NoGitopsBranch { branch: String, repo: String },
    #[error("{branch}:{path} does not exist: the lane has no catalog")]
    NoCatalog { branch: String, path: String },
    #[error("refusing to replace {out}: {what}")]
    NotReplaceable { out: String, what: String },
}

impl Classified for RenderRunError {
    fn class(&self) -> ExitClass {
        match self {
            RenderRunError::Environment(_) => ExitClass::Environment,
            RenderRunError::Usage(_) => ExitClass::Usage,
            _ => ExitClass::Rejected,
        }
    }
    fn hint(&self) -> Option<String> {
        Some(match self {
            RenderRunError::NoGitopsBranch { .. } => "fetch the lane's GitOps branch (or pass --gitops-remote), initialise the lane with `lane plan --init`, or pass --catalog FILE".into(),
            RenderRunError::NoCatalog { .. } => "initialise the lane's catalog with `lane plan --init` and `lane promote --init`, or pass --catalog FILE; nothing falls back to another branch".into(),
            RenderRunError::NotReplaceable { .. } => "--out must name a directory lane render wrote before (it keeps a record of its files), an empty directory, or a path that does not exist yet; move other files away first".into(),
            RenderRunError::Environment(_) | RenderRunError::Usage(_) => return None,
        })
    }
}

fn env_err(message: String) -> Failure {
    RenderRunError::Environment(message).into()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

struct Loaded {
    catalog: Catalog,
    source: CatalogSource,
    repo: Option<Repo>,
    head: Option<GitopsHead>,
}

fn load_catalog(args: &RenderArgs, lane: &Lane) -> Result<Loaded, Failure> {
    if let Some(path) = &args.catalog {
        let catalog = catalog_at::catalog_file(path, &lane.names)?;
        let source = CatalogSource {
            source: CatalogOrigin::File,
            path: Some(path.display().to_string()),
            gitops: None,
            source_commit: catalog.source_commit.to_string(),
        };
        return Ok(Loaded {
            catalog,
            source,
            repo: None,
            head: None,
        });
    }
    let repo = Repo::open(&args.repo)?;
    let head = gitops::head(&repo, &lane.names.gitops_branch, &args.gitops)?.ok_or_else(|| {
        RenderRunError::NoGitopsBranch {
            branch: lane.names.gitops_branch.to_string(),
            repo: args.repo.display().to_string(),
        }
    })?;
    let catalog = catalog_at::catalog_at(&repo, &lane.names, &head)?.ok_or_else(|| {
        RenderRunError::NoCatalog {
            branch: lane.names.gitops_branch.to_string(),
            path: lane.names.catalog_path.to_string(),
        }
    })?;
    let source = CatalogSource {
        source: CatalogOrigin::Gitops,
        path: Some(lane.names.catalog_path.to_string()),
        gitops: Some(head.clone()),
        source_commit: catalog.source_commit.to_string(),
    };
    Ok(Loaded {
        catalog,
        source,
        repo: Some(repo),
        head: Some(head),
    })
}

/// Read every regular file under `dir` (recursively), keyed by `/`-separated relative path.
pub fn read_tree(dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
        let here = if rel.is_empty() {
            base.to_path_buf()
        } else {
            base.join(rel)
        };
        let mut entries: Vec<_> = std::fs::read_dir(&here)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type()?;
            if path == WRITTEN_RECORD {
                continue; // lane's own record of an --out directory, not part of the tree
            }
            if ft.is_dir() {
                walk(base, &path, out)?;
            } else if ft.is_file() {
                out.insert(path, std::fs::read(e.path())?);
            }
        }
        Ok(())
    }
    walk(dir, "", &mut out)?;
    Ok(out)
}

fn baseline(
    args: &RenderArgs,
    lane: &Lane,
    loaded: &Loaded,
) -> Result<(Baseline, BTreeMap<String, Vec<u8>>), Failure> {
    if let Some(out) = &args.out {
        let exists = out.is_dir();
        let files = if exists {
            read_tree(out).map_err(|e| env_err(format!("cannot read {}: {e}", out.display())))?
        } else {
            BTreeMap::new()
        };
        return Ok((
            Baseline {
                kind: BaselineKind::Out,
                gitops: None,
                path: Some(out.display().to_string()),
                exists,
            },
            files,
        ));
    }
    if let Some(dir) = &args.against {
        if !dir.is_dir() {
            return Err(RenderRunError::Usage(format!(
                "--against {}: not a directory",
                dir.display()
            ))
            .into());
        }
        let files =
            read_tree(dir).map_err(|e| env_err(format!("cannot read {}: {e}", dir.display())))?;
        return Ok((
            Baseline {
                kind: BaselineKind::Dir,
                gitops: None,
                path: Some(dir.display().to_string()),
                exists: true,
            },
            files,
        ));
    }
    // Against the GitOps branch: reuse the catalog's repo, or open --repo when the catalog
    // came from a file.
    let opened;
    let (repo, head) = match (&loaded.repo, &loaded.head) {
        (Some(r), Some(h)) => (r, Some(h.clone())),
        _ => {
            opened = Repo::open(&args.repo)?;
            let h = gitops::head(&opened, &lane.names.gitops_branch, &args.gitops)?;
            (&opened, h)
        }
    };
    let path = lane.names.runtime_path.clone();
    let Some(head) = head else {
        progress(format!(
            "GitOps branch '{}' not found: every file is new",
            lane.names.gitops_branch
        ));
        return Ok((
            Baseline {
                kind: BaselineKind::Gitops,
                gitops: None,
                path: Some(path.to_string()),
                exists: false,
            },
            BTreeMap::new(),
        ));
    };
    let files = repo.read_dir_files(&head.commit, &path)?;
    Ok((
        Baseline {
            kind: BaselineKind::Gitops,
            gitops: Some(head),
            exists: !files.is_empty(),
            path: Some(path.to_string()),
        },
        files,
    ))
}

fn compare(
    tree: &RenderedTree,
    base: &BTreeMap<String, Vec<u8>>,
    want_diff: bool,
) -> (Vec<FileLine>, Summary, Option<String>) {
    let mut files = Vec::new();
    let mut sum = Summary {
        files: tree.files.len(),
        ..Summary::default()
    };
    let mut diff_text = String::new();
    let mut paths: Vec<&String> = tree.files.keys().chain(base.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let new = tree.files.get(path);
        let old = base.get(path);
        let (change, content) = match (old, new) {
            (None, Some(n)) => (Change::Added, n.as_bytes()),
            (Some(o), Some(n)) if o.as_slice() == n.as_bytes() => (Change::Unchanged, n.as_bytes()),
            (Some(_), Some(n)) => (Change::Changed, n.as_bytes()),
            (Some(o), None) => (Change::Removed, o.as_slice()),
            (None, None) => continue,
        };
        match change {
            Change::Added => sum.added += 1,
            Change::Changed => sum.changed += 1,
            Change::Removed => sum.removed += 1,
            Change::Unchanged => sum.unchanged += 1,
        }
        if want_diff && change != Change::Unchanged {
            let old_s = old.map(|o| String::from_utf8_lossy(o).into_owned());
            diff_text.push_str(&diff::unified(
                path,
                old_s.as_deref(),
                new.map(String::as_str),
            ));
        }
        files.push(FileLine {
            path: path.clone(),
            change,
            sha256: sha256_hex(content),
            bytes: content.len(),
        });
    }
    (files, sum, want_diff.then_some(diff_text))
}

fn service_lines(lane: &Lane, catalog: &Catalog) -> Vec<ServiceLine> {
    lane.intent()
        .services
        .iter()
        .map(|s| {
            let entry = catalog.services.get(s.id.as_str());
            let status = match (s.enabled, entry) {
                (false, _) => LineStatus::Disabled,
                (true, None) => LineStatus::Missing,
                (true, Some(_)) => LineStatus::Rendered,
            };
            ServiceLine {
                id: s.id.clone(),
                kind: s.kind,
                status,
                image: entry.filter(|_| s.enabled).map(|e| e.pinned_image()),
            }
        })
        .collect()
}

pub fn run(args: &RenderArgs) -> Result<Outcome, Failure> {
    args.gitops.check()?;
    let lane = Lane::load(&args.deploy, None)?;
    let templates_owned;
    let templates = match &args.templates {
        Some(dir) => {
            templates_owned = Templates::with_overrides(dir)?;
            &templates_owned
        }
        None => Templates::embedded(),
    };
    let loaded = load_catalog(args, &lane)?;
    let services = service_lines(&lane, &loaded.catalog);
    let missing = missing_digests(&lane, &loaded.catalog);
    let mode = if args.no_write {
        Mode::NoWrite
    } else {
        Mode::Write
    };

    if !missing.is_empty() {
        if !args.no_write {
            return Err(RenderError::MissingDigest {
                service: missing[0].clone(),
            }
            .into());
        }
        progress(format!("no catalog digest for: {}", missing.join(", ")));
        let (against, _) = baseline(args, &lane, &loaded)?;
        return Outcome::of(&RenderReport {
            lane: lane.names.version.to_string(),
            namespace: lane.names.namespace.to_string(),
            runtime_path: lane.names.runtime_path.to_string(),
            mode,
            written: false,
            out: None,
            catalog: loaded.source,
            against,
            services,
            missing,
            files: Vec::new(),
            summary: Summary::default(),
            changed: false,
            exit_on_change: args.exit_code,
            diff: None,
        });
    }

    progress(format!(
        "rendering {} services of lane {}",
        services
            .iter()
            .filter(|s| s.status == LineStatus::Rendered)
            .count(),
        lane.names.version
    ));
    let tree = render_tree_with(&lane, &loaded.catalog, templates)?;
    let (against, base) = baseline(args, &lane, &loaded)?;
    let (files, summary, diff_text) = compare(&tree, &base, args.diff);
    let changed = summary.added + summary.changed + summary.removed > 0;

    let mut written = false;
    if let Some(out) = &args.out {
        replace_dir(out, &tree.files)?;
        written = true;
        progress(format!(
            "wrote {} files to {}",
            tree.files.len(),
            out.display()
        ));
    }
    Outcome::of(&RenderReport {
        lane: lane.names.version.to_string(),
        namespace: lane.names.namespace.to_string(),
        runtime_path: lane.names.runtime_path.to_string(),
        mode,
        written,
        out: args.out.as_ref().map(|p| p.display().to_string()),
        catalog: loaded.source,
        against,
        services,
        missing,
        files,
        summary,
        changed,
        exit_on_change: args.exit_code,
        diff: diff_text,
    })
}

/// The record `render --out` keeps in the directory it writes: every file it wrote and the
/// sha256 of what it wrote. A later `--out` replaces the directory only when everything in it
/// is in the record, unchanged, so a hand-written or hand-edited file is never deleted.
pub const WRITTEN_RECORD: &str = ".lane-render.json";

#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WrittenRecord {
    written_by: String,
    /// Path relative to the directory → sha256 of the content lane wrote.
    files: BTreeMap<String, String>,
}

/// Every entry under `dir` (recursively, `/`-separated), each a regular file or an error
/// naming what else it is. Symlinks are not followed: one could point anywhere.
fn list_entries(dir: &Path) -> Result<Vec<(String, std::fs::FileType)>, std::io::Error> {
    fn walk(
        base: &Path,
        rel: &str,
        out: &mut Vec<(String, std::fs::FileType)>,
    ) -> std::io::Result<()> {
        for e in std::fs::read_dir(base.join(rel))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = e.file_type()?;
            if ft.is_dir() {
                walk(base, &path, out)?;
            }
            out.push((path, ft));
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Whether `out` exists and may be replaced: missing, empty, or holding exactly files lane
/// wrote there before (per [`WRITTEN_RECORD`]) with the content it wrote.
fn check_replaceable(out: &Path) -> Result<bool, Failure> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(env_err(format!("cannot read {}: {e}", out.display()))),
    };
    let refuse = |what: String| -> Failure {
        RenderRunError::NotReplaceable {
            out: out.display().to_string(),
            what,
        }
        .into()
    };
    if !meta.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    let entries =
        list_entries(out).map_err(|e| env_err(format!("cannot read {}: {e}", out.display())))?;
    if entries.is_empty() {
        return Ok(true);
    }
    let record_path = out.join(WRITTEN_RECORD);
    if !entries.iter().any(|(p, _)| p == WRITTEN_RECORD) {
        return Err(refuse(format!(
            "it is not empty and has no {WRITTEN_RECORD}, so lane cannot tell its own files from others (first: '{}')",
            entries[0].0
        )));
    }
    let bytes = crate::model::check::read_limited(&record_path)?;
    let record: WrittenRecord = serde_json::from_slice(&bytes)
        .map_err(|e| refuse(format!("{WRITTEN_RECORD} is not lane's record ({e})")))?;
    for (path, ft) in &entries {
        if path == WRITTEN_RECORD || ft.is_dir() {
            continue;
        }
        let Some(want) = record.files.get(path) else {
            return Err(refuse(format!(
                "it holds '{path}', which lane did not write"
            )));
        };
        if !ft.is_file() {
            return Err(refuse(format!("'{path}' is no longer a regular file")));
        }
        let got = std::fs::read(out.join(path))
            .map_err(|e| env_err(format!("cannot read {}/{path}: {e}", out.display())))?;
        if &sha256_hex(&got) != want {
            return Err(refuse(format!(
                "'{path}' changed since lane wrote it; keep the edit elsewhere or discard it"
            )));
        }
    }
    Ok(true)
}

/// Replace `out` whole with `files`: write a sibling temp dir, then swap it in. On failure
/// the old directory is left as it was and the temp dir is removed.
pub fn replace_dir(out: &Path, files: &BTreeMap<String, String>) -> Result<(), Failure> {
    let exists = check_replaceable(out)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            RenderRunError::Usage(format!("--out {}: needs a directory name", out.display()))
        })?;
    std::fs::create_dir_all(&parent)
        .map_err(|e| env_err(format!("cannot create {}: {e}", parent.display())))?;
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.lane-new-{pid}"));
    let old = parent.join(format!(".{name}.lane-old-{pid}"));
    let write_all = || -> std::io::Result<()> {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir(&tmp)?;
        let record = WrittenRecord {
            written_by: "lane render".into(),
            files: files
                .iter()
                .map(|(k, v)| (k.clone(), sha256_hex(v.as_bytes())))
                .collect(),
        };
        let mut record_text =
            serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
        record_text.push('\n');
        let all = files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([(WRITTEN_RECORD, record_text.as_str())]);
        for (rel, content) in all {
            let p = tmp.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            let mut f = std::fs::File::create(&p)?;
            std::io::Write::write_all(&mut f, content.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::File::open(&tmp)?.sync_all()?;
        Ok(())
    };
    if let Err(e) = write_all() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(env_err(format!("cannot write {}: {e}", tmp.display())));
    }
    let swap = || -> std::io::Result<()> {
        if exists {
            std::fs::rename(out, &old)?;
            if let Err(e) = std::fs::rename(&tmp, out) {
                let _ = std::fs::rename(&old, out);
                return Err(e);
            }
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&tmp, out)?;
        }
        std::fs::File::open(&parent)?.sync_all()
    };
    if let Err(e) = swap() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(env_err(format!("cannot replace {}: {e}", out.display())));
    }
    Ok(())
}
