//! `lane status` against real components: git repositories (file remotes and a git daemon),
//! the real cluster's API server with Argo CD syncing a lane of its own (v9.5, namespace
//! agentrun-v95), and the page rendered in headless Chromium. The unknown paths (API
//! unreachable, no kubeconfig, GitOps branch missing, a remote that cannot be fetched, an
//! identity without permissions) still exit 0 with the reason.

// tests/common/registry.rs (core) trips this lint; it is not part of these tests.
#![allow(clippy::zombie_processes)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::kube::{digest, rendered_tree, LaneRepos};
use common::realcluster::{Created, RealCluster};
use lane::status::model::{
    ArgoResource, Change, DigestCount, Known, ServiceView, State, StatusReport,
};
use serde_json::{json, Value};

const WIDTH: usize = 100;

fn status(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut a = vec!["status"];
    a.extend_from_slice(args);
    common::lane_env(dir, &a, env)
}

fn service<'a>(doc: &'a StatusReport, id: &str) -> &'a ServiceView {
    doc.services
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no service {id} in {doc:#?}"))
}

/// A link that is known, or a panic naming it and why it is not.
fn known<'a, T>(k: &'a Known<T>, what: &str) -> &'a T {
    k.get()
        .unwrap_or_else(|| panic!("{what}: unknown ({})", k.reason().unwrap_or_default()))
}

/// A link that is unknown: its reason.
fn unknown<'a, T: std::fmt::Debug>(k: &'a Known<T>, what: &str) -> &'a str {
    k.reason()
        .unwrap_or_else(|| panic!("{what} is not unknown: {k:#?}"))
}

fn assert_fits(text: &str) {
    for l in text.lines() {
        assert!(
            l.chars().count() <= WIDTH,
            "line wider than {WIDTH}: {l:?}\n{text}"
        );
    }
}

/// A token file for an API server that is not there.
fn token(dir: &Path) -> PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, "not-a-real-token").unwrap();
    p
}

/// A GitOps commit that changes the catalog (at `catalog_path`), with the given author and
/// subject.
fn catalog_commit(
    repos: &mut LaneRepos,
    catalog_path: &str,
    catalog: &Value,
    author: &str,
    subject: &str,
) -> String {
    let path = repos.gitops.path().join(catalog_path);
    std::fs::write(
        &path,
        format!("{}\n", serde_json::to_string_pretty(catalog).unwrap()),
    )
    .unwrap();
    repos.gitops.git(&["add", "-A"]);
    repos
        .gitops
        .git(&["commit", "-q", "--author", author, "-m", subject]);
    let head = repos.gitops.head();
    repos
        .gitops
        .git(&["push", "-q", "origin", &repos.gitops_branch]);
    repos.source.git(&["fetch", "-q", "origin"]);
    repos.gitops_head = head.clone();
    head
}

const HOSTILE_SUBJECT: &str =
    "lane v0.1: promote <script>alert(1)</script><img src=x onerror=alert(2)> & \"more\"";
// git refuses `<` and `>` in a name; quotes and ampersands it keeps.
const HOSTILE_AUTHOR: &str = "Mallory & \"Eve\" O'Hare <m@example.invalid>";

/// The shipped lane, the API server unreachable: git is read, the cluster is unknown.
fn unreachable_lane() -> (LaneRepos, tempfile::TempDir, String) {
    let mut repos = LaneRepos::new();
    let mut cat = repos.catalog.clone();
    cat["services"]["agentrun-mgr"]["digest"] = json!(digest('c'));
    let head = catalog_commit(
        &mut repos,
        common::kube::CATALOG_PATH,
        &cat,
        HOSTILE_AUTHOR,
        HOSTILE_SUBJECT,
    );
    (repos, common::tempdir(), head)
}

fn unreachable_args(dir: &Path) -> Vec<String> {
    vec![
        "--api-server".into(),
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        "https://127.0.0.1:1".into(),
        "--token-file".into(),
        token(dir).display().to_string(),
        "--request-timeout".into(),
        "3s".into(),
    ]
}

#[test]
fn an_unreachable_api_is_unknown_with_the_reason_and_git_is_still_read() {
    let (repos, dir, head) = unreachable_lane();
    let extra = unreachable_args(dir.path());
    let mut args = vec!["--repo", repos.source.path().to_str().unwrap()];
    args.extend(extra.iter().map(String::as_str));
    let run = status(repos.source.path(), &args, &[]);
    run.assert_code(0);
    let lane::output::Document {
        command,
        ok,
        report: doc,
    } = run.document::<StatusReport>();
    assert_eq!(command, "status");
    assert!(ok);
    assert_eq!(doc.lane, "v0.1");
    // Git: the source tip, the GitOps tip and its catalog.
    let source = known(&doc.source, "source");
    assert_eq!(source.commit, repos.commit);
    assert_eq!(source.git_ref, "refs/remotes/origin/v0.1");
    let gitops = known(&doc.gitops, "gitops");
    assert_eq!(gitops.commit, head);
    assert_eq!(
        known(&gitops.catalog_source_commit, "catalogSourceCommit"),
        &repos.commit
    );
    assert_eq!(gitops.source_released, Some(true));
    let mgr = service(&doc, "agentrun-mgr");
    let mgr_catalog = known(&mgr.catalog, "mgr catalog");
    assert_eq!(mgr_catalog.digest, digest('c'));
    assert_eq!(mgr_catalog.status, "published");
    assert_eq!(mgr_catalog.source_commit, repos.commit);
    let mgr_gitops = known(&mgr.gitops, "mgr gitops");
    assert_eq!(mgr_gitops.commit, head);
    // The digest came in with the newest GitOps commit; the whole history was read.
    assert_eq!(mgr_gitops.since.as_deref(), Some(head.as_str()));
    assert!(mgr_gitops.since_complete);
    let runner = service(&doc, "agentrun-runner");
    assert_eq!(
        known(&runner.gitops, "runner gitops").since,
        Some(repos.gitops.git(&["rev-parse", "HEAD~1"]))
    );
    // The cluster: unknown, each with the reason naming the address.
    for (what, r) in [
        ("argo", unknown(&doc.argo, "argo")),
        ("pipelineRun", unknown(&doc.pipeline_run, "pipelineRun")),
        ("mgr argo", unknown(&mgr.argo, "mgr argo")),
        ("mgr live", unknown(&mgr.live, "mgr live")),
        ("runner live", unknown(&runner.live, "runner live")),
    ] {
        assert!(r.contains("127.0.0.1:1"), "{what}: {r}");
    }
    assert_eq!(mgr.state, State::Unknown);
    assert_eq!(doc.summary.unknown, 2);
    assert!(
        mgr.why.iter().any(|w| w.contains("live: unknown")),
        "{:#?}",
        mgr.why
    );
    // The last releases: the hostile one first, with what changed, then the first promote.
    let rel = known(&doc.releases, "releases");
    assert_eq!(rel.len(), 2, "{rel:#?}");
    assert_eq!(rel[0].gitops_commit, head);
    assert_eq!(rel[0].subject, HOSTILE_SUBJECT);
    assert_eq!(rel[0].author, "Mallory & \"Eve\" O'Hare");
    assert_eq!(
        rel[0].changes,
        [Change {
            service: "agentrun-mgr".into(),
            status: "published".into(),
            digest: Some(digest('c')),
            previous_digest: Some(digest('a')),
            source_commit: Some(repos.commit.clone()),
            reused_from: None,
        }]
    );
    assert_eq!(rel[1].changes.len(), 2);
    // The token is never printed.
    assert!(!run.stdout.contains("not-a-real-token") && !run.stderr.contains("not-a-real-token"));

    // The text view: the same, in 100 columns, the reason said once.
    let mut targs = vec!["--output", "text"];
    targs.extend(args.iter().copied());
    let text = status(repos.source.path(), &targs, &[]);
    text.assert_code(0);
    assert_fits(&text.stdout);
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("agentrun-mgr "))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(
        row.contains("unknown") && row.contains("published") && row.contains(&"c".repeat(8)),
        "{row}"
    );
    let reasons: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| l.starts_with("unknown  ") && l.contains("live"))
        .collect();
    assert_eq!(reasons.len(), 1, "{}", text.stdout);
    assert!(text.stdout.contains("127.0.0.1:1"), "{}", text.stdout);
    assert!(text.stdout.contains("last releases"), "{}", text.stdout);
}

#[test]
fn a_rolled_back_entry_shows_the_release_it_restores() {
    let (mut repos, dir, head) = unreachable_lane();
    let first = repos.gitops.git(&["rev-parse", "HEAD~1"]);
    // The catalog `lane rollback` writes: the manager back on the first release's digest.
    let mut cat = repos.catalog.clone();
    cat["services"]["agentrun-mgr"]["status"] = json!("rolled-back");
    cat["services"]["agentrun-mgr"]["rollback"] = json!({
        "from": {"digest": digest('c'), "sourceCommit": repos.commit, "gitopsCommit": head},
        "restores": {"status": "published", "sourceCommit": repos.commit, "gitopsCommit": first},
        "requestedBy": "alice",
        "at": "2026-11-02T00:00:00Z",
        "reason": "the new manager leaks memory"
    });
    let rolled = catalog_commit(
        &mut repos,
        common::kube::CATALOG_PATH,
        &cat,
        "Lane Test <lane-test@example.invalid>",
        "lane v0.1: roll back agentrun-mgr",
    );
    let extra = unreachable_args(dir.path());
    let mut args = vec!["--repo", repos.source.path().to_str().unwrap()];
    args.extend(extra.iter().map(String::as_str));
    let run = status(repos.source.path(), &args, &[]);
    run.assert_code(0);
    let doc: StatusReport = run.report();
    let mgr = service(&doc, "agentrun-mgr");
    let catalog = known(&mgr.catalog, "mgr catalog");
    assert_eq!(catalog.status, "rolled-back");
    assert_eq!(catalog.digest, digest('a'));
    let rollback = catalog.rollback.as_ref().unwrap();
    assert_eq!(rollback.restores.gitops_commit.as_str(), first);
    assert_eq!(rollback.requested_by, "alice");
    let rel = known(&doc.releases, "releases");
    assert_eq!(rel[0].gitops_commit, rolled);
    assert_eq!(rel[0].changes[0].status, "rolled-back");
    assert_eq!(rel[0].changes[0].previous_digest, Some(digest('c')));
    let mut targs = vec!["--output", "text"];
    targs.extend(args.iter().copied());
    let text = status(repos.source.path(), &targs, &[]);
    assert_fits(&text.stdout);
    assert!(
        text.stdout.contains(&format!(
            "agentrun-mgr: rolled back from {} to the release of {}",
            &"c".repeat(12),
            &first[..12]
        )),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("by alice"), "{}", text.stdout);
}

#[test]
fn the_flags_have_lane_environment_forms() {
    let (repos, dir, _) = unreachable_lane();
    let tok = token(dir.path());
    let repo = repos.source.path().to_str().unwrap();
    let flags = status(
        dir.path(),
        &[
            "--repo",
            repo,
            "--api-server",
            "https://127.0.0.1:1",
            "--token-file",
            tok.to_str().unwrap(),
            "--request-timeout",
            "2s",
            "--history",
            "1",
        ],
        &[],
    );
    let env = status(
        dir.path(),
        &[],
        &[
            ("LANE_REPO", repo),
            ("LANE_API_SERVER", "https://127.0.0.1:1"),
            ("LANE_TOKEN_FILE", tok.to_str().unwrap()),
            ("LANE_REQUEST_TIMEOUT", "2s"),
            ("LANE_HISTORY", "1"),
        ],
    );
    flags.assert_code(0);
    env.assert_code(0);
    // The two whole documents are compared as JSON (observedAt taken out): every field, with
    // no PartialEq needed on each status type.
    let strip = |mut d: Value| {
        d.as_object_mut().unwrap().remove("observedAt");
        d
    };
    let (a, b) = (strip(flags.json()), strip(env.json()));
    assert_eq!(a, b);
    let report: StatusReport = flags.report();
    assert_eq!(known(&report.releases, "releases").len(), 1);

    // From a subdirectory, like git: the defaulted --repo is the repository root.
    let sub = repos.source.path().join("docs/reference");
    let run = status(
        &sub,
        &[
            "--api-server",
            "https://127.0.0.1:1",
            "--token-file",
            tok.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(0);
    assert_eq!(
        known(&run.report::<StatusReport>().source, "source").commit,
        repos.commit
    );
}

#[test]
fn a_missing_gitops_branch_is_unknown_with_the_reason() {
    // A source branch only: no GitOps branch anywhere.
    let repo = common::gitrepo::TestRepo::init("v0.1");
    repo.write(
        "deploy/deploy.json",
        &std::fs::read_to_string(common::shipped_deploy()).unwrap(),
    );
    let commit = repo.commit("source");
    let home = common::tempdir();
    // No kubeconfig anywhere either: the cluster is unknown too.
    let env = [("HOME", home.path().to_str().unwrap()), ("KUBECONFIG", "")];
    let p = repo.path().to_str().unwrap();
    let run = status(repo.path(), &["--repo", p], &env);
    run.assert_code(0);
    let doc: StatusReport = run.report();
    let source = known(&doc.source, "source");
    assert_eq!(source.commit, commit);
    assert_eq!(source.git_ref, "refs/heads/v0.1");
    let r = unknown(&doc.gitops, "gitops");
    assert!(r.contains("v0.1-gitops does not exist"), "{r}");
    unknown(&doc.releases, "releases");
    for s in &doc.services {
        assert_eq!(s.state, State::Unknown, "{s:#?}");
        let r = unknown(&s.catalog, "catalog");
        assert!(r.contains("v0.1-gitops does not exist"), "{r}");
    }
    let r = unknown(&doc.argo, "argo");
    assert!(r.to_lowercase().contains("kubeconfig"), "{r}");

    // A GitOps remote without the branch, and one that cannot be fetched at all.
    let (_bare_dir, bare) = common::gitrepo::bare_repo();
    let url = common::gitd::file_url(&bare);
    let run = status(repo.path(), &["--repo", p, "--gitops-remote", &url], &env);
    run.assert_code(0);
    let r = unknown(&run.report::<StatusReport>().gitops, "gitops").to_string();
    assert!(r.contains("does not exist on the GitOps remote"), "{r}");
    let run = status(
        repo.path(),
        &["--repo", p, "--gitops-ref", "refs/heads/elsewhere"],
        &env,
    );
    run.assert_code(0);
    let r = unknown(&run.report::<StatusReport>().gitops, "gitops").to_string();
    assert!(
        r.contains("refs/heads/elsewhere (--gitops-ref) does not exist"),
        "{r}"
    );
    let gone = format!("file://{}/nothing-here.git", home.path().display());
    let run = status(
        repo.path(),
        &["--repo", p, "--gitops-remote", &gone, "--output", "text"],
        &env,
    );
    run.assert_code(0);
    assert_fits(&run.stdout);
    assert!(run.stdout.contains("nothing-here.git"), "{}", run.stdout);
}

#[test]
fn usage_errors_exit_2_and_an_unusable_repository_is_not_unknown() {
    let (repos, dir, _) = unreachable_lane();
    let p = repos.source.path().to_str().unwrap();
    let page = dir.path().join("page.html");
    let page = page.to_str().unwrap();
    for args in [
        vec!["status", "--repo", p, "--output", "html"],
        vec!["status", "--repo", p, page],
        vec!["status", "--repo", p, "--watch"],
        vec![
            "status",
            "--repo",
            p,
            "--output",
            "text",
            "--watch",
            "--interval",
            "10ms",
        ],
        vec!["status", "--repo", p, "--history", "0"],
        vec!["plan", "--output", "html"],
    ] {
        let run = common::lane(dir.path(), &args);
        run.assert_code(2);
        if args.contains(&"text") {
            assert!(run.stdout.starts_with("error: "), "{run:?}");
        } else {
            assert!(!run.error().ok, "{args:?}");
        }
    }
    assert!(!Path::new(page).exists());
    // Not a repository, or a commit that does not exist: the command cannot look at all.
    let run = common::lane(
        dir.path(),
        &["status", "--repo", dir.path().to_str().unwrap()],
    );
    assert_eq!(run.code, 3, "{run:?}");
    let run = common::lane(
        dir.path(),
        &["status", "--repo", p, "--commit", "0123456789ab"],
    );
    run.assert_code(1);
    // A PipelineRun name becomes part of an API path: anything else is refused up front.
    let run = common::lane(
        dir.path(),
        &["status", "--repo", p, "--pipeline-run", "../../secrets/x"],
    );
    run.assert_code(1);
    let msg = run.error().error.message;
    assert!(msg.contains("dns1123-subdomain"), "{msg}");
}

#[test]
fn watch_refreshes_the_text_view_until_interrupted() {
    let (repos, dir, _) = unreachable_lane();
    let extra = unreachable_args(dir.path());
    let mut child = std::process::Command::new(common::lane_bin())
        .args([
            "status",
            "--output",
            "text",
            "--watch",
            "--interval",
            "1s",
            "--repo",
        ])
        .arg(repos.source.path())
        .args(&extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let start = Instant::now();
    let frames = loop {
        if let Ok(b) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(b);
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        let frames: Vec<String> = text
            .split("\x1b[H\x1b[2J")
            .skip(1)
            .map(str::to_string)
            .collect();
        if frames.len() >= 3 || start.elapsed() > Duration::from_secs(60) {
            break frames;
        }
    };
    // Still running: --watch ends only when interrupted.
    assert!(
        child.try_wait().unwrap().is_none(),
        "watch exited by itself"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(frames.len() >= 3, "{frames:?}");
    for f in &frames[..2] {
        assert!(f.contains("SERVICE") && f.contains("agentrun-mgr"), "{f}");
        assert!(f.contains("(every 1s; Ctrl-C to stop)"), "{f}");
        assert_fits(f);
    }
    // Each frame is a fresh look.
    let observed = |f: &str| f.lines().next().unwrap_or("").to_string();
    assert_ne!(observed(&frames[0]), observed(&frames[2]));

    // The page is rewritten as well, and asks the browser to reload it at the same pace.
    let page = dir.path().join("watch.html");
    let mut child = std::process::Command::new(common::lane_bin())
        .args(["status", "--output", "html"])
        .arg(&page)
        .args(["--watch", "--interval", "1s", "--repo"])
        .arg(repos.source.path())
        .args(&extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut stamps = std::collections::BTreeSet::new();
    while stamps.len() < 2 && start.elapsed() < Duration::from_secs(60) {
        if let Ok(html) = std::fs::read_to_string(&page) {
            assert!(
                html.contains("<meta http-equiv=\"refresh\" content=\"1\">"),
                "{html}"
            );
            let at = html
                .split("<time>")
                .nth(1)
                .and_then(|t| t.split("</time>").next());
            stamps.insert(at.unwrap_or("").to_string());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "watch exited by itself"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(stamps.len() >= 2, "the page was not rewritten: {stamps:?}");
}

// --- the page in headless Chromium -----------------------------------------------------------

fn chromium(test: &str) -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| common::tools::find(n));
    if found.is_none() {
        eprintln!("status::{test}: skipped: Chromium is not installed and could not be (Debian package `chromium`; scripts/install-test-deps.sh installs it)");
    }
    found
}

/// Headless Chromium on `page`, with no network but loopback refusals: every host name fails
/// to resolve and any connection goes to a closed loopback proxy port.
fn headless(chrome: &Path, profile: &Path, args: &[&str], page: &Path) -> common::Run {
    let out = std::process::Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .env("HOME", profile)
        .output()
        .expect("run chromium");
    common::Run::from(out)
}

/// (width, height) of a PNG, after checking its signature and IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "not a PNG: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// Render `page` in Chromium: the DOM it built, and a screenshot (checked to be a real PNG of
/// the window's size) written to `png`.
fn render_page(chrome: &Path, page: &Path, png: &Path, size: (u32, u32)) -> String {
    let profile = common::tempdir();
    let dom = headless(chrome, profile.path(), &["--dump-dom"], page);
    assert_eq!(dom.code, 0, "chromium --dump-dom: {}", dom.stderr);
    let shot = headless(
        chrome,
        profile.path(),
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={},{}", size.0, size.1),
        ],
        page,
    );
    assert_eq!(shot.code, 0, "chromium --screenshot: {}", shot.stderr);
    let bytes = std::fs::read(png).expect("the screenshot");
    assert_eq!(png_size(&bytes), size);
    // Not a blank page: a rendered table has many colours.
    assert!(bytes.len() > 10_000, "screenshot of {} bytes", bytes.len());
    dom.stdout
}

/// The page asks for nothing outside itself.
fn self_contained(html: &str) {
    for needle in [
        "<script", "<link", "<img", "<iframe", "src=\"", "href=\"", "url(", "@import",
    ] {
        assert!(!html.contains(needle), "the page has {needle}");
    }
}

#[test]
fn the_page_renders_in_headless_chromium_with_every_value_escaped() {
    let (repos, dir, _) = unreachable_lane();
    let Some(chrome) = chromium("the_page_renders_in_headless_chromium_with_every_value_escaped")
    else {
        return;
    };
    let page = dir.path().join("status.html");
    let extra = unreachable_args(dir.path());
    let mut args = vec!["--output", "html", page.to_str().unwrap(), "--repo"];
    args.push(repos.source.path().to_str().unwrap());
    args.extend(extra.iter().map(String::as_str));
    let run = status(repos.source.path(), &args, &[]);
    run.assert_code(0);
    // stdout still carries the document.
    assert_eq!(run.document::<StatusReport>().command, "status");
    let html = std::fs::read_to_string(&page).unwrap();
    self_contained(&html);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    let png = dir.path().join("status.png");
    let dom = render_page(&chrome, &page, &png, (1280, 900));
    // The DOM Chromium built: one row per service with its state class, five links each.
    for id in ["agentrun-mgr", "agentrun-runner"] {
        assert!(
            dom.contains(&format!(
                "<tr class=\"service state-unknown\" data-service=\"{id}\" data-state=\"unknown\">"
            )),
            "{dom}"
        );
    }
    assert_eq!(dom.matches("<tr class=\"service ").count(), 2);
    for link in ["source", "catalog", "gitops", "argo", "live"] {
        assert_eq!(
            dom.matches(&format!("data-link=\"{link}\"")).count(),
            2,
            "{link}"
        );
    }
    assert!(dom.contains("class=\"link link-ok\" data-link=\"catalog\""));
    assert!(dom.contains("class=\"link link-unknown\" data-link=\"live\""));
    // An unknown link says why: the reason's start in the box, all of it in the title.
    assert!(
        dom.contains("<small class=\"reason\" title=\"GET "),
        "{dom}"
    );
    assert!(dom.contains("127.0.0.1:1"), "{dom}");
    // The hostile subject and author are text, not markup: no script or img element exists.
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp; \"more\""), "{dom}");
    assert!(dom.contains("Mallory &amp; \"Eve\" O'Hare"), "{dom}");
    assert!(
        html.contains("Mallory &amp; &quot;Eve&quot; O&#39;Hare"),
        "{html}"
    );
    // The releases table: both GitOps commits.
    assert_eq!(dom.matches("<tr class=\"release\"").count(), 2);
}

// --- the real cluster ------------------------------------------------------------------------

const NS: &str = "agentrun-v95";
const APP: &str = "agentrun-g14-v95";

/// Lane v9.5: the shipped deploy.json with its names moved, its GitOps repository the test's
/// git daemon, and a manager without health path, secret env or volume (it will run busybox).
fn deploy_v95(gitops_url: &str) -> String {
    let text = std::fs::read_to_string(common::shipped_deploy())
        .unwrap()
        .replace("agentrun-v01", NS)
        .replace("agentrun_v01", "agentrun_v95")
        .replace("\"v0.1\"", "\"v9.5\"");
    let mut d: Value = serde_json::from_str(&text).unwrap();
    d["lane"]["gitopsRepo"] = json!(gitops_url);
    let mgr = d["services"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["id"] == "agentrun-mgr")
        .unwrap();
    let m = mgr.as_object_mut().unwrap();
    m.remove("health");
    m.remove("volumes");
    m["env"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e.get("secretKeyRef").is_none());
    serde_json::to_string_pretty(&d).unwrap()
}

/// Replace the GitOps runtime tree with the one rendered for `catalog`, the manager's
/// container made to run busybox (`sleep`, as an unprivileged user) and without its volume
/// claim.
fn write_tree(repos: &LaneRepos, deploy: &str, catalog: &Value, command: Option<&[&str]>) {
    let root = repos.gitops.path().join(&repos.runtime_path);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut files = Vec::new();
    for (f, text) in rendered_tree(deploy, catalog) {
        if f == "kustomization.yaml" {
            continue;
        }
        let mut docs: Vec<Value> = serde_saphyr::from_multiple::<Value>(&text)
            .unwrap()
            .into_iter()
            .filter(|d| d.get("kind").is_some())
            .collect();
        // No volume claim: local-path binds one only for a pod that mounts it, so Argo CD
        // would report it Progressing for ever.
        if docs.iter().any(|d| d["kind"] == "PersistentVolumeClaim") {
            continue;
        }
        for d in &mut docs {
            if d["kind"] == "Deployment" {
                let spec = &mut d["spec"]["template"]["spec"];
                spec["securityContext"]["runAsUser"] = json!(65534);
                spec["terminationGracePeriodSeconds"] = json!(0);
                if let Some(c) = command {
                    spec["containers"][0]["command"] = json!(c);
                }
            }
        }
        let [d] = &docs[..] else {
            panic!("{f}: {} objects", docs.len())
        };
        std::fs::write(root.join(&f), serde_json::to_string_pretty(d).unwrap()).unwrap();
        files.push(f);
    }
    files.sort();
    std::fs::write(
        root.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}",
            files.iter().map(|f| format!("- {f}\n")).collect::<String>()
        ),
    )
    .unwrap();
}

/// Poll `f` (the document, and whether it is what is waited for) until it is.
fn wait_for<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> (T, bool),
) -> T {
    let start = Instant::now();
    loop {
        let (doc, done) = f();
        if done {
            return doc;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not after {limit:?}: {doc:#?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn real_cluster_status_follows_a_release_from_source_to_running_pods() {
    let test = "status::real_cluster_status_follows_a_release_from_source_to_running_pods";
    let Some(k) = RealCluster::from_env(test) else {
        return;
    };
    let Ok(busybox) = std::env::var("LANE_CLUSTER_BUSYBOX_IMAGE") else {
        eprintln!("{test}: skipped (LANE_CLUSTER_BUSYBOX_IMAGE unset)");
        return;
    };
    let (bb_repo, bb_digest) = busybox.rsplit_once('@').unwrap();
    let daemon = common::gitd::GitDaemon::start();
    let url = daemon.url("lane.git");
    let deploy = deploy_v95(&url);
    let mut repos = LaneRepos::with_deploy(&deploy);
    let first = repos.gitops_head.clone();

    // The release: the manager's image is the cluster's busybox (a digest the node can pull).
    let mut cat = repos.catalog.clone();
    cat["services"]["agentrun-mgr"]["imageRepository"] = json!(bb_repo);
    cat["services"]["agentrun-mgr"]["digest"] = json!(bb_digest);
    write_tree(&repos, &deploy, &cat, Some(&["sleep", "3600"]));
    let names = lane::model::Lane::parse(deploy.as_bytes(), "deploy.json")
        .unwrap()
        .names;
    let head = catalog_commit(
        &mut repos,
        &names.catalog_path,
        &cat,
        "Lane Test <lane-test@example.invalid>",
        "lane v9.5: promote the manager",
    );
    common::kube::run_git(
        daemon.base.as_path(),
        &[
            "clone",
            "-q",
            "--bare",
            repos.remote.1.to_str().unwrap(),
            "lane.git",
        ],
    );

    // The lane's Argo CD objects, as `lane generate` writes them.
    let dir = common::tempdir();
    let deploy_file = dir.path().join("deploy.json");
    std::fs::write(&deploy_file, &deploy).unwrap();
    let generated = dir.path().join("generated");
    common::lane(
        dir.path(),
        &[
            "generate",
            "--deploy",
            deploy_file.to_str().unwrap(),
            "--out",
            generated.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let proj = std::fs::read_to_string(generated.join("gitops/appproject.yaml")).unwrap();
    let app = std::fs::read_to_string(generated.join("gitops/application.yaml")).unwrap();
    let gone = k.kubectl(
        &[
            "delete",
            "namespace",
            NS,
            "--ignore-not-found",
            "--timeout=180s",
        ],
        None,
    );
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    let _cleanup = Created {
        cluster: &k,
        manifests: vec![app.clone(), proj.clone()],
        namespaces: vec![NS.into()],
    };
    k.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n"
    ));
    k.apply(&proj);
    k.apply(&app);

    let repo = repos.source.path().to_str().unwrap().to_string();
    let src = repos.source.path().to_path_buf();
    let look = |extra: &[&str]| {
        let mut a = vec!["--repo", repo.as_str(), "--kubeconfig", &k.kubeconfig];
        a.extend_from_slice(extra);
        status(&src, &a, &[])
    };
    // Argo CD syncs the GitOps tip and the Deployment's pod becomes ready.
    let doc = wait_for(
        "Argo CD synced and the manager ready",
        Duration::from_secs(240),
        || {
            let run = look(&[]);
            run.assert_code(0);
            let doc: StatusReport = run.report();
            let ok = doc.argo.get().is_some_and(|a| {
                a.at_gitops_tip == Some(true) && a.sync_status == "Synced" && a.health == "Healthy"
            }) && service(&doc, "agentrun-mgr")
                .live
                .get()
                .is_some_and(|l| l.ready_pods == 1)
                && service(&doc, "agentrun-mgr").state == State::Current;
            (doc, ok)
        },
    );
    assert_eq!(known(&doc.gitops, "gitops").commit, head);
    let argo = known(&doc.argo, "argo");
    assert_eq!(argo.sync_revision, head);
    assert_eq!(argo.health, "Healthy");
    assert_eq!(argo.application, format!("argocd/{APP}"));
    let mgr = service(&doc, "agentrun-mgr");
    assert_eq!(known(&mgr.catalog, "mgr catalog").digest, bb_digest);
    assert_eq!(
        known(&mgr.gitops, "mgr gitops").since.as_deref(),
        Some(head.as_str())
    );
    assert_eq!(
        known(&mgr.argo, "mgr argo"),
        &ArgoResource {
            kind: "Deployment".into(),
            name: "agentrun-mgr".into(),
            sync_status: "Synced".into(),
            health: "Healthy".into(),
            health_message: String::new(),
        }
    );
    // What runs: the pod the Deployment started, by the digest the kubelet reports.
    let live = known(&mgr.live, "mgr live");
    assert_eq!(
        live.ready_digests,
        [DigestCount {
            digest: bb_digest.into(),
            pods: 1
        }]
    );
    assert_eq!(live.replicas, Some(1));
    assert_eq!(live.ready_replicas, Some(1));
    assert!(live.runs_catalog_digest);
    let runner = service(&doc, "agentrun-runner");
    assert_eq!(
        known(&runner.live, "runner live").runner_pins_catalog,
        Some(true),
        "{runner:#?}"
    );
    assert_eq!(known(&runner.argo, "runner argo").kind, "CronJob");
    assert_eq!(
        known(&runner.gitops, "runner gitops").since.as_deref(),
        Some(first.as_str())
    );
    // No PipelineRun of this lane's Pipeline exists: said as such, not unknown.
    assert!(
        matches!(doc.pipeline_run, Known::Yes(None)),
        "{:#?}",
        doc.pipeline_run
    );
    let rel = known(&doc.releases, "releases");
    assert_eq!(rel[0].gitops_commit, head);
    assert_eq!(rel[0].changes[0].service, "agentrun-mgr");
    assert_eq!(rel[0].changes[0].previous_digest, Some(digest('a')));

    // The text view of the same lane.
    let text = look(&["--output", "text"]);
    text.assert_code(0);
    assert_fits(&text.stdout);
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("agentrun-mgr "))
        .unwrap();
    assert!(
        row.contains("current") && row.contains("Synced/Healthy") && row.contains("1/1 ready"),
        "{row}"
    );
    eprintln!("{}", text.stdout);

    // The page of a running lane, rendered in Chromium (kept for the README when asked).
    if let Some(chrome) = chromium(test) {
        let page = dir.path().join("status.html");
        look(&["--output", "html", page.to_str().unwrap()]).assert_code(0);
        let html = std::fs::read_to_string(&page).unwrap();
        self_contained(&html);
        let png = dir.path().join("status.png");
        let dom = render_page(&chrome, &page, &png, (1280, 720));
        for id in ["agentrun-mgr", "agentrun-runner"] {
            assert!(
                dom.contains(&format!(
                    "<tr class=\"service state-current\" data-service=\"{id}\" data-state=\"current\">"
                )),
                "{dom}"
            );
        }
        assert_eq!(dom.matches("class=\"link link-ok\"").count(), 10, "{dom}");
        if let Ok(keep) = std::env::var("LANE_STATUS_SCREENSHOT") {
            std::fs::copy(&png, keep).unwrap();
        }
    }

    // A newer release Argo CD has not seen (the daemon's repository is not updated): the
    // manager is progressing, with why, and what runs is said to differ from the catalog.
    if let Ok(pause) = std::env::var("LANE_CLUSTER_PAUSE_IMAGE") {
        let (p_repo, p_digest) = pause.rsplit_once('@').unwrap();
        let mut cat2 = cat.clone();
        cat2["services"]["agentrun-mgr"]["imageRepository"] = json!(p_repo);
        cat2["services"]["agentrun-mgr"]["digest"] = json!(p_digest);
        write_tree(&repos, &deploy, &cat2, None);
        let newer = catalog_commit(
            &mut repos,
            &names.catalog_path,
            &cat2,
            "Lane Test <lane-test@example.invalid>",
            "lane v9.5: promote the manager again",
        );
        let run = look(&[]);
        run.assert_code(0);
        let doc: StatusReport = run.report();
        assert_eq!(known(&doc.gitops, "gitops").commit, newer);
        assert_eq!(
            known(&doc.argo, "argo").at_gitops_tip,
            Some(false),
            "{:#?}",
            doc.argo
        );
        let mgr = service(&doc, "agentrun-mgr");
        assert_eq!(mgr.state, State::Progressing, "{mgr:#?}");
        let why = &mgr.why;
        assert!(
            why.iter()
                .any(|w| w.contains(&format!("Argo CD compares {}", &head[..12]))),
            "{why:?}"
        );
        assert!(
            why.iter()
                .any(|w| w.contains("another digest than the catalog")),
            "{why:?}"
        );
        let live = known(&mgr.live, "mgr live");
        assert!(!live.runs_catalog_digest);
        assert_eq!(
            live.ready_digests,
            [DigestCount {
                digest: bb_digest.into(),
                pods: 1
            }]
        );
        assert_eq!(
            known(&doc.releases, "releases")[0].changes[0]
                .previous_digest
                .as_deref(),
            Some(bb_digest)
        );
        let text = look(&["--output", "text"]);
        assert_fits(&text.stdout);
        let row = text
            .stdout
            .lines()
            .find(|l| l.starts_with("agentrun-mgr "))
            .unwrap();
        assert!(
            row.contains("progressing") && row.contains("1/1 ≠catalog"),
            "{row}"
        );
    }

    // An identity without any permission: the API answers, and refuses. Unknown, with the
    // verb and resource that were refused; still exit 0.
    k.apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: status-nobody\n  namespace: {NS}\n"
    ));
    let tok = k.kubectl(
        &[
            "create",
            "token",
            "status-nobody",
            "-n",
            NS,
            "--duration",
            "10m",
        ],
        None,
    );
    assert_eq!(tok.code, 0, "{}", tok.stderr);
    let tok_file = dir.path().join("nobody-token");
    std::fs::write(&tok_file, tok.stdout.trim()).unwrap();
    let run = status(
        repos.source.path(),
        &[
            "--repo",
            &repo,
            "--api-server",
            &k.api_server,
            "--token-file",
            tok_file.to_str().unwrap(),
            "--ca-file",
            &k.ca_file,
        ],
        &[],
    );
    run.assert_code(0);
    let doc: StatusReport = run.report();
    let r = unknown(&doc.argo, "argo");
    assert!(r.contains("may not get applications"), "{r}");
    let r = unknown(&doc.pipeline_run, "pipelineRun");
    assert!(r.contains("may not list pipelineruns"), "{r}");
    assert_eq!(service(&doc, "agentrun-mgr").state, State::Unknown);
    // Git is read all the same.
    assert_eq!(known(&doc.gitops, "gitops").commit, repos.gitops_head);
    assert!(known(&service(&doc, "agentrun-mgr").catalog, "mgr catalog")
        .digest
        .starts_with("sha256:"));
    drop(daemon);
}
