//! kubeconfig like kubectl, against the real API server of scripts/cluster.sh: exec
//! credential plugins, a merged `KUBECONFIG` list, `--context`, and the precedence between the
//! in-cluster service account and a kubeconfig.
//!
//! Each test makes its own namespace and ServiceAccount and a short-lived token for it
//! (`kubectl create token`). That identity has no RBAC at all, so `lane verify --only live`
//! ends with a failed `live.namespace` check whose evidence is the API server's own 403
//! message naming the user it authenticated: the proof of which credentials reached it. A
//! refused credential is a 401 instead (exit 3), an unreachable cluster a transport error.
//!
//! What is simulated: for the in-cluster case, the pod's service-account mount
//! (/var/run/secrets/kubernetes.io/serviceaccount: token and ca.crt) is a tmpfs mounted for
//! lane alone in a private mount namespace (`unshare --mount`), holding the real token and the
//! cluster's CA; and `KUBERNETES_SERVICE_HOST`/`_PORT` name the real API server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::kube::LaneRepos;
use common::Run;
use lane::output::{Document, ErrorDocument};
use lane::verify::VerifyReport;
use serde_json::Value;

/// The real cluster's environment (`eval "$(scripts/cluster.sh env)"`).
struct Cluster {
    admin_kubeconfig: String,
    api_server: String,
    ca_file: String,
    kubectl: PathBuf,
}

fn cluster(test: &str) -> Option<Cluster> {
    let (Ok(admin_kubeconfig), Ok(api_server), Ok(ca_file)) = (
        std::env::var("LANE_CLUSTER_KUBECONFIG"),
        std::env::var("LANE_CLUSTER_API_SERVER"),
        std::env::var("LANE_CLUSTER_CA_FILE"),
    ) else {
        eprintln!("{test}: skipped (no real cluster: run scripts/cluster.sh up and eval \"$(scripts/cluster.sh env)\")");
        return None;
    };
    let kubectl = std::env::var("LANE_CLUSTER_BIN")
        .map(|b| Path::new(&b).join("kubectl"))
        .unwrap_or_else(|_| "kubectl".into());
    Some(Cluster {
        admin_kubeconfig,
        api_server,
        ca_file,
        kubectl,
    })
}

impl Cluster {
    fn kubectl(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&self.admin_kubeconfig)
                .args(args)
                .output()
                .expect("kubectl"),
        )
    }
}

/// A namespace with the ServiceAccount `lane-kc` and a 10-minute token for it; the namespace
/// is deleted on drop.
struct Identity<'a> {
    cluster: &'a Cluster,
    namespace: String,
    token: String,
}

impl Identity<'_> {
    fn user(&self) -> String {
        format!("system:serviceaccount:{}:lane-kc", self.namespace)
    }
}

impl Drop for Identity<'_> {
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&[
            "delete",
            "namespace",
            &self.namespace,
            "--ignore-not-found",
            "--wait=false",
        ]);
    }
}

fn identity<'a>(c: &'a Cluster, tag: &str) -> Identity<'a> {
    let namespace = format!("lane-kc-{tag}-{}", std::process::id());
    c.kubectl(&[
        "delete",
        "namespace",
        &namespace,
        "--ignore-not-found",
        "--wait=true",
    ]);
    c.kubectl(&["create", "namespace", &namespace])
        .assert_code(0);
    let mut id = Identity {
        cluster: c,
        namespace: namespace.clone(),
        token: String::new(),
    };
    c.kubectl(&["-n", &namespace, "create", "serviceaccount", "lane-kc"])
        .assert_code(0);
    let token = c.kubectl(&[
        "-n",
        &namespace,
        "create",
        "token",
        "lane-kc",
        "--duration",
        "10m",
    ]);
    token.assert_code(0);
    id.token = token.stdout.trim().to_string();
    id
}

/// `lane verify --only live` for a test lane, with a clean environment: no `KUBECONFIG`
/// unless given, no in-cluster variables, an empty HOME (no ~/.kube/config).
fn verify(repos: &LaneRepos, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let home = common::tempdir();
    let mut cmd = Command::new(common::lane_bin());
    cmd.current_dir(repos.source.path())
        .args(["verify", "--only", "live", "--repo", &repos.repo_arg()])
        .args(extra)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("HOME", home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("lane"))
}

/// The user the API server named in its 403 (the credentials that reached it).
fn authenticated_as(run: &Run) -> String {
    let check = serde_json::from_str::<Document<VerifyReport>>(&run.stdout)
        .ok()
        .and_then(|d| {
            d.report
                .checks
                .into_iter()
                .find(|c| c.id == "live.namespace")
        })
        .unwrap_or_else(|| panic!("no live.namespace check:\n{}\n{}", run.stdout, run.stderr));
    // A check's evidence is free-form (`Check::evidence` is a `Value`).
    let msg = check.evidence["apiMessage"].as_str().unwrap_or_default();
    let user = msg
        .split("User \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no user in {check:?}"));
    user.to_string()
}

fn error_message(run: &Run) -> String {
    // "" when stdout is not an error document: the caller's assertion then shows stdout.
    serde_json::from_str::<ErrorDocument>(&run.stdout)
        .map(|d| d.error.message)
        .unwrap_or_default()
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn assert_no_token(run: &Run, token: &str) {
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "the token leaked:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn an_exec_plugin_gives_the_token_that_reaches_the_api() {
    let Some(c) = cluster("an_exec_plugin_gives_the_token_that_reaches_the_api") else {
        return;
    };
    let id = identity(&c, "exec");
    let repos = LaneRepos::new();
    let dir = common::tempdir();
    let tok = dir.path().join("sa-token");
    std::fs::write(&tok, &id.token).unwrap();
    let count = dir.path().join("runs");
    // The plugin checks what kubectl would give it: its args verbatim (option-shaped ones
    // included), the kubeconfig's env, and KUBERNETES_EXEC_INFO saying it is not interactive.
    write_exec(
        &dir.path().join("plugin.sh"),
        &format!(
            r#"[ "$1" = "--token-file" ] || {{ echo "unexpected args: $*" >&2; exit 2; }}
[ "$LANE_KC_TEST" = "from-kubeconfig" ] || {{ echo "env not passed" >&2; exit 2; }}
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 2;; esac
[ -t 0 ] && {{ echo "stdin is a terminal" >&2; exit 2; }}
echo run >> '{count}'
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}}}' "$(cat "$2")""#,
            count = count.display()
        ),
    );
    let kc = dir.path().join("config");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: real\nclusters:\n- name: real\n  cluster:\n    server: {api}\n    certificate-authority: {ca}\ncontexts:\n- name: real\n  context: {{cluster: real, user: plugin}}\nusers:\n- name: plugin\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n      args: [--token-file, '{tok}']\n      env: [{{name: LANE_KC_TEST, value: from-kubeconfig}}]\n      installHint: install the lane test plugin\n      interactiveMode: Never\n",
            api = c.api_server,
            ca = c.ca_file,
            tok = tok.display()
        ),
    )
    .unwrap();
    let run = verify(&repos, &["--kubeconfig", kc.to_str().unwrap()], &[]);
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());
    assert!(
        run.stderr.contains(&format!(
            "Kubernetes API {} ({} (context real), exec-plugin)",
            c.api_server,
            kc.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    assert_no_token(&run, &id.token);

    // The same kubeconfig through KUBECONFIG.
    let run = verify(&repos, &[], &[("KUBECONFIG", kc.to_str().unwrap())]);
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());

    // A plugin that fails: exit 3, its exit status and stderr, never what it printed.
    write_exec(
        &dir.path().join("plugin.sh"),
        "printf '{\"status\":{\"token\":\"%s\"}}' \"$(cat \"$2\")\"\necho 'session expired: run the login first' >&2\nexit 4",
    );
    let run = verify(&repos, &["--kubeconfig", kc.to_str().unwrap()], &[]);
    run.assert_code(3);
    let m = error_message(&run);
    assert!(
        m.contains("exec plugin") && m.contains("exit status: 4") && m.contains("session expired"),
        "{m}"
    );
    assert_no_token(&run, &id.token);

    // A plugin that is not installed: its installHint is the hint.
    std::fs::remove_file(dir.path().join("plugin.sh")).unwrap();
    let run = verify(&repos, &["--kubeconfig", kc.to_str().unwrap()], &[]);
    run.assert_code(3);
    assert_eq!(
        run.error().error.hint.as_deref(),
        Some("install the lane test plugin")
    );
}

/// Two kubeconfig files: `a` sets current-context `closed` (a loopback port where nothing
/// listens) and user `sa` with the real token; `b` sets current-context `real` (the real API
/// server) and its own user `sa` with a token the server refuses.
fn two_files(dir: &Path, c: &Cluster, token: &str, port: u16) -> (PathBuf, PathBuf) {
    let a = dir.join("a.yaml");
    let b = dir.join("b.yaml");
    std::fs::write(
        &a,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: closed\nclusters:\n- name: closed\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority: {ca}\ncontexts:\n- name: closed\n  context: {{cluster: closed, user: sa}}\nusers:\n- name: sa\n  user:\n    token: {token}\n",
            ca = c.ca_file
        ),
    )
    .unwrap();
    std::fs::write(
        &b,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: real\nclusters:\n- name: real\n  cluster:\n    server: {api}\n    certificate-authority: {ca}\ncontexts:\n- name: real\n  context: {{cluster: real, user: sa}}\nusers:\n- name: sa\n  user:\n    token: not-a-token-the-server-knows\n",
            api = c.api_server,
            ca = c.ca_file
        ),
    )
    .unwrap();
    (a, b)
}

#[test]
fn a_kubeconfig_list_is_merged_in_order_and_context_picks_the_cluster() {
    let Some(c) = cluster("a_kubeconfig_list_is_merged_in_order_and_context_picks_the_cluster")
    else {
        return;
    };
    let id = identity(&c, "merge");
    let repos = LaneRepos::new();
    let dir = common::tempdir();
    let port = closed_port();
    let (a, b) = two_files(dir.path(), &c, &id.token, port);
    let list = |files: &[&Path]| {
        std::env::join_paths(files)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let missing = dir.path().join("missing.yaml");

    // a first: its current-context (closed) wins; a missing file in the list is skipped.
    let ab = list(&[&missing, &a, &b]);
    let run = verify(&repos, &[], &[("KUBECONFIG", &ab)]);
    run.assert_code(3);
    assert!(
        error_message(&run).contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stdout
    );
    // --context real: the cluster from b, but user `sa` from a (the first file naming it).
    let run = verify(&repos, &["--context", "real"], &[("KUBECONFIG", &ab)]);
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());
    assert!(
        run.stderr.contains("(context real), bearer-token)"),
        "{}",
        run.stderr
    );

    // b first: current-context real and b's user `sa`, whose token the server refuses.
    let ba = list(&[&b, &a]);
    let run = verify(&repos, &[], &[("KUBECONFIG", &ba)]);
    run.assert_code(3);
    assert!(error_message(&run).contains("HTTP 401"), "{}", run.stdout);
    assert_no_token(&run, &id.token);

    // --kubeconfig is read alone, never merged with KUBECONFIG.
    let run = verify(
        &repos,
        &["--kubeconfig", a.to_str().unwrap(), "--context", "real"],
        &[("KUBECONFIG", &ba)],
    );
    run.assert_code(3);
    assert!(
        error_message(&run).contains("context 'real' is not in contexts (contexts: closed)"),
        "{}",
        run.stdout
    );
    // An unknown context names the ones there are.
    let run = verify(&repos, &["--context", "nope"], &[("KUBECONFIG", &ab)]);
    run.assert_code(3);
    assert!(
        error_message(&run).contains("context 'nope' is not in contexts (contexts: closed, real)"),
        "{}",
        run.stdout
    );
}

/// `lane verify ...` as in a pod: the service-account directory (token and ca.crt) mounted
/// for lane alone, and `KUBERNETES_SERVICE_HOST`/`_PORT` naming the real API server.
fn verify_in_pod(
    c: &Cluster,
    repos: &LaneRepos,
    sa_token: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let dir = common::tempdir();
    let sa = dir.path().join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), sa_token).unwrap();
    std::fs::copy(&c.ca_file, sa.join("ca.crt")).unwrap();
    let hostport = c.api_server.trim_start_matches("https://");
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let run_dir = std::fs::canonicalize("/var/run").unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let home = common::tempdir();
    let mut cmd = Command::new(common::tools::require("unshare"));
    if !root {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args(["--mount", "sh", "-c"])
        .arg(
            "mount -t tmpfs lane-test \"$RUN_DIR\" \
             && mkdir -p \"$RUN_DIR/secrets/kubernetes.io\" \
             && cp -r \"$SA\" \"$RUN_DIR/secrets/kubernetes.io/serviceaccount\" \
             && exec \"$LANE\" \"$@\"",
        )
        .args([
            "sh",
            "verify",
            "--only",
            "live",
            "--repo",
            &repos.repo_arg(),
        ])
        .args(extra)
        .current_dir(repos.source.path())
        .env("RUN_DIR", &run_dir)
        .env("SA", &sa)
        .env("LANE", common::lane_bin())
        .env("KUBERNETES_SERVICE_HOST", host.trim_matches(['[', ']']))
        .env("KUBERNETES_SERVICE_PORT", port)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("unshare"))
}

#[test]
fn in_cluster_credentials_only_when_no_kubeconfig_configures_a_cluster() {
    let Some(c) = cluster("in_cluster_credentials_only_when_no_kubeconfig_configures_a_cluster")
    else {
        return;
    };
    let id = identity(&c, "pod");
    let repos = LaneRepos::new();
    let dir = common::tempdir();
    let port = closed_port();
    let (a, _) = two_files(dir.path(), &c, "unused-token", port);

    // Nothing else: the service account.
    let run = verify_in_pod(&c, &repos, &id.token, &[], &[]);
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());
    assert!(
        run.stderr.contains("(in-cluster, bearer-token)"),
        "{}",
        run.stderr
    );
    assert_no_token(&run, &id.token);

    // A KUBECONFIG that configures a cluster wins over the pod's account, as with kubectl.
    let run = verify_in_pod(
        &c,
        &repos,
        &id.token,
        &[],
        &[("KUBECONFIG", a.to_str().unwrap())],
    );
    run.assert_code(3);
    assert!(
        error_message(&run).contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stdout
    );
    // So does --kubeconfig.
    let run = verify_in_pod(
        &c,
        &repos,
        &id.token,
        &["--kubeconfig", a.to_str().unwrap()],
        &[],
    );
    run.assert_code(3);

    // A KUBECONFIG whose files do not exist, or an empty kubeconfig, configures nothing.
    let missing = dir.path().join("missing.yaml");
    let run = verify_in_pod(
        &c,
        &repos,
        &id.token,
        &[],
        &[("KUBECONFIG", missing.to_str().unwrap())],
    );
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let run = verify_in_pod(
        &c,
        &repos,
        &id.token,
        &["--kubeconfig", empty.to_str().unwrap()],
        &[],
    );
    run.assert_code(1);
    assert_eq!(authenticated_as(&run), id.user());
}

#[test]
fn no_configuration_at_all_is_an_environment_error_with_advice() {
    let repos = LaneRepos::new();
    let run = verify(&repos, &[], &[]);
    run.assert_code(3);
    let doc = run.error();
    assert!(
        doc.error
            .message
            .contains("no Kubernetes API configuration"),
        "{doc:?}"
    );
    let run = verify(&repos, &["--context", "prod"], &[]);
    run.assert_code(3);
    assert!(
        error_message(&run).contains("context 'prod' does not exist"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_exec_plugin_client_certificate_reaches_the_api() {
    let Some(c) = cluster("an_exec_plugin_client_certificate_reaches_the_api") else {
        return;
    };
    // The cluster's admin client certificate (its kubeconfig holds it inline), handed out by
    // a plugin as clientCertificateData/clientKeyData (PEM).
    let admin: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&c.admin_kubeconfig).unwrap()).unwrap();
    let user = &admin["users"][0]["user"];
    let pem = |field: &str| {
        let b64 = user[field].as_str().unwrap_or_else(|| panic!("no {field}"));
        String::from_utf8(lane::encoding::base64_decode(b64).unwrap()).unwrap()
    };
    let (cert, key) = (pem("client-certificate-data"), pem("client-key-data"));
    let repos = LaneRepos::new();
    let dir = common::tempdir();
    let answer = dir.path().join("credential.json");
    std::fs::write(
        &answer,
        serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"clientCertificateData": cert, "clientKeyData": key}
        })
        .to_string(),
    )
    .unwrap();
    write_exec(
        &dir.path().join("plugin"),
        &format!("cat '{}'", answer.display()),
    );
    let kc = dir.path().join("config");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: real\nclusters:\n- name: real\n  cluster:\n    server: {api}\n    certificate-authority: {ca}\ncontexts:\n- name: real\n  context: {{cluster: real, user: plugin}}\nusers:\n- name: plugin\n  user:\n    exec: {{apiVersion: client.authentication.k8s.io/v1, command: ./plugin, interactiveMode: IfAvailable}}\n",
            api = c.api_server,
            ca = c.ca_file
        ),
    )
    .unwrap();
    let run = verify(&repos, &["--kubeconfig", kc.to_str().unwrap()], &[]);
    assert!(
        run.code == 0 || run.code == 1,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.contains("exec-plugin)"), "{}", run.stderr);
    let doc: VerifyReport = run.report();
    let ns = doc
        .checks
        .iter()
        .find(|c| c.id == "live.namespace")
        .unwrap();
    // The admin may read the namespace: whatever the check finds, it was not refused (the
    // evidence is free-form, `Check::evidence` is a `Value`).
    assert!(ns.evidence.get("forbidden").is_none(), "{ns:?}");
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"));
}
