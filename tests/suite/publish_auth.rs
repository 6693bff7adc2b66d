//! `lane publish` against a registry with basic auth (docker config.json credentials) and
//! through a fault proxy that answers 500 and 429 before letting requests through.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::oci::{self, Format, Image};
use common::registry::{Registry, TokenServer};
use lane::model::catalog::EntryStatus;
use lane::model::intent::ComponentKind;
use lane::model::plan::{Decision, Plan, PlanCounts, PlannedService};
use lane::model::publish::PublishResult;
use lane::publish::PublishReport;
use serde_json::{json, Value};

const SOURCE: &str = "git@github.com:pikasTech/agentrun.git";
const C1: &str = "1111111111111111111111111111111111111111";
const USER: &str = "lane-ci";
const PASSWORD: &str = "s3cret-Regi5try-pass";

fn plan(dir: &Path, repos: &[(&str, String)]) -> std::path::PathBuf {
    let services: Vec<PlannedService> = repos
        .iter()
        .map(|(id, repo)| PlannedService {
            id: (*id).try_into().unwrap(),
            kind: ComponentKind::Deployment,
            decision: Decision::Affected,
            reason: "forced".into(),
            image_repository: Some(repo.clone().try_into().unwrap()),
            tag: Some(C1.into()),
            fingerprint: None,
            previous_fingerprint: None,
            digest: None,
            reused_from: None,
            build: None,
        })
        .collect();
    let p = dir.join("plan.json");
    let doc = Plan {
        schema_version: 1,
        lane: "v0.1".into(),
        source_repo: SOURCE.into(),
        source_branch: "v0.1".into(),
        gitops_branch: "v0.1-gitops".into(),
        source_commit: C1.try_into().unwrap(),
        gitops_commit: None,
        catalog_source_commit: None,
        init: false,
        counts: PlanCounts::of(&services),
        services,
    };
    std::fs::write(&p, serde_json::to_string(&doc).unwrap()).unwrap();
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
    let hint = run.error().error.hint.unwrap();
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
    assert_eq!(
        run.report::<PublishReport>().images[0].status,
        EntryStatus::Published
    );
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
    let images = run.report::<PublishReport>().images;
    assert_eq!(images.len(), 2);
    for img in &images {
        assert_eq!(img.status, EntryStatus::Published, "{img:?}");
        assert_eq!(
            img.media_type, "application/vnd.docker.distribution.manifest.v2+json",
            "{img:?}"
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
    let out: PublishResult =
        serde_json::from_slice(&std::fs::read(dir.path().join("publish.json")).unwrap()).unwrap();
    let digest = out.images[0].digest.as_str();
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
    let msg = run.error().error.message;
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(!dir.path().join("publish.json").exists());
}

/// How a [`start_hostile_proxy`] answers a request whose first line contains `GET` and
/// `/manifests/`; everything else is forwarded to the real registry.
#[derive(Clone, Copy)]
enum Hostile {
    /// `200` with an endless body (no length): lane must stop at its limit.
    Endless,
    /// The registry's answer with its body cut in half, for the first `n` such requests.
    Truncate(usize),
    /// Headers, then one body byte every 300 ms, forever.
    Drip,
    /// The registry's answer, after the given number of seconds.
    Delay(u64),
}

struct HostileProxy {
    host: String,
    /// Manifest GETs seen, and body bytes sent by the endless answer.
    manifests: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
}

fn forward(upstream: &str, head: &str) -> Vec<u8> {
    let mut up = TcpStream::connect(upstream).unwrap();
    let head = head.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    up.write_all(head.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = up.read_to_end(&mut resp);
    resp
}

fn start_hostile_proxy(upstream: String, mode: Hostile) -> HostileProxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let manifests = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let (m2, s2) = (manifests.clone(), sent.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (upstream, manifests, sent) = (upstream.clone(), m2.clone(), s2.clone());
            std::thread::spawn(move || {
                let head = read_head(&mut conn);
                let first = head.lines().next().unwrap_or("").to_string();
                if !(first.starts_with("GET ") && first.contains("/manifests/")) {
                    let _ = conn.write_all(&forward(&upstream, &head));
                    return;
                }
                let n = manifests.fetch_add(1, Ordering::SeqCst);
                match mode {
                    Hostile::Endless => {
                        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n");
                        let chunk = vec![b' '; 64 << 10];
                        while conn.write_all(&chunk).is_ok() {
                            sent.fetch_add(chunk.len(), Ordering::SeqCst);
                        }
                    }
                    Hostile::Truncate(k) if n < k => {
                        let resp = forward(&upstream, &head);
                        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        let body = resp.len() - split;
                        let _ = conn.write_all(&resp[..split + body / 2]);
                    }
                    Hostile::Drip => {
                        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n");
                        while conn.write_all(b" ").is_ok() {
                            std::thread::sleep(std::time::Duration::from_millis(300));
                        }
                    }
                    Hostile::Delay(s) => {
                        std::thread::sleep(std::time::Duration::from_secs(s));
                        let _ = conn.write_all(&forward(&upstream, &head));
                    }
                    Hostile::Truncate(_) => {
                        let _ = conn.write_all(&forward(&upstream, &head));
                    }
                }
            });
        }
    });
    HostileProxy {
        host,
        manifests,
        sent,
    }
}

fn pushed_registry() -> Registry {
    let reg = Registry::start();
    oci::build_and_push(
        &format!("{}/agentrun/mgr:{C1}", reg.host),
        &[image("agentrun-mgr")],
        false,
        Format::Docker,
    );
    reg
}

/// An endless manifest body: lane stops reading at its 8 MiB limit and reports it (exit 1,
/// one JSON document), instead of buffering until the process dies.
#[test]
fn an_endless_body_is_cut_at_the_limit_while_it_streams() {
    let reg = pushed_registry();
    let dir = common::tempdir();
    let proxy = start_hostile_proxy(reg.host.clone(), Hostile::Endless);
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", proxy.host))],
    );
    let run = run_publish(dir.path(), &p, &["--timeout", "60"], &[]);
    run.assert_code(1);
    let doc: PublishReport = run.report();
    let problem = doc.problems.first().unwrap_or_else(|| panic!("{doc:?}"));
    let msg = &problem.message;
    assert!(msg.contains("8388608-byte limit"), "{msg}");
    assert!(msg.contains(&proxy.host), "names host:port: {msg}");
    assert!(problem.hint.is_some(), "{doc:?}");
    // What lane read is bounded (the rest of what was sent sits in socket buffers).
    let sent = proxy.sent.load(Ordering::SeqCst);
    assert!(sent < 64 << 20, "{sent} bytes went out before lane hung up");
    assert!(!dir.path().join("publish.json").exists());
}

/// A body cut off before its Content-Length is retried like a 5xx, and the retry succeeds.
#[test]
fn a_truncated_body_is_retried() {
    let reg = pushed_registry();
    let dir = common::tempdir();
    let proxy = start_hostile_proxy(reg.host.clone(), Hostile::Truncate(2));
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", proxy.host))],
    );
    let run = run_publish(dir.path(), &p, &["--timeout", "60"], &[]);
    run.assert_code(0);
    assert!(run.stderr.contains("cut off"), "{}", run.stderr);
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    assert!(proxy.manifests.load(Ordering::SeqCst) >= 3);
}

/// A body that drips and never completes uses up the deadline and is reported naming the
/// registry's host:port and what happened (exit 3), never a hang.
#[test]
fn a_dripping_body_is_reported_with_host_and_what_happened() {
    let reg = pushed_registry();
    let dir = common::tempdir();
    let proxy = start_hostile_proxy(reg.host.clone(), Hostile::Drip);
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", proxy.host))],
    );
    let start = std::time::Instant::now();
    let run = run_publish(dir.path(), &p, &["--timeout", "6"], &[]);
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    run.assert_code(3);
    let msg = run.error().error.message;
    assert!(msg.contains(&proxy.host), "{msg}");
    assert!(msg.contains("still arriving"), "{msg}");
}

/// A registry slower than the old fixed 30 s per request still answers within --timeout:
/// each attempt gets its share of the deadline, not a fixed limit.
#[test]
fn a_slow_registry_gets_the_time_the_deadline_grants() {
    let reg = pushed_registry();
    let dir = common::tempdir();
    let proxy = start_hostile_proxy(reg.host.clone(), Hostile::Delay(32));
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", proxy.host))],
    );
    let run = run_publish(dir.path(), &p, &["--timeout", "90"], &[]);
    run.assert_code(0);
    assert_eq!(proxy.manifests.load(Ordering::SeqCst), 1, "{}", run.stderr);
}

/// An HTTPS registry whose token realm is plain HTTP never gets the credentials sent there:
/// lane refuses (exit 1) unless the registry itself is allowed plain HTTP.
#[test]
fn a_plain_http_token_realm_of_an_https_registry_is_refused() {
    let dir = common::tempdir();
    // A CA lane trusts (SSL_CERT_FILE) and the registry's certificate for 127.0.0.1.
    let d = dir.path();
    let (ca, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    let ext = d.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new(common::tools::require("openssl"))
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=lane-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    let log = dir.path().join("token.log");
    std::fs::write(&log, "").unwrap();
    let (mut child, port) = common::tools::start_fixture(
        "insecure_realm_registry.py",
        &[
            "--cert".as_ref(),
            cert.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--log".as_ref(),
            log.as_os_str(),
        ],
    );
    let host = format!("127.0.0.1:{port}");
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{host}/agentrun/mgr"))],
    );
    let cfg = docker_config(
        dir.path(),
        "config.json",
        &host,
        json!({"username": USER, "password": PASSWORD}),
    );
    let out_file = dir.path().join("publish.json");
    let run = common::lane_env(
        dir.path(),
        &[
            "publish",
            "--plan",
            p.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
            "--docker-config",
            cfg.to_str().unwrap(),
            "--timeout",
            "20",
        ],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    let _ = child.kill();
    let _ = child.wait();
    run.assert_code(1);
    let doc: PublishReport = run.report();
    let problem = doc.problems.first().unwrap_or_else(|| panic!("{doc:?}"));
    let msg = &problem.message;
    assert!(msg.contains("plain HTTP"), "{msg}");
    assert!(problem.hint.is_some(), "{doc:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "a request reached the plain-HTTP realm"
    );
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}

/// Outputs are all or nothing: when --out cannot be written, no Tekton result file is left
/// behind either (they used to be written first, and stayed).
#[test]
fn outputs_are_all_or_nothing() {
    let reg = pushed_registry();
    let dir = common::tempdir();
    let p = plan(
        dir.path(),
        &[("agentrun-mgr", format!("{}/agentrun/mgr", reg.host))],
    );
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let bad_out = blocker.join("publish.json");
    let url = results.join("IMAGE_URL");
    let images = results.join("IMAGES");
    let run = common::lane(
        dir.path(),
        &[
            "publish",
            "--plan",
            p.to_str().unwrap(),
            "--allow-insecure",
            "--out",
            bad_out.to_str().unwrap(),
            "--result-image-url",
            url.to_str().unwrap(),
            "--result-images",
            images.to_str().unwrap(),
        ],
    );
    run.assert_code(3);
    let left: Vec<_> = std::fs::read_dir(&results).unwrap().collect();
    assert!(left.is_empty(), "result files left behind: {left:?}");
}
