//! `lane plan` on a synthetic monorepo of 200 services, against the naive approach
//! (`git diff --name-only <catalog commit> <new commit>`, then mapping each path to the
//! service contexts) on the same repository, at 50,000 and 500,000 files.
//!
//! Run: `cargo bench --bench plan`. Goal: plan < 100 ms, and flat as the file count grows.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

const SERVICES: usize = 200;
const ITERATIONS: usize = 15;
const DOMAINS: [&str; 20] = [
    "auth", "billing", "cart", "catalog", "checkout", "search", "orders", "payments", "profile",
    "notify", "gateway", "media", "ledger", "inbox", "audit", "reports", "quota", "shipping",
    "pricing", "reviews",
];
const ROLES: [&str; 10] = [
    "api", "worker", "sync", "cron", "web", "admin", "events", "jobs", "proxy", "cache",
];

struct Service {
    id: String,
    context: String,
}

fn services() -> Vec<Service> {
    DOMAINS
        .iter()
        .flat_map(|d| ROLES.iter().map(move |r| (d, r)))
        .take(SERVICES)
        .map(|(d, r)| Service {
            id: format!("{d}-{r}"),
            context: format!("services/{d}/{r}"),
        })
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn fast_import(dir: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    {
        let mut w = BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
        write(&mut w).expect("stream to fast-import");
        w.flush().unwrap();
    }
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

fn file(w: &mut dyn Write, path: &str, content: &str) -> std::io::Result<()> {
    write!(
        w,
        "M 100644 inline {path}\ndata {}\n{content}\n",
        content.len()
    )
}

fn commit_header(w: &mut dyn Write, refname: &str, mark: u32, msg: &str) -> std::io::Result<()> {
    write!(
        w,
        "commit {refname}\nmark :{mark}\ncommitter Bench <bench@example.invalid> 1700000000 +0000\ndata {}\n{msg}\n",
        msg.len()
    )
}

fn deploy_json(svcs: &[Service]) -> String {
    let services: Vec<Value> = svcs
        .iter()
        .map(|s| {
            json!({"id": s.id, "kind": "deployment",
                   "build": {"context": s.context, "dockerfile": format!("{}/Dockerfile", s.context)}})
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "schemaVersion": 1,
        "lane": {
            "version": "v0.1", "project": "agentrun", "cluster": "g14",
            "sourceRepo": "git@github.com:pikasTech/agentrun.git",
            "registry": {"host": "127.0.0.1:5000", "repositoryPrefix": "agentrun", "insecure": true}
        },
        "services": services
    }))
    .unwrap()
}

/// Paths of a directory of `n` files, 100 per subdirectory.
fn spread(root: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{root}/m{:03}/f{:03}.txt", i / 100, i % 100))
}

/// Build the repository: commit A with `total` files, commit B changing one file of the first
/// service and one file outside every context. Returns (A, B).
fn build_repo(dir: &Path, total: usize, svcs: &[Service]) -> (String, String) {
    git(dir, &["init", "-q", "-b", "v0.1"]);
    let shared = total / 5;
    let per_service = (total - shared) / svcs.len();
    let deploy = deploy_json(svcs);
    fast_import(dir, |w| {
        commit_header(w, "refs/heads/v0.1", 1, "monorepo")?;
        file(w, "deploy/deploy.json", &deploy)?;
        for s in svcs {
            file(
                w,
                &format!("{}/Dockerfile", s.context),
                &format!("FROM scratch\nCOPY . /{}\n", s.id),
            )?;
            for p in spread(&format!("{}/src", s.context), per_service - 1) {
                file(w, &p, &format!("{p}\n"))?;
            }
        }
        for p in spread("libs/shared", shared / 2).chain(spread("docs", shared - shared / 2)) {
            file(w, &p, &format!("{p}\n"))?;
        }
        commit_header(w, "refs/heads/v0.1", 2, "change one service")?;
        writeln!(w, "from :1")?;
        file(
            w,
            &format!("{}/src/m000/f000.txt", svcs[0].context),
            "changed\n",
        )?;
        file(w, "docs/m000/f000.txt", "changed docs\n")
    });
    let a = git(dir, &["rev-parse", "refs/heads/v0.1~1"]);
    let b = git(dir, &["rev-parse", "refs/heads/v0.1"]);
    (a, b)
}

fn plan_args(repo: &Path, extra: &[&str]) -> lane::plan::PlanArgs {
    let mut argv = vec!["lane", "-q", "plan", "--repo", repo.to_str().unwrap()];
    argv.extend_from_slice(extra);
    match lane::cli::Cli::try_parse_from(argv)
        .expect("plan flags")
        .command
    {
        lane::cli::Command::Plan(a) => a,
        _ => unreachable!(),
    }
}

/// What promote would have committed after the init run at A.
fn commit_catalog(dir: &Path, a: &str) {
    let init = lane::plan::make_plan(&plan_args(dir, &["--init", "--commit", a])).expect("init");
    let mut entries = serde_json::Map::new();
    for s in &init.services {
        entries.insert(
            s.id.to_string(),
            json!({
                "component": {"service": s.id, "kind": s.kind},
                "imageRepository": s.image_repository,
                "tag": a,
                "digest": format!("sha256:{}", "ab".repeat(32)),
                "status": "published",
                "sourceCommit": a,
                "fingerprint": s.fingerprint,
                "publishedAt": "2026-11-01T00:00:00Z",
                "updatedAt": "2026-11-01T00:00:00Z"
            }),
        );
    }
    let catalog = serde_json::to_string_pretty(&json!({
        "schemaVersion": 1, "lane": "v0.1",
        "sourceRepo": "git@github.com:pikasTech/agentrun.git",
        "sourceBranch": "v0.1", "gitopsBranch": "v0.1-gitops",
        "sourceCommit": a, "updatedAt": "2026-11-01T00:00:00Z", "services": entries
    }))
    .unwrap();
    fast_import(dir, |w| {
        commit_header(w, "refs/heads/v0.1-gitops", 1, "catalog")?;
        file(w, "deploy/artifact-catalog.v01.json", &catalog)
    });
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache once, as in a real step the clone just did
    median(
        (0..ITERATIONS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// The naive approach: diff the catalog's commit against the new one, map paths to contexts.
fn naive(dir: &Path, a: &str, b: &str, svcs: &[Service]) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--name-only", "--no-renames", a, b])
        .output()
        .unwrap();
    let paths = String::from_utf8_lossy(&out.stdout);
    let mut hit: Vec<String> = svcs
        .iter()
        .filter(|s| {
            let prefix = format!("{}/", s.context);
            paths.lines().any(|p| p.starts_with(&prefix))
        })
        .map(|s| s.id.clone())
        .collect();
    hit.sort();
    hit
}

struct Figures {
    files: usize,
    setup: Duration,
    in_process: Duration,
    binary: Duration,
    naive: Duration,
}

fn measure(total: usize) -> Figures {
    let svcs = services();
    let tmp = tempfile::Builder::new()
        .prefix("lane-bench-")
        .tempdir()
        .unwrap();
    let dir: PathBuf = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    let t = Instant::now();
    let (a, b) = build_repo(&dir, total, &svcs);
    commit_catalog(&dir, &a);
    let setup = t.elapsed();
    let files: usize = git(&dir, &["ls-tree", "-r", "--name-only", &b])
        .lines()
        .count();

    // Both approaches must agree on what changed before they are timed.
    let args = plan_args(&dir, &["--commit", &b]);
    let plan = lane::plan::make_plan(&args).expect("plan");
    let affected: Vec<&str> = plan
        .with_decision(lane::model::plan::Decision::Affected)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        affected,
        [svcs[0].id.as_str()],
        "plan found the one changed service"
    );
    assert_eq!(plan.counts.reused, SERVICES - 1);
    assert_eq!(naive(&dir, &a, &b, &svcs), [svcs[0].id.clone()]);

    let in_process = time(|| {
        lane::plan::make_plan(&args).expect("plan");
    });
    let bin = env!("CARGO_BIN_EXE_lane");
    let binary = time(|| {
        let out = Command::new(bin)
            .args([
                "-q",
                "plan",
                "--repo",
                dir.to_str().unwrap(),
                "--commit",
                &b,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    });
    let naive_t = time(|| {
        naive(&dir, &a, &b, &svcs);
    });
    Figures {
        files,
        setup,
        in_process,
        binary,
        naive: naive_t,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used here.
    lane::output::set_quiet(true);
    let sizes = [50_000usize, 500_000];
    let mut rows = Vec::new();
    for n in sizes {
        eprintln!("building a monorepo of {SERVICES} services and {n} files...");
        let f = measure(n);
        eprintln!("  setup {:.1} s", f.setup.as_secs_f64());
        rows.push(f);
    }
    println!("lane plan vs git diff --name-only + path mapping ({SERVICES} services, 1 changed; median of {ITERATIONS})");
    println!(
        "{:>9}  {:>16}  {:>14}  {:>18}  {:>14}",
        "files", "plan in-process", "plan binary", "naive (git diff)", "binary/naive"
    );
    for f in &rows {
        println!(
            "{:>9}  {:>13.2} ms  {:>11.2} ms  {:>15.2} ms  {:>13.2}x",
            f.files,
            ms(f.in_process),
            ms(f.binary),
            ms(f.naive),
            ms(f.binary) / ms(f.naive)
        );
    }
    let (small, big) = (&rows[0], &rows[1]);
    println!(
        "growth at {:.0}x files: plan in-process {:.2}x, plan binary {:.2}x, naive {:.2}x",
        big.files as f64 / small.files as f64,
        ms(big.in_process) / ms(small.in_process),
        ms(big.binary) / ms(small.binary),
        ms(big.naive) / ms(small.naive)
    );
    let goal = rows.iter().all(|f| ms(f.binary) < 100.0);
    println!(
        "goal (lane plan < 100 ms at every size): {}",
        if goal { "met" } else { "NOT met" }
    );
}
