//! `lane publish` against a registry with basic auth (docker config.json credentials) and
//! through a fault proxy that answers 500 and 429 before letting requests through.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::oci::{self, Format, Image};
use common::registry::{Registry, TokenServer};
use serde_json::{json, Value};

const SOURCE: &str = "git@github.com:pikasTech/agentrun.git";
const C1: &str = "1111111111111111111111111111111111111111";
const USER: &str = "lane-ci";
const PASSWORD: &str = "s3cret-Regi5try-pass";

fn plan(dir: &Path, repos: &[(&str, String)]) -> std::path::PathBuf {
    let services: Vec<Value> = repos
        .iter()
        .map(|(id, repo)| {
            json!({"id": id, "kind": "deployment", "decision": "affected", "reason": "forced",
            "imageRepository": repo, "tag": C1})
        })
        .collect();
    let p = dir.join("plan.json");
    let doc = json!({"schemaVersion": 1, "lane": "v0.1", "sourceRepo": SOURCE, "sourceBranch": "v0.1",
        "gitopsBranch": "v0.1-gitops", "sourceCommit": C1, "init": false, "services": services,
        "counts": {"total": repos.len(), "affected": repos.len(), "reused": 0, "pin": 0, "excluded": 0, "unsupported": 0}});
    std::fs::write(&p, doc.to_string()).unwrap();
    p
}

fn image(service: &str) -> Image {
    Image::linux_amd64(oci::lane_labels(service, C1, SOURCE), service)
}

/// A bcrypt htpasswd file (distribution accepts only bcrypt).
fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let bin = common::tools::require("htpasswd");
    let p = dir.join("htpasswd");
    let out = std::process::Command::new(bin)
        .args(["-nbB", USER, PASSWORD])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&p, out.stdout).unwrap();
    p
}

fn docker_config(dir: &Path, file: &str, host: &str, entry: Value) -> std::path::PathBuf {
    let d = dir.join("docker");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(file), json!({"auths": {host: entry}}).to_string()).unwrap();
    d
}

fn run_publish(dir: &Path, plan: &Path, extra: &[&str], env: &[(&str, &str)]) -> common::Run {
    let out = dir.join("publish.json");
    let mut args = vec![
        "publish",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--allow-insecure",
    ];
    args.extend_from_slice(extra);
    let home = dir.join("home");
    let mut envs = vec![("HOME", home.to_str().unwrap())];
    envs.extend_from_slice(env);
    common::lane_env(dir, &args, &envs)
}

/// `lane publish` with `user`/`password` for `host` in a `--docker-config` directory.
fn publish_as(dir: &Path, plan: &Path, host: &str, user: &str, password: &str) -> common::Run {
    let cfg = docker_config(
        dir,
        "config.json",
        host,
        json!({"username": user, "password": password}),
    );
    run_publish(dir, plan, &["--docker-config", cfg.to_str().unwrap()], &[])
}

#[test]
fn basic_auth_from_docker_config_and_the_password_never_shows() {
    let dir = common::tempdir();
    let reg = Registry::start_with(Some(htpasswd(dir.path())));
    let repo = format!("{}/agentrun/mgr", reg.host);
    let layout = dir.path().join("layout");
    oci::write_layout(&layout, &[image("agentrun-mgr")], false);
    oci::push(
        &layout,
        &format!("{repo}:{C1}"),
        Format::Oci,
        Some((USER, PASSWORD)),
    );
    let p = plan(dir.path(), &[("agentrun-mgr", repo.clone())]);
    let auth = oci::base64(&format!("{USER}:{PASSWORD}"));

    // No credentials: access refused, exit 3, advice names the docker config.
    let run = run_publish(dir.path(), &p, &[], &[]);
    run.assert_code(3);
    let hint = run.json()["error"]["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("--docker-config"), "{hint}");

    // `auths.<host>.auth` in config.json via --docker-config.
    let cfg = docker_config(dir.path(), "config.json", &reg.host, json!({"auth": auth}));
    let run = run_publish(
        dir.path(),
        &p,
        &["--docker-config", cfg.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    assert_eq!(run.json()["images"][0]["status"], "published");
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(&auth),
            "credential leaked:\n{text}"
        );
    }
    let written = std::fs::read_to_string(dir.path().join("publish.json")).unwrap();
    assert!(!written.contains(PASSWORD));

    // Tekton's docker credential workspace: `.dockerconfigjson` with username/password,
    // found through DOCKER_CONFIG.
    std::fs::remove_dir_all(&cfg).unwrap();
    let ws = docker_config(
        dir.path(),
        ".dockerconfigjson",
        &format!("http://{}", reg.host),
        json!({"username": USER, "password": PASSWORD}),
    );
    let run = run_publish(
        dir.path(),
        &p,
        &[],
        &[("DOCKER_CONFIG", ws.to_str().unwrap())],
    );
    run.assert_code(0);

    // Wrong password: refused, exit 3, and neither password appears anywhere.
    std::fs::remove_dir_all(&ws).unwrap();
    let wrong = "wr0ng-Passw0rd-value";
    let run = publish_as(dir.path(), &p, &reg.host, USER, wrong);
    run.assert_code(3);
    assert!(run.stdout.contains("refused access"), "{}", run.stdout);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(wrong) && !text.contains(PASSWORD),
            "credential leaked:\n{text}"
        );
    }
}

#[test]
fn bearer_token_flow_with_a_real_token_service() {
    let dir = common::tempdir();
    let tokens = TokenServer::start(dir.path(), USER, PASSWORD);
    let reg = Registry::start_auth(tokens.auth());
    let repos: Vec<(&str, String)> = ["agentrun-mgr", "agentrun-runner"]
        .into_iter()
        .map(|id| (id, format!("{}/agentrun/{id}", reg.host)))
        .collect();
    for (id, repo) in &repos {
        let layout = dir.path().join(format!("layout-{id}"));
        oci::write_layout(&layout, &[image(id)], false);
        oci::push(
            &layout,
            &format!("{repo}:{C1}"),
            Format::Docker,
            Some((USER, PASSWORD)),
        );
    }
    let pushed = tokens.requests().len();
    let p = plan(dir.path(), &repos);

    // No credentials: the token service hands out a token without access; the registry
    // refuses it and publish says so (exit 3), naming the host.
    let run = run_publish(dir.path(), &p, &[], &[]);
    run.assert_code(3);
    assert!(run.stdout.contains(&reg.host), "{}", run.stdout);

    // With credentials from config.json: one token per repository, scoped to pull.
    let before = tokens.requests().len();
    let run = publish_as(dir.path(), &p, &reg.host, USER, PASSWORD);
    run.assert_code(0);
    let images = run.json()["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 2);
    for img in &images {
        assert_eq!(img["status"], "published", "{img}");
        assert_eq!(
            img["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
            "{img}"
        );
    }
    let asked: Vec<Value> = tokens.requests().split_off(before);
    let mut scopes: Vec<String> = asked
        .iter()
        .filter(|r| r["granted"] == true)
        .flat_map(|r| r["scope"].as_array().unwrap().clone())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    scopes.sort();
    scopes.dedup();
    assert_eq!(
        scopes,
        vec![
            "repository:agentrun/agentrun-mgr:pull".to_string(),
            "repository:agentrun/agentrun-runner:pull".to_string()
        ],
        "publish asks for pull access only, per repository"
    );
    assert!(
        asked.iter().all(|r| r["user"] == USER),
        "every token was asked with the configured user: {asked:?}"
    );

    // Neither the password nor any token issued during the run shows anywhere.
    let issued: Vec<String> = tokens.requests()[pushed..]
        .iter()
        .filter_map(|r| r["token"].as_str().map(str::to_string))
        .collect();
    assert!(!issued.is_empty());
    let written = std::fs::read_to_string(dir.path().join("publish.json")).unwrap();
    for text in [&run.stdout, &run.stderr, &written] {
        assert!(!text.contains(PASSWORD), "password leaked:\n{text}");
        for t in &issued {
            assert!(!text.contains(t.as_str()), "token leaked:\n{text}");
        }
    }

    // Wrong password: the token service refuses (401), publish exits 3 without the password.
    let wrong = "wr0ng-Token-passw0rd";
    let run = publish_as(dir.path(), &p, &reg.host, USER, wrong);
    run.assert_code(3);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    }
}

/// Answers the first `faults` requests itself (500s, then 429s with Retry-After: 1), then
/// forwards each request to `upstream`, one request per connection.
struct FaultProxy {
    host: String,
    seen: Arc<AtomicUsize>,
}

fn start_fault_proxy(upstream: String, errors_500: usize, errors_429: usize) -> FaultProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let head = read_head(&mut conn);
                if n < errors_500 {
                    let _ = conn.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                } else if n < errors_500 + errors_429 {
                    let _ = conn.write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                } else {
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
                    up.write_all(head.as_bytes()).unwrap();
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp);
                    let _ = conn.write_all(&resp);
                }
            });
        }
    });
    FaultProxy { host, seen }
}

/// The request head (lane's manifest and blob requests have no body), without a
/// Connection header of its own.
fn read_head(conn: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        buf.push(b[0]);
    }
    String::from_utf8_lossy(&buf)
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn retries_500_and_429_then_succeeds() {
    let reg = Registry::start();
    let dir = common::tempdir();
    oci::build_and_push(
        &format!("{}/agentrun/mgr:{C1}", reg.host),
        &[image("agentrun-mgr")],
        false,
        Format::Docker,
    );
    let proxy = start_fault_proxy(reg.host.clone(), 2, 2);
    let repo = format!("{}/agentrun/mgr", proxy.host);
    let p = plan(dir.path(), &[("agentrun-mgr", repo)]);
    let run = run_publish(dir.path(), &p, &["--timeout", "60"], &[]);
    run.assert_code(0);
    assert!(run.stderr.contains("HTTP 500; retrying"), "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 429; retrying in 1000 ms"),
        "{}",
        run.stderr
    );
    // 4 faults, then GET manifest, GET config blob, HEAD by digest.
    assert!(proxy.seen.load(Ordering::SeqCst) >= 7);
    let out: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("publish.json")).unwrap()).unwrap();
    let digest = out["images"][0]["digest"].as_str().unwrap();
    let (_, hs, _) = oci::http(
        &reg.host,
        "HEAD",
        &format!("/v2/agentrun/mgr/manifests/{C1}"),
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
    );
    assert_eq!(oci::header(&hs, "docker-content-digest"), Some(digest));
}

#[test]
fn a_registry_that_keeps_failing_exhausts_the_deadline_with_exit_3() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let proxy = start_fault_proxy(reg.host.clone(), 1000, 0);
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", proxy.host))],
    );
    let run = run_publish(dir.path(), &p, &["--timeout", "3"], &[]);
    run.assert_code(3);
    let msg = run.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(!dir.path().join("publish.json").exists());
}
