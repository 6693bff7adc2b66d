//! The project's own CI checks (`deploy/ci-checks.json`): which packages the validate Task
//! checks, in which pinned Bun image, with which commands.
//!
//! The file is read by `lane validate` (every rule below) and by `lane generate`, which bakes
//! the image into the validate Task's `ci-image` param and the commands into per-step tables
//! (`<package>\t<dir>\t<argv…>` lines in env, never shell text). At run time the lane step
//! of the validate Task compares the checked-out file with the digest baked into the Task, so
//! a Task generated from another declaration fails instead of checking the wrong things.
//!
//! It is a separate file, not part of deploy.json: deploy.json holds runtime intent only
//! (docs/decisions.md).

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::check::{self, Finding, InputError};
use crate::model::rules::{self, TagPolicy};

/// Where the declaration lives beside deploy.json.
pub const FILE_NAME: &str = "ci-checks.json";
/// Largest declaration read (it is a short list of packages).
pub const MAX_BYTES: usize = 64 * 1024;
pub const MAX_PACKAGES: usize = 32;
pub const MAX_ARGS: usize = 16;
pub const MAX_ARG_CHARS: usize = 256;
pub const MAX_DIR_CHARS: usize = 256;
pub const MAX_IMAGE_CHARS: usize = 512;
/// The only program the checks may start: the image holds the Bun runtime and a shell.
pub const PROGRAMS: &[&str] = &["bun"];

/// The fixed install command: a frozen-lockfile install (not configurable).
pub const INSTALL: &[&str] = &["bun", "install", "--frozen-lockfile"];
/// The type check by default: the project's own `tsc` devDependency under the Bun runtime.
pub const TYPECHECK: &[&str] = &["bun", "run", "--bun", "tsc", "--noEmit"];
/// The unit tests by default.
pub const TEST: &[&str] = &["bun", "test"];

/// `deploy/ci-checks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CiChecks {
    pub schema_version: u32,
    /// The Bun runtime image, `REPOSITORY@sha256:<64 hex>`.
    pub image: String,
    /// The Bun version the image must answer (`bun --version`).
    pub bun_version: String,
    pub packages: Vec<Package>,
}

/// One package: a directory with package.json and a committed bun.lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Package {
    /// Names the package in logs and failure results.
    pub name: String,
    /// Repository-relative directory (`.` for the root).
    pub dir: String,
    /// Type check argv (default [`TYPECHECK`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typecheck: Option<Vec<String>>,
    /// Unit test argv (default [`TEST`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
}

/// The three checks, in the order the validate Task runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Install,
    Typecheck,
    Test,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Install, Step::Typecheck, Step::Test];
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Install => "install",
            Step::Typecheck => "typecheck",
            Step::Test => "test",
        }
    }
}

impl Package {
    /// The argv this package runs for a step.
    pub fn argv(&self, step: Step) -> Vec<String> {
        let own = |v: &Option<Vec<String>>, d: &[&str]| {
            v.clone()
                .unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect())
        };
        match step {
            Step::Install => INSTALL.iter().map(|s| s.to_string()).collect(),
            Step::Typecheck => own(&self.typecheck, TYPECHECK),
            Step::Test => own(&self.test, TEST),
        }
    }
}

impl CiChecks {
    /// The table a step's script reads: one `<name>\t<dir>\t<arg>\t<arg>…` line per package.
    /// Validation guarantees no field holds a tab, newline or other control character.
    pub fn table(&self, step: Step) -> String {
        let mut s = String::new();
        for p in &self.packages {
            s.push_str(&p.name);
            s.push('\t');
            s.push_str(&normalize_dir(&p.dir));
            for a in p.argv(step) {
                s.push('\t');
                s.push_str(&a);
            }
            s.push('\n');
        }
        s
    }

    /// `sha256:<hex>` of the declaration as lane reads it (key order and whitespace do not
    /// count); baked into the generated Task and compared at run time.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("serializable");
        let d = Sha256::digest(&json);
        let mut hex = String::with_capacity(64);
        for b in d.iter() {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("sha256:{hex}")
    }
}

/// What `lane validate` reports for a valid declaration.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub digest: String,
    pub image: String,
    pub bun_version: String,
    pub packages: Vec<PackageSummary>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageSummary {
    pub name: String,
    pub dir: String,
    pub install: Vec<String>,
    pub typecheck: Vec<String>,
    pub test: Vec<String>,
}

impl CiChecks {
    pub fn summary(&self) -> Summary {
        Summary {
            digest: self.digest(),
            image: self.image.clone(),
            bun_version: self.bun_version.clone(),
            packages: self
                .packages
                .iter()
                .map(|p| PackageSummary {
                    name: p.name.clone(),
                    dir: normalize_dir(&p.dir),
                    install: p.argv(Step::Install),
                    typecheck: p.argv(Step::Typecheck),
                    test: p.argv(Step::Test),
                })
                .collect(),
        }
    }
}

/// `lane validate --kind ci`: every finding, and the summary when there is none. With
/// `expect_digest` (the digest baked into the validate Task) a declaration that differs is a
/// finding: the Task would check something else than the repository declares.
pub fn validate(
    bytes: &[u8],
    file: &str,
    repo_root: Option<&Path>,
    expect_digest: Option<&str>,
) -> (Vec<Finding>, Option<Summary>) {
    match parse(bytes, file, repo_root) {
        Err(e) => (e.findings(), None),
        Ok(ci) => {
            let summary = ci.summary();
            match expect_digest {
                Some(want) if want != summary.digest => (
                    vec![finding(
                        "$".into(),
                        "task-out-of-date",
                        format!(
                            "this declaration's digest is {} but the validate Task was generated from {}; run `lane generate` and apply the Task",
                            summary.digest,
                            shown(want)
                        ),
                    )],
                    Some(summary),
                ),
                _ => (vec![], Some(summary)),
            }
        }
    }
}

/// What the validate Task template sees: the image, the digest compared at run time and one
/// table per step.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContext {
    pub image: String,
    pub bun_version: String,
    pub digest: String,
    pub packages: Vec<String>,
    pub install: String,
    pub typecheck: String,
    pub test: String,
}

impl TaskContext {
    pub fn new(ci: &CiChecks) -> TaskContext {
        TaskContext {
            image: ci.image.clone(),
            bun_version: ci.bun_version.clone(),
            digest: ci.digest(),
            packages: ci.packages.iter().map(|p| p.name.clone()).collect(),
            install: ci.table(Step::Install),
            typecheck: ci.table(Step::Typecheck),
            test: ci.table(Step::Test),
        }
    }
}

/// `lane generate`: the declaration named by `--ci-checks`, else `ci-checks.json` beside the
/// deploy.json when it exists (a lane without one gets no project checks).
pub fn load_for_generate(
    deploy: &Path,
    explicit: Option<&Path>,
) -> Result<Option<CiChecks>, InputError> {
    match explicit {
        Some(p) => load(p, None).map(Some),
        None => {
            let beside = deploy.with_file_name(FILE_NAME);
            if beside.exists() {
                load(&beside, None).map(Some)
            } else {
                Ok(None)
            }
        }
    }
}

/// Load and check a declaration file (with `repo_root`, the package directories must exist
/// there with package.json and bun.lock, and not leave it through symlinks).
pub fn load(path: &Path, repo_root: Option<&Path>) -> Result<CiChecks, InputError> {
    let bytes = check::read_limited(path)?;
    parse(&bytes, &path.display().to_string(), repo_root)
}

/// Parse and check a declaration.
pub fn parse(bytes: &[u8], file: &str, repo_root: Option<&Path>) -> Result<CiChecks, InputError> {
    if bytes.len() > MAX_BYTES {
        return Err(InputError::Invalid {
            file: file.into(),
            findings: vec![Finding {
                path: "$".into(),
                rule: "too-large".into(),
                message: format!(
                    "{} bytes; a CI check declaration is at most {MAX_BYTES} bytes",
                    bytes.len()
                ),
            }],
        });
    }
    let value = check::parse_json(bytes, file)?;
    let ci: CiChecks = check::from_value(value, file)?;
    let mut findings = check_rules(&ci);
    if let Some(root) = repo_root {
        if findings.is_empty() {
            check_on_disk(&ci, root, &mut findings);
        }
    }
    if findings.is_empty() {
        Ok(ci)
    } else {
        Err(InputError::Invalid {
            file: file.into(),
            findings,
        })
    }
}

fn finding(path: String, rule: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        path,
        rule: rule.into(),
        message: message.into(),
    }
}

/// Shown values are cut short and stripped of control characters.
fn shown(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        format!("{clean}…")
    } else {
        clean
    }
}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `.` and `./x` read as the root and `x`.
pub fn normalize_dir(dir: &str) -> String {
    let parts: Vec<&str> = dir.split('/').filter(|p| *p != ".").collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Why a repository-relative directory is refused, if it is.
fn dir_problem(dir: &str) -> Option<&'static str> {
    if dir.is_empty() {
        return Some("is empty; the repository root is '.'");
    }
    if dir.chars().count() > MAX_DIR_CHARS {
        return Some("is longer than 256 characters");
    }
    if !dir
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/' | b'@'))
    {
        return Some("may only hold letters, digits and . _ - @ /");
    }
    if dir.starts_with('/') {
        return Some("is absolute; give a path inside the repository");
    }
    let segs: Vec<&str> = dir.split('/').collect();
    if segs.len() > 1 && segs.iter().any(|s| s.is_empty()) {
        return Some("has an empty segment ('//' or a trailing '/')");
    }
    if segs.contains(&"..") {
        return Some("leaves the repository ('..')");
    }
    if segs.first().is_some_and(|s| s.starts_with('-')) {
        return Some("may not start with '-'");
    }
    if segs.contains(&".git") {
        return Some("points into .git");
    }
    None
}

fn argv_problems(path: &str, argv: &[String], out: &mut Vec<Finding>) {
    if argv.is_empty() {
        out.push(finding(
            path.into(),
            "argv",
            "an empty command; give an argv list such as [\"bun\", \"test\"]",
        ));
        return;
    }
    if argv.len() > MAX_ARGS {
        out.push(finding(
            path.into(),
            "argv",
            format!("{} arguments; at most {MAX_ARGS}", argv.len()),
        ));
    }
    if !PROGRAMS.contains(&argv[0].as_str()) {
        out.push(finding(
            format!("{path}[0]"),
            "program",
            format!(
                "'{}' is not a program the check image runs; the command starts with one of: {}",
                shown(&argv[0]),
                PROGRAMS.join(", ")
            ),
        ));
    }
    for (i, a) in argv.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if a.is_empty() {
            out.push(finding(p, "argv", "an empty argument"));
        } else if a.chars().count() > MAX_ARG_CHARS {
            out.push(finding(
                p,
                "argv",
                format!("longer than {MAX_ARG_CHARS} characters"),
            ));
        } else if a.chars().any(char::is_control) {
            out.push(finding(
                p,
                "control-character",
                "holds a control character (tab, newline, …); each argument is one plain value",
            ));
        } else if a.trim() != a {
            out.push(finding(
                p,
                "argv",
                format!("'{}' has leading or trailing whitespace", shown(a)),
            ));
        }
    }
}

/// Every rule that needs no file system.
pub fn check_rules(ci: &CiChecks) -> Vec<Finding> {
    let mut out = Vec::new();
    if ci.schema_version != 1 {
        out.push(finding(
            "$.schemaVersion".into(),
            "schema-version",
            format!("{} is not supported; this lane reads 1", ci.schema_version),
        ));
    }
    if ci.image.chars().count() > MAX_IMAGE_CHARS {
        out.push(finding(
            "$.image".into(),
            "too-long",
            format!("longer than {MAX_IMAGE_CHARS} characters"),
        ));
    } else if !rules::is_pinned(&ci.image, TagPolicy::Allowed) {
        out.push(finding(
            "$.image".into(),
            "image-pinned",
            format!(
                "'{}' is not pinned by digest; give REPOSITORY@sha256:<64 hex> (a tag can move)",
                shown(&ci.image)
            ),
        ));
    }
    if !is_version(&ci.bun_version) {
        out.push(finding(
            "$.bunVersion".into(),
            "bun-version",
            format!(
                "'{}' is not an exact version (MAJOR.MINOR.PATCH)",
                shown(&ci.bun_version)
            ),
        ));
    }
    if ci.packages.is_empty() {
        out.push(finding(
            "$.packages".into(),
            "packages",
            "no package to check; list at least one",
        ));
    }
    if ci.packages.len() > MAX_PACKAGES {
        out.push(finding(
            "$.packages".into(),
            "packages",
            format!("{} packages; at most {MAX_PACKAGES}", ci.packages.len()),
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (i, p) in ci.packages.iter().enumerate().take(MAX_PACKAGES) {
        let at = format!("$.packages[{i}]");
        if !is_name(&p.name) {
            out.push(finding(
                format!("{at}.name"),
                "name",
                format!(
                    "'{}' must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'",
                    shown(&p.name)
                ),
            ));
        } else if !names.insert(p.name.clone()) {
            out.push(finding(
                format!("{at}.name"),
                "duplicate",
                format!("package '{}' is listed twice", p.name),
            ));
        }
        match dir_problem(&p.dir) {
            Some(why) => out.push(finding(
                format!("{at}.dir"),
                "repo-path",
                format!("'{}' {why}", shown(&p.dir)),
            )),
            None => {
                if !dirs.insert(normalize_dir(&p.dir)) {
                    out.push(finding(
                        format!("{at}.dir"),
                        "duplicate",
                        format!("directory '{}' is listed twice", p.dir),
                    ));
                }
            }
        }
        if let Some(a) = &p.typecheck {
            argv_problems(&format!("{at}.typecheck"), a, &mut out);
        }
        if let Some(a) = &p.test {
            argv_problems(&format!("{at}.test"), a, &mut out);
        }
    }
    out
}

/// Each package directory exists inside the repository (symlinks resolved) and holds
/// package.json and a committed bun.lock.
pub fn check_on_disk(ci: &CiChecks, root: &Path, out: &mut Vec<Finding>) {
    let Ok(root_real) = root.canonicalize() else {
        out.push(finding(
            "$".into(),
            "repo-root",
            format!(
                "the repository root '{}' is not a directory, so no package directory could be checked",
                shown(&root.display().to_string())
            ),
        ));
        return;
    };
    for (i, p) in ci.packages.iter().enumerate() {
        let at = format!("$.packages[{i}].dir");
        let dir = normalize_dir(&p.dir);
        let real = match root.join(&dir).canonicalize() {
            Ok(r) => r,
            Err(_) => {
                out.push(finding(
                    at,
                    "path-missing",
                    format!("'{dir}' does not exist in the repository"),
                ));
                continue;
            }
        };
        if !real.starts_with(&root_real) {
            out.push(finding(
                at,
                "path-escapes",
                format!("'{dir}' resolves outside the repository through a symlink"),
            ));
            continue;
        }
        if !real.is_dir() {
            out.push(finding(
                at,
                "path-kind",
                format!("'{dir}' must be a directory"),
            ));
            continue;
        }
        for f in ["package.json", "bun.lock"] {
            let inside = real
                .join(f)
                .canonicalize()
                .ok()
                .filter(|r| r.starts_with(&root_real) && r.is_file());
            if inside.is_none() {
                out.push(finding(
                    at.clone(),
                    "package-files",
                    format!(
                        "'{dir}/{f}' is missing (or not a file inside the repository); {}",
                        if f == "bun.lock" {
                            "commit the lockfile `bun install` writes"
                        } else {
                            "each package has its own package.json"
                        }
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CiChecks {
        CiChecks {
            schema_version: 1,
            image: format!("127.0.0.1:5000/lane/bun@sha256:{}", "a".repeat(64)),
            bun_version: "1.4.5".into(),
            packages: vec![
                Package {
                    name: "agentrun-mgr".into(),
                    dir: "apps/mgr".into(),
                    typecheck: None,
                    test: None,
                },
                Package {
                    name: "agentrun-runner".into(),
                    dir: "./apps/runner".into(),
                    typecheck: None,
                    test: Some(vec!["bun".into(), "test".into(), "--bail".into()]),
                },
            ],
        }
    }

    fn rules_of(ci: &CiChecks) -> Vec<(String, &'static str)> {
        check_rules(ci)
            .into_iter()
            .map(|f| (f.path, crate::model::check::test_support::rule_str(f.rule)))
            .collect()
    }

    #[test]
    fn the_sample_passes_and_tables_are_argv_lines() {
        let ci = sample();
        assert!(check_rules(&ci).is_empty());
        assert_eq!(
            ci.table(Step::Install),
            "agentrun-mgr\tapps/mgr\tbun\tinstall\t--frozen-lockfile\n\
             agentrun-runner\tapps/runner\tbun\tinstall\t--frozen-lockfile\n"
        );
        assert_eq!(
            ci.table(Step::Test),
            "agentrun-mgr\tapps/mgr\tbun\ttest\nagentrun-runner\tapps/runner\tbun\ttest\t--bail\n"
        );
        assert!(ci
            .table(Step::Typecheck)
            .contains("\tbun\trun\t--bun\ttsc\t--noEmit\n"));
    }

    #[test]
    fn digest_follows_content_not_layout() {
        let a = sample();
        let text = serde_json::to_string_pretty(&a).unwrap();
        let b = parse(text.as_bytes(), "x", None).unwrap();
        assert_eq!(a.digest(), b.digest());
        let mut c = sample();
        c.packages[0].dir = "apps/manager".into();
        assert_ne!(a.digest(), c.digest());
        assert!(a.digest().starts_with("sha256:") && a.digest().len() == 71);
    }

    #[test]
    fn unpinned_images_shell_strings_and_escaping_paths_are_refused() {
        let mut ci = sample();
        ci.image = "oven/bun:1.4.5".into();
        ci.bun_version = "latest".into();
        ci.packages[0].dir = "../outside".into();
        ci.packages[1].dir = "/abs".into();
        ci.packages[0].typecheck = Some(vec!["sh".into(), "-c".into(), "tsc && curl x".into()]);
        ci.packages[1].test = Some(vec!["bun".into(), "test\n--x".into(), "".into()]);
        let got = rules_of(&ci);
        for want in [
            ("$.image", "image-pinned"),
            ("$.bunVersion", "bun-version"),
            ("$.packages[0].dir", "repo-path"),
            ("$.packages[1].dir", "repo-path"),
            ("$.packages[0].typecheck[0]", "program"),
            ("$.packages[1].test[1]", "control-character"),
            ("$.packages[1].test[2]", "argv"),
        ] {
            assert!(
                got.iter().any(|(p, r)| p == want.0 && *r == want.1),
                "{want:?} not in {got:?}"
            );
        }
    }

    #[test]
    fn names_dirs_and_sizes_are_bounded() {
        let mut ci = sample();
        ci.packages[1].name = "agentrun-mgr".into();
        ci.packages[1].dir = "apps/mgr/".into();
        let got = rules_of(&ci);
        assert!(got.contains(&("$.packages[1].name".into(), "duplicate")));
        assert!(got.contains(&("$.packages[1].dir".into(), "repo-path")));
        ci.packages[1].name = "Bad_Name".into();
        ci.packages[1].dir = "apps//x".into();
        ci.packages[1].test = Some(vec!["bun".into(); MAX_ARGS + 1]);
        let got = rules_of(&ci);
        assert!(got.contains(&("$.packages[1].name".into(), "name")));
        assert!(got.contains(&("$.packages[1].dir".into(), "repo-path")));
        assert!(got.contains(&("$.packages[1].test".into(), "argv")));
        ci.packages = (0..=MAX_PACKAGES)
            .map(|i| Package {
                name: format!("p{i}"),
                dir: format!("p{i}"),
                typecheck: None,
                test: None,
            })
            .collect();
        assert!(rules_of(&ci).contains(&("$.packages".into(), "packages")));
        let big = vec![b' '; MAX_BYTES + 1];
        let e = parse(&big, "ci.json", None).unwrap_err();
        assert_eq!(e.findings()[0].rule, "too-large");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let text = r#"{"schemaVersion":1,"image":"x","bunVersion":"1.4.5",
            "packages":[{"name":"a","dir":"a","script":"rm -rf /"}]}"#;
        let e = parse(text.as_bytes(), "deploy/ci-checks.json", None).unwrap_err();
        let f = &e.findings()[0];
        assert_eq!(f.rule, "unknown-field");
        assert!(f.path.starts_with("$.packages[0]"), "{f}");
        assert_eq!(e.file(), "deploy/ci-checks.json");
    }

    #[test]
    fn a_declaration_other_than_the_tasks_is_out_of_date() {
        let ci = sample();
        let text = serde_json::to_vec(&ci).unwrap();
        let digest = ci.digest();
        let (f, s) = validate(&text, "ci.json", None, Some(&digest));
        assert!(f.is_empty() && s.is_some());
        let other = format!("sha256:{}", "0".repeat(64));
        let (f, s) = validate(&text, "ci.json", None, Some(&other));
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].path.as_str(), f[0].rule.as_ref()),
            ("$", "task-out-of-date")
        );
        assert!(f[0].message.contains(&digest) && f[0].message.contains(&other));
        assert_eq!(s.unwrap().packages[1].test, ["bun", "test", "--bail"]);
        let (f, s) = validate(b"{", "ci.json", None, Some(&digest));
        assert_eq!(f[0].rule, "json-syntax");
        assert!(s.is_none());
    }

    #[test]
    fn normalized_dirs() {
        assert_eq!(normalize_dir("."), ".");
        assert_eq!(normalize_dir("./apps/mgr"), "apps/mgr");
        assert_eq!(dir_problem("."), None);
        assert!(dir_problem("a/.git/x").is_some());
        assert!(dir_problem("-rf").is_some());
        assert!(dir_problem("a b").is_some());
    }
}
