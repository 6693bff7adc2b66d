//! `lane verify` groups live, argo and tekton against a local HTTPS fake of the Kubernetes API
//! (tests/fixtures/fake_kube_api.py) serving Kubernetes, Argo CD and Tekton objects shaped like
//! the real APIs', behind a bearer token (401 otherwise) and a test CA.

// tests/common/registry.rs (core) trips this lint; it is not part of these tests.
#![allow(clippy::zombie_processes)]

mod common;

use common::kube::{digest, image, run_git, Cluster, FakeApi, LaneRepos, TOKEN};
use lane::output::Document;
use lane::verify::{Check, Group, Status, VerifyReport};
use serde_json::{json, Value};

struct Setup {
    repos: LaneRepos,
    api: FakeApi,
    cluster: Cluster,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let repos = LaneRepos::new();
    let cluster = repos.healthy_cluster();
    let dir = common::tempdir();
    let api = FakeApi::start(dir.path(), &cluster.to_value());
    Setup {
        repos,
        api,
        cluster,
        dir,
    }
}

impl Setup {
    fn apply(&self) {
        self.api.set_routes(&self.cluster.to_value());
    }

    fn verify(&self, extra: &[&str]) -> common::Run {
        let repo = self.repos.repo_arg();
        let mut args: Vec<String> = vec!["verify".into(), "--repo".into(), repo];
        args.extend(self.api.flags());
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        common::lane(self.repos.source.path(), &a)
    }
}

// A check's `evidence` is free-form (`Check::evidence` is a `Value`): its lookups stay raw.
fn check<'a>(doc: &'a VerifyReport, id: &str) -> &'a Check {
    doc.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {doc:#?}"))
}

fn status(doc: &VerifyReport, id: &str) -> Status {
    check(doc, id).status
}

/// The verify document of a run, or None when stdout is not one (an error document): for the
/// retry loops, which went on past such a run before.
fn verify_doc(run: &common::Run) -> Option<Document<VerifyReport>> {
    serde_json::from_str(&run.stdout).ok()
}

#[test]
fn a_healthy_release_passes_all_five_groups_in_truth_order() {
    let s = setup();
    let run = s.verify(&[]);
    let doc: VerifyReport = run.report();
    run.assert_code(0);
    let groups: Vec<Group> = doc.checks.iter().map(|c| c.group).collect();
    let mut order = groups.clone();
    order.dedup();
    assert_eq!(
        order,
        [
            Group::Live,
            Group::Argo,
            Group::Gitops,
            Group::Tekton,
            Group::Source
        ]
    );
    for id in [
        "live.namespace",
        "live.deployment.agentrun-mgr.rollout",
        "live.images",
        "live.source-commit",
        "live.cronjob.agentrun-runner.image",
        "live.health.agentrun-mgr",
        "argo.application",
        "argo.source",
        "argo.destination",
        "argo.revision",
        "argo.sync",
        "argo.health",
        "argo.project-destinations",
        "tekton.pipelinerun",
        "tekton.digests",
    ] {
        assert_eq!(
            status(&doc, id),
            Status::Pass,
            "{id}: {:#?}",
            check(&doc, id)
        );
    }
    // Evidence names what was looked at: the running digest and the synced revision.
    let ev = check(&doc, "live.images").evidence["agentrun-mgr"].to_string();
    assert!(ev.contains(&digest('a')), "{ev}");
    assert_eq!(
        check(&doc, "argo.revision").evidence["syncRevision"],
        s.repos.gitops_head.as_str()
    );
    // The newest PipelineRun of the commit was judged (an older failed one exists).
    let pr = check(&doc, "tekton.pipelinerun").evidence["pipelineRun"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pr.ends_with("-x7k2p"), "{pr}");
    // The health check went through the API server's service proxy, with the token.
    let log = s.api.requests();
    assert!(
        log.contains("GET /api/v1/namespaces/agentrun-v01/services/agentrun-mgr:http/proxy/health bearer 200"),
        "{log}"
    );
    assert!(
        !log.contains(" none "),
        "a request went out without credentials:\n{log}"
    );
    // The token is never printed.
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
}

#[test]
fn an_old_digest_still_healthy_fails_live_images() {
    let mut s = setup();
    let old = digest('c');
    for p in s.cluster.pods().iter_mut() {
        p["spec"]["containers"][0]["image"] =
            json!(format!("127.0.0.1:5000/agentrun/agentrun-mgr@{old}"));
        p["status"]["containerStatuses"][0]["imageID"] =
            json!(format!("127.0.0.1:5000/agentrun/agentrun-mgr@{old}"));
    }
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "live.images");
    assert_eq!(c.status, Status::Fail);
    let msg = &c.message;
    assert!(msg.contains(&old) && msg.contains(&digest('a')), "{msg}");
    // The old pods are Ready and the Deployment looks rolled out: only the digest betrays it.
    assert_eq!(
        status(&doc, "live.deployment.agentrun-mgr.rollout"),
        Status::Pass
    );
    assert_eq!(status(&doc, "live.health.agentrun-mgr"), Status::Pass);
}

#[test]
fn an_unfinished_rollout_and_a_stale_source_commit_fail() {
    let mut s = setup();
    let path = "/apis/apps/v1/namespaces/agentrun-v01/deployments/agentrun-mgr";
    let d = s.cluster.body(path);
    d["metadata"]["generation"] = json!(4);
    d["status"]["updatedReplicas"] = json!(0);
    d["metadata"]["labels"]["lane.dev/source-commit"] = json!("0".repeat(40));
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "live.deployment.agentrun-mgr.rollout");
    assert_eq!(c.status, Status::Fail);
    let msg = &c.message;
    assert!(msg.contains("observedGeneration 3 < generation 4"), "{msg}");
    assert!(msg.contains("updatedReplicas 0"), "{msg}");
    let sc = check(&doc, "live.source-commit");
    assert_eq!(sc.status, Status::Fail);
    assert!(sc.message.contains(&"0".repeat(40)));
}

#[test]
fn a_failing_health_endpoint_and_a_wrong_runner_template_fail() {
    let mut s = setup();
    *s.cluster
        .route("/api/v1/namespaces/agentrun-v01/services/agentrun-mgr:http/proxy/health") = json!({
        "status": 503,
        "body": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "no endpoints available for service \"agentrun-mgr\"", "reason": "ServiceUnavailable", "code": 503}
    });
    let cj = s
        .cluster
        .body("/apis/batch/v1/namespaces/agentrun-v01/cronjobs/agentrun-runner");
    cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(image("agentrun-runner", 'd'));
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let h = check(&doc, "live.health.agentrun-mgr");
    assert_eq!(h.status, Status::Fail);
    assert_eq!(h.evidence["status"], 503);
    assert_eq!(
        status(&doc, "live.cronjob.agentrun-runner.image"),
        Status::Fail
    );
}

#[test]
fn a_missing_namespace_fails_and_skips_the_rest_of_live() {
    let mut s = setup();
    s.cluster.routes.remove("/api/v1/namespaces/agentrun-v01");
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert_eq!(status(&doc, "live.namespace"), Status::Fail);
    assert_eq!(status(&doc, "live.images"), Status::Skip);
}

#[test]
fn argo_synced_to_an_older_revision_fails_revision() {
    let mut s = setup();
    let old = "1".repeat(40);
    let app = s.cluster.app();
    app["status"]["sync"]["revision"] = json!(old);
    app["status"]["operationState"]["syncResult"]["revision"] = json!(old);
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "argo.revision");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains(&old));
    assert_eq!(c.evidence["gitopsHead"], s.repos.gitops_head.as_str());
    // Synced and Healthy at the old revision is still not the release.
    assert_eq!(status(&doc, "argo.sync"), Status::Pass);
    assert_eq!(status(&doc, "argo.health"), Status::Pass);
}

#[test]
fn argo_comparing_the_head_but_running_an_older_revision_fails_revision() {
    let mut s = setup();
    let old = "5".repeat(40);
    let app = s.cluster.app();
    // Automated sync off: Argo CD has compared the new head (OutOfSync) but the last sync
    // applied an older revision.
    app["status"]["sync"]["status"] = json!("OutOfSync");
    app["status"]["history"][0]["revision"] = json!(old);
    app["status"]["operationState"]["syncResult"]["revision"] = json!(old);
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "argo.revision");
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.message.contains(&format!(
            "compares the GitOps head {} but last applied {old}",
            s.repos.gitops_head
        )),
        "{c:#?}"
    );
    assert_eq!(c.evidence["deployedRevision"], old.as_str());
}

#[test]
fn degraded_health_and_outofsync_fail() {
    let mut s = setup();
    let app = s.cluster.app();
    app["status"]["health"] = json!({"status": "Degraded", "message": "Deployment \"agentrun-mgr\" exceeded its progress deadline"});
    app["status"]["sync"]["status"] = json!("OutOfSync");
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert_eq!(status(&doc, "argo.health"), Status::Fail);
    assert!(check(&doc, "argo.health").message.contains("Degraded"));
    assert_eq!(status(&doc, "argo.sync"), Status::Fail);
}

#[test]
fn wrong_source_destination_and_a_wide_project_fail() {
    let mut s = setup();
    let app = s.cluster.app();
    app["spec"]["source"]["targetRevision"] = json!("master");
    app["spec"]["destination"]["namespace"] = json!("agentrun_prod");
    let proj = s
        .cluster
        .body("/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/agentrun-v01");
    proj["spec"]["destinations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"server": "*", "namespace": "*"}));
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert!(check(&doc, "argo.source").message.contains("'master'"));
    assert_eq!(status(&doc, "argo.destination"), Status::Fail);
    assert_eq!(status(&doc, "argo.project-destinations"), Status::Fail);
}

#[test]
fn a_failed_pipelinerun_fails_tekton() {
    let mut s = setup();
    // Make the newest run of the commit a failed one.
    let list = s.cluster.pipeline_run_list();
    list[1]["status"]["conditions"][0] = json!({
        "type": "Succeeded", "status": "False", "reason": "Failed",
        "message": "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2",
        "lastTransitionTime": "2026-11-01T00:04:00Z"
    });
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "tekton.pipelinerun");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains("Failed: 1"));
}

#[test]
fn a_pipeline_run_flag_that_is_not_an_object_name_is_refused_before_any_request() {
    let s = setup();
    for hostile in [
        "../../../api/v1/namespaces/agentrun-ci/secrets",
        "x?watch=1",
        "-x",
    ] {
        let flag = format!("--pipeline-run={hostile}");
        let run = s.verify(&["--only", "tekton", &flag]);
        run.assert_code(1);
        let doc = run.error();
        let msg = &doc.error.message;
        assert!(
            msg.contains("is not a Kubernetes object name (rule dns1123-subdomain)"),
            "{doc:#?}"
        );
    }
    assert!(log_lines(&s, "secrets").is_empty(), "{}", s.api.requests());
    assert!(
        log_lines(&s, "pipelineruns").is_empty(),
        "{}",
        s.api.requests()
    );
}

#[test]
fn published_digests_that_differ_from_the_catalog_fail_tekton() {
    let mut s = setup();
    let name = format!("agentrun-v01-ci-{}-x7k2p-publish", &s.repos.commit[..12]);
    let tr = s.cluster.body(&format!(
        "/apis/tekton.dev/v1/namespaces/agentrun-ci/taskruns/{name}"
    ));
    tr["status"]["results"] = json!([
        {"name": "IMAGES", "type": "string",
         "value": format!("{},{}", image("agentrun-mgr", 'e'), image("agentrun-runner", 'b'))}
    ]);
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "tekton.digests");
    assert_eq!(c.status, Status::Fail);
    assert!(c.message.contains(&digest('e')));
    assert_eq!(status(&doc, "tekton.pipelinerun"), Status::Pass);
}

#[test]
fn no_pipelinerun_for_the_commit_fails() {
    let mut s = setup();
    s.cluster.pipeline_run_list().clear();
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "tekton.pipelinerun");
    assert!(c
        .message
        .contains(&format!("agentrun-v01-ci-{}", &s.repos.commit[..12])));
}

#[test]
fn wait_times_out_with_the_last_observed_state_when_the_revision_never_syncs() {
    let mut s = setup();
    let old = "2".repeat(40);
    let app = s.cluster.app();
    app["status"]["sync"]["revision"] = json!(old);
    app["status"]["sync"]["status"] = json!("OutOfSync");
    s.apply();
    let start = std::time::Instant::now();
    let run = s.verify(&["--only", "argo", "--wait", "2s"]);
    let took = start.elapsed();
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let wait = doc.wait.as_ref().unwrap();
    assert!(!wait.satisfied);
    assert!(wait.attempts >= 2, "{wait:#?}");
    assert!(took >= std::time::Duration::from_secs(2), "{took:?}");
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    let c = check(&doc, "argo.revision");
    assert_eq!(c.evidence["syncRevision"], old.as_str());
    assert_eq!(c.evidence["syncStatus"], "OutOfSync");
}

#[test]
fn wait_succeeds_once_argo_reports_the_pushed_revision() {
    let mut s = setup();
    let path = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/agentrun-g14-v01";
    let synced = s.cluster.route(path).clone();
    let mut syncing = synced.clone();
    syncing["body"]["status"]["sync"]["status"] = json!("OutOfSync");
    syncing["body"]["status"]["sync"]["revision"] = json!("3".repeat(40));
    syncing["body"]["status"]["health"]["status"] = json!("Progressing");
    *s.cluster.route(path) = json!({"sequence": [syncing.clone(), syncing, synced]});
    s.apply();
    let run = s.verify(&["--only", "argo", "--wait", "30s"]);
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    let wait = doc.wait.as_ref().unwrap();
    assert!(wait.satisfied);
    assert_eq!(wait.attempts, 3);
}

#[test]
fn a_wrong_token_is_an_environment_error_without_the_token_in_output() {
    let s = setup();
    let bad = s.dir.path().join("bad-token");
    std::fs::write(&bad, "not-the-token").unwrap();
    let repo = s.repos.repo_arg();
    let ca = s.api.pki.path("ca.pem").display().to_string();
    let badp = bad.display().to_string();
    let run = common::lane(
        s.repos.source.path(),
        &[
            "verify",
            "--only",
            "argo",
            "--repo",
            &repo,
            "--api-server",
            &s.api.url,
            "--token-file",
            &badp,
            "--ca-file",
            &ca,
        ],
    );
    run.assert_code(3);
    let doc = run.error();
    assert!(doc.error.message.contains("401"));
    assert!(!run.stdout.contains("not-the-token") && !run.stderr.contains("not-the-token"));
    assert!(s.api.requests().contains(" none 401"));
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let s = setup();
    let other = common::kube::Pki::generate(&s.dir.path().join("other-pki"));
    let repo = s.repos.repo_arg();
    let tok = s.api.token_file.display().to_string();
    let ca = other.path("ca.pem").display().to_string();
    let run = common::lane(
        s.repos.source.path(),
        &[
            "verify",
            "--only",
            "argo",
            "--repo",
            &repo,
            "--api-server",
            &s.api.url,
            "--token-file",
            &tok,
            "--ca-file",
            &ca,
        ],
    );
    run.assert_code(3);
    let msg = run.error().error.message;
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    // Nothing reached the handler: the TLS handshake failed first.
    assert_eq!(s.api.requests(), "");
}

#[test]
fn a_kubeconfig_with_a_token_or_a_client_certificate_works() {
    let s = setup();
    let repo = s.repos.repo_arg();
    let kc = s.dir.path().join("kubeconfig");
    s.api.kubeconfig(&kc, &format!("token: {TOKEN}"));
    let kcs = kc.display().to_string();
    let run = common::lane(
        s.repos.source.path(),
        &[
            "verify",
            "--only",
            "argo",
            "--repo",
            &repo,
            "--kubeconfig",
            &kcs,
        ],
    );
    run.assert_code(0);
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));

    // KUBECONFIG with a client certificate and key given as files (relative to the file).
    let pki = &s.api.pki.dir;
    let kc2 = pki.join("kubeconfig-cert");
    s.api.kubeconfig(
        &kc2,
        "client-certificate: client.pem\nclient-key: client-key.pem",
    );
    let run = common::lane_env(
        s.repos.source.path(),
        &["verify", "--only", "argo", "--repo", &repo],
        &[("KUBECONFIG", kc2.to_str().unwrap())],
    );
    run.assert_code(0);
    assert!(s.api.requests().contains(" client-cert 200"));
}

#[test]
fn a_kubeconfig_with_insecure_skip_tls_verify_is_refused() {
    let s = setup();
    let kc = s.dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user:\n    token: {TOKEN}\n",
            s.api.url
        ),
    )
    .unwrap();
    let repo = s.repos.repo_arg();
    let kcs = kc.display().to_string();
    let run = common::lane(
        s.repos.source.path(),
        &[
            "verify",
            "--only",
            "argo",
            "--repo",
            &repo,
            "--kubeconfig",
            &kcs,
        ],
    );
    run.assert_code(3);
    assert!(run
        .error()
        .error
        .message
        .contains("insecure-skip-tls-verify"));
    assert!(!run.stdout.contains(TOKEN));
}

/// In a pod: no kubeconfig and no flags, only `KUBERNETES_SERVICE_HOST`/`_PORT` and the
/// service account's token and CA under /var/run/secrets/kubernetes.io/serviceaccount. That
/// directory is made for lane alone, in a private mount namespace (`unshare`, with a user
/// namespace when not root), so the test needs no change to the machine.
#[test]
fn the_pod_service_account_is_used_in_cluster() {
    let s = setup();
    let port = s.api.url.rsplit(':').next().unwrap().to_string();
    let sa = s.dir.path().join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::copy(&s.api.token_file, sa.join("token")).unwrap();
    std::fs::copy(s.api.pki.path("ca.pem"), sa.join("ca.crt")).unwrap();
    std::fs::write(sa.join("namespace"), "agentrun-v01").unwrap();
    let run_dir = std::fs::canonicalize("/var/run").unwrap();
    let home = common::tempdir();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);

    let mut cmd = std::process::Command::new(common::tools::require("unshare"));
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
        .args(["sh", "verify", "--repo", &s.repos.repo_arg()])
        .current_dir(s.repos.source.path())
        .env("RUN_DIR", &run_dir)
        .env("SA", &sa)
        .env("LANE", common::lane_bin())
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &port)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG");
    let run = common::Run::from(cmd.output().unwrap());
    run.assert_code(0);
    assert!(
        run.stderr.contains(&format!(
            "Kubernetes API https://127.0.0.1:{port} (in-cluster, "
        )),
        "{}",
        run.stderr
    );
    let doc: VerifyReport = run.report();
    assert_eq!(status(&doc, "live.images"), Status::Pass);
    assert_eq!(status(&doc, "argo.revision"), Status::Pass);
    assert_eq!(status(&doc, "tekton.pipelinerun"), Status::Pass);
    let log = s.api.requests();
    assert!(log.contains(" bearer 200"), "{log}");
    assert!(!log.contains(" none "), "{log}");
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    // The machine's own /var/run is untouched.
    assert!(!run_dir
        .join("secrets/kubernetes.io/serviceaccount/token")
        .exists());
}

// ---------------------------------------------------------------------------------------
// What the real-object review found (issue 20 §2): RBAC, API faults, Argo CD operations and
// multi-source Applications, init containers, image IDs, Tekton results and lists.

const APP: &str = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/agentrun-g14-v01";
const PIPELINE_RUNS: &str = "/apis/tekton.dev/v1/namespaces/agentrun-ci/pipelineruns";

fn log_lines(s: &Setup, needle: &str) -> Vec<String> {
    s.api
        .requests()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// The shipped RBAC with one resource taken out of every rule that names it.
fn rbac_without(resource: &str, verb: &str) -> Value {
    let mut rbac = common::kube::shipped_verify_rbac();
    for r in rbac["rules"].as_array_mut().unwrap() {
        let names_it = r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == resource);
        if names_it {
            let verbs: Vec<Value> = r["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| *v != verb)
                .cloned()
                .collect();
            if verbs.is_empty() {
                let rest: Vec<Value> = r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|x| *x != resource)
                    .cloned()
                    .collect();
                r["resources"] = json!(rest);
            } else {
                r["verbs"] = json!(verbs);
            }
        }
    }
    rbac
}

#[test]
fn the_shipped_verify_rbac_grants_everything_verify_reads() {
    let mut s = setup();
    s.cluster.set_rbac(common::kube::shipped_verify_rbac());
    s.apply();
    let run = s.verify(&[]);
    run.assert_code(0);
    let log = s.api.requests();
    assert!(!log.contains(" 403"), "a request was refused:\n{log}");
    // The tree's Roles and RoleBindings were read (live.source-commit), under that RBAC.
    assert!(
        log.contains("/apis/rbac.authorization.k8s.io/v1/namespaces/agentrun-v01/roles/"),
        "{log}"
    );
}

#[test]
fn a_missing_permission_is_a_failed_check_naming_verb_resource_and_namespace() {
    let mut s = setup();
    s.cluster.set_rbac(rbac_without("roles", "get"));
    s.apply();
    let run = s.verify(&[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "live.source-commit");
    assert_eq!(c.status, Status::Fail);
    let msg = &c.message;
    assert!(
        msg.contains("may not get roles (API group \"rbac.authorization.k8s.io\")")
            && msg.contains("in namespace agentrun-v01"),
        "{msg}"
    );
    let hint = c.hint.as_deref().unwrap();
    assert!(
        hint.contains(
            r#"apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["get"]"#
        ) && hint.contains("pipelines/rbac.yaml"),
        "{hint}"
    );
    assert_eq!(c.evidence["forbidden"][0]["verb"], "get");
    assert_eq!(c.evidence["forbidden"][0]["resource"], "roles");
    assert_eq!(c.evidence["forbidden"][0]["namespace"], "agentrun-v01");
    // Everything else was still judged.
    assert_eq!(status(&doc, "live.images"), Status::Pass);
    assert_eq!(status(&doc, "argo.revision"), Status::Pass);
    assert_eq!(status(&doc, "tekton.digests"), Status::Pass);
    assert_eq!(doc.summary.failed, ["live.source-commit"]);

    // Without `list` on pods, and without the Argo CD and Tekton reads: each check says what
    // was refused; still exit 1 with the one report.
    let mut rbac = rbac_without("pods", "list");
    for r in rbac["rules"].as_array_mut().unwrap() {
        if r["apiGroups"] == json!(["argoproj.io"]) || r["apiGroups"] == json!(["tekton.dev"]) {
            r["verbs"] = json!([]);
        }
    }
    s.cluster.set_rbac(rbac);
    s.apply();
    let run = s.verify(&[]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    for (id, want) in [
        ("live.images", "may not list pods (API group \"\") in namespace agentrun-v01"),
        (
            "argo.application",
            "may not get applications (API group \"argoproj.io\") \"agentrun-g14-v01\" in namespace argocd",
        ),
        (
            "argo.project-destinations",
            "may not get appprojects (API group \"argoproj.io\") \"agentrun-v01\" in namespace argocd",
        ),
        (
            "tekton.pipelinerun",
            "may not list pipelineruns (API group \"tekton.dev\") in namespace agentrun-ci",
        ),
    ] {
        let c = check(&doc, id);
        assert_eq!(c.status, Status::Fail, "{id}: {c:#?}");
        assert!(c.message.contains(want), "{id}: {c:#?}");
    }
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
}

#[test]
fn wait_stops_at_once_on_a_missing_permission() {
    let mut s = setup();
    s.cluster.set_rbac(rbac_without("deployments", "get"));
    s.apply();
    let start = std::time::Instant::now();
    let run = s.verify(&["--only", "live", "--wait", "60s"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let wait = doc.wait.as_ref().unwrap();
    assert!(!wait.satisfied);
    assert!(wait
        .stopped
        .as_deref()
        .unwrap()
        .contains("missing permission"));
    let c = check(&doc, "live.deployment.agentrun-mgr.rollout");
    assert!(c.message.contains(
        "may not get deployments (API group \"apps\") \"agentrun-mgr\" in namespace agentrun-v01"
    ));
}

#[test]
fn wait_retries_429_after_retry_after_and_5xx() {
    let mut s = setup();
    let synced = s.cluster.route(APP).clone();
    let status = |code: u16, reason: &str| {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("{reason} (injected)"), "reason": reason, "code": code})
    };
    *s.cluster.route(APP) = json!({"sequence": [
        {"status": 429, "body": status(429, "TooManyRequests"), "headers": {"Retry-After": "1"}},
        {"status": 503, "body": status(503, "ServiceUnavailable")},
        {"status": 500, "body": status(500, "InternalError")},
        synced
    ]});
    s.apply();
    let start = std::time::Instant::now();
    let run = s.verify(&["--only", "argo", "--wait", "30s"]);
    let took = start.elapsed();
    run.assert_code(0);
    assert!(run.report::<VerifyReport>().wait.unwrap().satisfied);
    let codes: Vec<String> = log_lines(&s, &format!("GET {APP} "))
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["429", "503", "500", "200"]);
    // Retry-After: 1 was honoured.
    assert!(took >= std::time::Duration::from_secs(1), "{took:?}");
    assert!(run.stderr.contains("HTTP 429"), "{}", run.stderr);
}

#[test]
fn a_throttled_api_past_the_wait_deadline_ends_at_the_deadline() {
    let mut s = setup();
    *s.cluster.route(APP) = json!({"status": 429, "headers": {"Retry-After": "3600"},
        "body": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": "too many requests", "reason": "TooManyRequests", "code": 429}});
    s.apply();
    let start = std::time::Instant::now();
    let run = s.verify(&["--only", "argo", "--wait", "2s"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    run.assert_code(3);
    let err = run.error().error;
    assert!(err.message.contains("HTTP 429"), "{err:?}");
    assert!(
        err.hint.as_deref().unwrap().contains("throttling"),
        "{err:?}"
    );
}

#[test]
fn wait_retries_an_answer_slower_than_the_request_timeout() {
    let mut s = setup();
    let synced = s.cluster.route(APP).clone();
    let mut slow = synced.clone();
    slow["delay"] = json!(3);
    *s.cluster.route(APP) = json!({"sequence": [slow, synced]});
    s.apply();
    let run = s.verify(&["--only", "argo", "--wait", "30s", "--request-timeout", "1s"]);
    run.assert_code(0);
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
}

#[test]
fn a_sync_operation_running_failed_or_in_error_does_not_pass() {
    for phase in ["Running", "Failed", "Error"] {
        let mut s = setup();
        let app = s.cluster.app();
        app["status"]["operationState"]["phase"] = json!(phase);
        app["status"]["operationState"]["message"] =
            json!(format!("one or more objects failed to apply ({phase})"));
        s.apply();
        let run = s.verify(&["--only", "argo"]);
        run.assert_code(1);
        let doc: VerifyReport = run.report();
        let c = check(&doc, "argo.operation");
        assert_eq!(c.status, Status::Fail, "{phase}: {c:#?}");
        assert!(c.message.contains(phase), "{c:#?}");
        assert_eq!(c.evidence["operationPhase"], phase);
        // Synced, Healthy and at the head: only the operation says it is not done.
        assert_eq!(doc.summary.failed, ["argo.operation"]);
    }
}

#[test]
fn a_multi_source_application_is_judged_by_its_lane_source() {
    let mut s = setup();
    let head = s.repos.gitops_head.clone();
    let other = "9".repeat(40);
    let app = s.cluster.app();
    let lane_src = app["spec"]["source"].clone();
    let values = json!({"repoURL": "https://git.example/values.git", "targetRevision": "main", "ref": "values"});
    app["spec"].as_object_mut().unwrap().remove("source");
    app["spec"]["sources"] = json!([values, lane_src]);
    let sync = app["status"]["sync"].as_object_mut().unwrap();
    sync.remove("revision");
    sync.insert("revisions".into(), json!([other, head]));
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    assert_eq!(
        check(&doc, "argo.revision").evidence["syncRevision"],
        head.as_str()
    );
    assert_eq!(check(&doc, "argo.source").evidence["sourceIndex"], 1);

    // The lane's source behind the head fails; a second source that renders manifests too.
    let app = s.cluster.app();
    app["status"]["sync"]["revisions"] = json!([head, other]);
    app["spec"]["sources"][0]["path"] = json!("extra");
    s.apply();
    let run = s.verify(&["--only", "argo"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    assert!(check(&doc, "argo.revision").message.contains(&other));
    assert!(check(&doc, "argo.source")
        .message
        .contains("spec.sources[0]"));
}

/// Give every mgr pod one init container with `image_id`, named `name`.
fn add_init_container(s: &mut Setup, name: &str, image_id: &str) {
    for p in s.cluster.pods().iter_mut() {
        let image = p["spec"]["containers"][0]["image"].clone();
        p["spec"]["initContainers"] = json!([{"name": name, "image": image}]);
        p["status"]["initContainerStatuses"] = json!([{
            "name": name, "ready": true, "restartCount": 0, "started": false,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": common::kube::TS, "finishedAt": common::kube::TS}},
            "lastState": {}, "image": image, "imageID": image_id,
            "containerID": "containerd://0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
        }]);
    }
}

/// Put an init container `name` running the catalog image into the GitOps tree's mgr
/// Deployment (the tree is JSON, which is YAML).
fn tree_with_init_container(s: &mut Setup, name: &str) {
    let file = s
        .repos
        .tree
        .iter()
        .find(|(_, t)| t.contains("kind: \"Deployment\"") || t.contains("kind: Deployment"))
        .map(|(f, _)| f.clone())
        .expect("a Deployment in the tree");
    let mut d: Value = serde_saphyr::from_str(&s.repos.tree[&file]).unwrap();
    let img = d["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    d["spec"]["template"]["spec"]["initContainers"] = json!([{"name": name, "image": img}]);
    let path = format!("{}/{file}", common::kube::RUNTIME_PATH);
    let text = serde_json::to_string_pretty(&d).unwrap();
    s.repos
        .gitops_commit(|dir| std::fs::write(dir.join(path), text).unwrap());
}

#[test]
fn init_containers_are_judged_by_their_digest() {
    let mut s = setup();
    tree_with_init_container(&mut s, "migrate");
    let old = image("agentrun-mgr", 'c');
    add_init_container(&mut s, "migrate", &old);
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "live.images");
    let msg = &c.message;
    assert!(
        msg.contains("init container migrate runs") && msg.contains(&digest('c')),
        "{msg}"
    );

    add_init_container(&mut s, "migrate", &image("agentrun-mgr", 'a'));
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(0);
    let ev = check(&run.report(), "live.images").evidence.to_string();
    assert!(
        ev.contains("\"init\":true") && ev.contains("\"judged\":true"),
        "{ev}"
    );

    // An init container the tree does not have is not waved through.
    add_init_container(&mut s, "injected", &image("agentrun-mgr", 'a'));
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    assert!(check(&run.report(), "live.images")
        .message
        .contains("init container injected is not in the runtime tree"));
}

#[test]
fn a_container_of_another_repository_is_judged_by_digest() {
    let mut s = setup();
    let old = digest('c');
    let mirror = format!("mirror.example:5000/agentrun/agentrun-mgr@{old}");
    for p in s.cluster.pods().iter_mut() {
        p["spec"]["containers"][0]["image"] = json!(mirror);
        p["status"]["containerStatuses"][0]["image"] = json!(mirror);
        p["status"]["containerStatuses"][0]["imageID"] = json!(mirror);
    }
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let msg = check(&run.report(), "live.images").message.to_string();
    assert!(
        msg.contains(&old) && msg.contains("names another repository"),
        "{msg}"
    );

    // The same reference running the catalog's digest passes: the bytes are what count.
    let same = format!("mirror.example:5000/agentrun/agentrun-mgr@{}", digest('a'));
    for p in s.cluster.pods().iter_mut() {
        p["spec"]["containers"][0]["image"] = json!(same);
        p["status"]["containerStatuses"][0]["imageID"] = json!(same);
    }
    s.apply();
    s.verify(&["--only", "live"]).assert_code(0);
}

#[test]
fn an_image_id_without_a_registry_digest_is_reported_as_such() {
    let mut s = setup();
    // containerd's answer for an image imported on the node: the config digest alone.
    let local = format!("sha256:{}", "d".repeat(64));
    for p in s.cluster.pods().iter_mut() {
        p["status"]["containerStatuses"][0]["imageID"] = json!(local);
    }
    s.apply();
    let run = s.verify(&["--only", "live"]);
    run.assert_code(1);
    let c = check(&run.report(), "live.images").clone();
    let msg = &c.message;
    assert!(msg.contains("without a registry digest"), "{msg}");
    assert!(!msg.contains(" runs sha256"), "{msg}");
    assert!(
        c.hint.as_deref().unwrap().contains("locally loaded"),
        "{c:#?}"
    );
}

#[test]
fn tekton_results_are_whitespace_trimmed_as_chains_does() {
    let mut s = setup();
    let name = format!("agentrun-v01-ci-{}-x7k2p-publish", &s.repos.commit[..12]);
    let tr = s.cluster.body(&format!(
        "/apis/tekton.dev/v1/namespaces/agentrun-ci/taskruns/{name}"
    ));
    let mut results = Vec::new();
    for (svc, c, prefix) in [
        ("agentrun-mgr", 'a', "MGR_"),
        ("agentrun-runner", 'b', "RUNNER_"),
    ] {
        let pinned = image(svc, c);
        let (url, dig) = pinned.split_once('@').unwrap();
        results.push(json!({"name": format!("{prefix}IMAGE_URL"), "type": "string", "value": format!(" {url}\n")}));
        results.push(json!({"name": format!("{prefix}IMAGE_DIGEST"), "type": "string", "value": format!("{dig}\n")}));
    }
    tr["status"]["results"] = json!(results);
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(0);
    let c = check(&run.report(), "tekton.digests").clone();
    assert_eq!(c.evidence["matched"].as_array().unwrap().len(), 2, "{c:#?}");
}

#[test]
fn pipelineruns_are_listed_by_label_in_pages() {
    let mut s = setup();
    // 2,800 runs of other commits, ~6 KB each: more than one 16 MiB answer can hold.
    let template = s.cluster.pipeline_run_list()[0].clone();
    let pad = "x".repeat(5600);
    let mut many = Vec::new();
    for i in 0..2800 {
        let mut pr = template.clone();
        pr["metadata"]["name"] = json!(format!("agentrun-v01-ci-{:012x}-r{i:04}", i));
        pr["metadata"]["annotations"] = json!({"lane.test/padding": pad});
        many.push(pr);
    }
    let list = s.cluster.pipeline_run_list();
    many.append(list);
    *list = many;
    s.apply();
    let size = std::fs::metadata(&s.api.routes).unwrap().len();
    assert!(size > 16 * 1024 * 1024, "{size}");
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(0);
    assert!(
        check(&run.report(), "tekton.pipelinerun").evidence["pipelineRun"]
            .as_str()
            .unwrap()
            .ends_with("-x7k2p")
    );
    let lists = log_lines(&s, &format!("GET {PIPELINE_RUNS}?"));
    assert!(lists.len() > 1, "{lists:?}");
    for l in &lists {
        assert!(
            l.contains("limit=")
                && l.contains(
                    "labelSelector=tekton.dev%2Fpipeline%3Dagentrun-v01-ci-image-publish"
                ),
            "{l}"
        );
    }
    assert!(
        lists.iter().skip(1).all(|l| l.contains("continue=")),
        "{lists:?}"
    );
}

#[test]
fn a_page_over_the_answer_limit_is_asked_for_again_in_smaller_pages() {
    let mut s = setup();
    // 48 runs of ~400 KB (huge results or embedded specs): a page of 100 is ~19 MB.
    let template = s.cluster.pipeline_run_list()[0].clone();
    let pad = "y".repeat(400 * 1024);
    let mut big = Vec::new();
    for i in 0..48 {
        let mut pr = template.clone();
        pr["metadata"]["name"] = json!(format!("agentrun-v01-ci-{:012x}-b{i:02}", i));
        pr["metadata"]["annotations"] = json!({"lane.test/padding": pad});
        big.push(pr);
    }
    let list = s.cluster.pipeline_run_list();
    big.append(list);
    *list = big;
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(0);
    let limits: Vec<String> = log_lines(&s, &format!("GET {PIPELINE_RUNS}?"))
        .iter()
        .map(|l| {
            l.split("limit=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        limits.first().map(String::as_str),
        Some("100"),
        "{limits:?}"
    );
    assert!(limits.iter().skip(1).all(|l| l == "25"), "{limits:?}");
}

#[test]
fn pruned_taskruns_are_reported_as_pruned() {
    let mut s = setup();
    let name = format!("agentrun-v01-ci-{}-x7k2p-publish", &s.repos.commit[..12]);
    s.cluster.routes.remove(&format!(
        "/apis/tekton.dev/v1/namespaces/agentrun-ci/taskruns/{name}"
    ));
    s.apply();
    let run = s.verify(&["--only", "tekton"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "tekton.digests");
    let msg = &c.message;
    assert!(msg.contains(&format!("{name} were pruned")), "{msg}");
    assert!(!msg.contains("do not name it"), "{msg}");
    assert_eq!(c.evidence["prunedTaskRuns"], json!([name]));
    assert!(c.hint.as_deref().unwrap().contains("pruner"), "{c:#?}");
    assert_eq!(status(&doc, "tekton.pipelinerun"), Status::Pass);
}

#[test]
fn wait_asks_argo_cd_to_refresh_when_it_is_behind() {
    let mut s = setup();
    s.cluster.set_rbac(common::kube::shipped_verify_rbac());
    let synced = s.cluster.body(APP).clone();
    let app = s.cluster.app();
    app["status"]["sync"]["revision"] = json!("4".repeat(40));
    // Argo CD moves to the head only once asked: its own poll is minutes away.
    s.cluster.route(APP)["afterPatch"] = synced;
    s.apply();
    let start = std::time::Instant::now();
    let run = s.verify(&["--only", "argo", "--wait", "60s"]);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    assert_eq!(doc.wait.as_ref().unwrap().argo_refreshes, 1);
    let patches = log_lines(&s, "PATCH ");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(
        patches[0].starts_with(&format!("PATCH {APP} bearer 200"))
            && patches[0].contains(
                r#"{"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}"#
            ),
        "{patches:?}"
    );

    // Without the patch permission verify still waits, and says why it could not ask.
    let mut s = setup();
    s.cluster.set_rbac(rbac_without("applications", "patch"));
    s.cluster.app()["status"]["sync"]["revision"] = json!("4".repeat(40));
    s.apply();
    let run = s.verify(&["--only", "argo", "--wait", "1s"]);
    run.assert_code(1);
    let w = run.report::<VerifyReport>().wait.unwrap();
    assert_eq!(w.argo_refreshes, 0);
    assert!(
        w.argo_refresh_problem
            .as_deref()
            .unwrap()
            .contains("may not patch applications"),
        "{w:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The real cluster of scripts/cluster.sh (`eval "$(scripts/cluster.sh env)"`): verify under
// real RBAC with the token of the identity pipelines/rbac.yaml ships. A lane of its own
// (v9.7: namespace agentrun-v97, ServiceAccount agentrun-v97-tekton-runner) so that it never
// touches the e2e's agentrun-v01. Without the cluster's environment each test says it skipped.

use common::realcluster::{Created, RealCluster};

fn real_cluster(test: &str) -> Option<RealCluster> {
    RealCluster::from_env(&format!("verify_cluster::{test}"))
}

/// deploy.json of lane v9.7 (the shipped one with every v0.1 name moved).
fn deploy_v97() -> String {
    std::fs::read_to_string(common::shipped_deploy())
        .unwrap()
        .replace("agentrun-v01", "agentrun-v97")
        .replace("\"v0.1\"", "\"v9.7\"")
}

/// Lane v9.7 on the real cluster: its namespace holding the runtime tree's objects (no pod
/// started), the verify identity of its generated pipelines/rbac.yaml, and that identity's
/// token.
struct RealSetup<'a> {
    repos: LaneRepos,
    rbac: String,
    generated: std::path::PathBuf,
    token_file: std::path::PathBuf,
    cleanup: Created<'a>,
    _dir: tempfile::TempDir,
    // Dropped last (fields drop in order), after the cleanup: the tests share lane v9.7, so
    // they run one at a time.
    _serial: std::sync::MutexGuard<'static, ()>,
}

static REAL_LANE: std::sync::Mutex<()> = std::sync::Mutex::new(());

const REAL_NS: &str = "agentrun-v97";

fn real_setup(k: &RealCluster) -> RealSetup<'_> {
    real_setup_with(k, |d| d, true)
}

/// `edit` changes lane v9.7's deploy.json; `apply_tree`: apply the runtime tree with kubectl
/// (otherwise Argo CD is to apply it).
fn real_setup_with(
    k: &RealCluster,
    edit: impl FnOnce(String) -> String,
    apply_tree: bool,
) -> RealSetup<'_> {
    let serial = REAL_LANE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::tempdir();
    let deploy = edit(deploy_v97());
    let deploy_file = dir.path().join("deploy.json");
    std::fs::write(&deploy_file, &deploy).unwrap();
    let repos = LaneRepos::with_deploy(&deploy);
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
    let rbac = std::fs::read_to_string(generated.join("pipelines/rbac.yaml")).unwrap();
    let ns = REAL_NS;
    // A namespace a previous run left Terminating refuses new objects: start from none.
    let gone = k.kubectl(
        &[
            "delete",
            "namespace",
            ns,
            "--ignore-not-found",
            "--timeout=180s",
        ],
        None,
    );
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    let cleanup = Created {
        cluster: k,
        manifests: vec![rbac.clone()],
        namespaces: vec![ns.into()],
    };
    for n in [ns, "agentrun-ci"] {
        k.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}\n"
        ));
    }
    k.apply(&rbac);
    // The runtime tree's objects, as Argo CD would apply them; no pod is started (replicas 0)
    // since only their labels and the RBAC are under test here.
    for (file, text) in repos.tree.iter().filter(|_| apply_tree) {
        if file == "kustomization.yaml" {
            continue;
        }
        for mut v in serde_saphyr::from_multiple::<Value>(text).unwrap() {
            if v.get("kind").is_none() {
                continue;
            }
            if v["kind"] == "Deployment" {
                v["spec"]["replicas"] = json!(0);
            }
            if v["kind"] == "CronJob" {
                v["spec"]["suspend"] = json!(true);
            }
            let run = k.kubectl(
                &["apply", "-n", ns, "-f", "-"],
                Some(&serde_json::to_string(&v).unwrap()),
            );
            assert_eq!(run.code, 0, "kubectl apply {file}: {}", run.stderr);
        }
    }
    let token = k.kubectl(
        &[
            "create",
            "token",
            "agentrun-v97-tekton-runner",
            "-n",
            "agentrun-ci",
            "--duration",
            "10m",
        ],
        None,
    );
    assert_eq!(token.code, 0, "{}", token.stderr);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, token.stdout.trim()).unwrap();
    RealSetup {
        repos,
        rbac,
        generated,
        token_file,
        cleanup,
        _dir: dir,
        _serial: serial,
    }
}

impl RealSetup<'_> {
    fn verify(&self, k: &RealCluster, extra: &[&str]) -> common::Run {
        let repo = self.repos.repo_arg();
        let mut args = vec![
            "verify",
            "--repo",
            repo.as_str(),
            "--api-server",
            &k.api_server,
            "--token-file",
            self.token_file.to_str().unwrap(),
            "--ca-file",
            &k.ca_file,
        ];
        args.extend_from_slice(extra);
        common::lane(self.repos.source.path(), &args)
    }
}

/// No check failed for a refused request.
fn nothing_refused(doc: &VerifyReport) {
    for c in &doc.checks {
        assert!(
            c.evidence
                .get("forbidden")
                .is_none_or(|f| f.as_array().is_some_and(|a| a.is_empty())),
            "refused: {c:#?}"
        );
    }
}

#[test]
fn real_cluster_the_shipped_identity_reads_everything_and_a_missing_permission_names_it() {
    let Some(k) = real_cluster(
        "real_cluster_the_shipped_identity_reads_everything_and_a_missing_permission_names_it",
    ) else {
        return;
    };
    let s = real_setup(&k);
    let verify = || s.verify(&k, &["--only", "live,argo,tekton"]);

    // The shipped identity is refused nothing: every object of the tree is read, and what
    // fails fails for what it found (no pods, no Application, no PipelineRun here).
    let mut last = None;
    for _ in 0..20 {
        let run = verify();
        assert!(run.code == 0 || run.code == 1, "{run:?}");
        let doc: VerifyReport = run.report();
        let passed = status(&doc, "live.source-commit") == Status::Pass;
        last = Some(doc);
        if passed {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let doc = last.unwrap();
    nothing_refused(&doc);
    assert_eq!(status(&doc, "live.namespace"), Status::Pass, "{doc:#?}");
    assert_eq!(status(&doc, "live.source-commit"), Status::Pass, "{doc:#?}");
    let read = check(&doc, "live.source-commit").evidence["objects"].to_string();
    assert!(
        read.contains("\"Role/") && read.contains("\"RoleBinding/"),
        "{read}"
    );

    // The verify Role without `roles`: exit 1, the check names the verb, the resource with
    // its group, and the namespace.
    let without_roles = s.rbac.replace(
        "resources: [\"roles\", \"rolebindings\"]",
        "resources: [\"rolebindings\"]",
    );
    assert_ne!(
        without_roles, s.rbac,
        "the shipped verify Role grants roles"
    );
    k.apply(&without_roles);
    let mut last = None;
    for _ in 0..20 {
        let run = verify();
        let msg = check(&run.report(), "live.source-commit").message.clone();
        if msg.contains("may not get roles (API group \"rbac.authorization.k8s.io\")") {
            run.assert_code(1);
            assert!(msg.contains("in namespace agentrun-v97"), "{msg}");
            last = Some(run);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let run = last.expect("the API server never refused `get roles` after the Role lost it");
    let doc: VerifyReport = run.report();
    assert!(check(&doc, "live.source-commit")
        .hint
        .as_deref()
        .unwrap()
        .contains(r#"resources: ["roles"], verbs: ["get"]"#));
    assert_eq!(status(&doc, "live.namespace"), Status::Pass);
}

/// The generated AppProject and Application of lane v9.7, the Application pointed at a
/// loopback port that refuses (nothing leaves the machine) and without automated sync: Argo CD
/// never reaches the GitOps head, so `--wait` finds it behind.
fn real_argo_objects(s: &RealSetup) -> (String, String) {
    let proj = std::fs::read_to_string(s.generated.join("gitops/appproject.yaml")).unwrap();
    let app = std::fs::read_to_string(s.generated.join("gitops/application.yaml")).unwrap();
    let mut app: Value = serde_saphyr::from_str(&app).unwrap();
    app["spec"]["source"]["repoURL"] = json!("http://127.0.0.1:9/agentrun.git");
    app["spec"].as_object_mut().unwrap().remove("syncPolicy");
    let mut proj: Value = serde_saphyr::from_str(&proj).unwrap();
    proj["spec"]["sourceRepos"] = json!(["http://127.0.0.1:9/agentrun.git"]);
    (
        serde_json::to_string(&proj).unwrap(),
        serde_json::to_string(&app).unwrap(),
    )
}

#[test]
fn real_cluster_wait_asks_argo_cd_to_refresh_and_the_appproject_keeps_its_ignore_list() {
    let Some(k) = real_cluster(
        "real_cluster_wait_asks_argo_cd_to_refresh_and_the_appproject_keeps_its_ignore_list",
    ) else {
        return;
    };
    let mut s = real_setup(&k);
    let (proj, app) = real_argo_objects(&s);
    s.cleanup.manifests.push(app.clone());
    s.cleanup.manifests.push(proj.clone());
    k.apply(&proj);
    k.apply(&app);

    // Argo CD's CRD keeps the orphaned-resources ignore list as generated (a structural
    // schema would drop fields it does not know).
    let got = k.kubectl(
        &[
            "get",
            "appproject",
            "agentrun-v97",
            "-n",
            "argocd",
            "-o",
            "json",
        ],
        None,
    );
    assert_eq!(got.code, 0, "{}", got.stderr);
    let got: Value = serde_json::from_str(&got.stdout).unwrap();
    let names: Vec<String> = got["spec"]["orphanedResources"]["ignore"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "Role/agentrun-v97-tekton-runner-verify",
            "RoleBinding/agentrun-v97-tekton-runner-verify",
            "Secret/agentrun-v97-codex",
            "Secret/agentrun-v97-postgres",
        ]
    );

    // Behind the head: verify patches the refresh annotation, which the shipped identity may.
    let run = s.verify(&k, &["--only", "argo", "--wait", "3s"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    nothing_refused(&doc);
    let wait = doc.wait.as_ref().unwrap();
    assert!(wait.argo_refreshes >= 1, "{wait:#?}");
    assert!(wait.argo_refresh_problem.is_none(), "{wait:#?}");
    assert_eq!(status(&doc, "argo.application"), Status::Pass, "{doc:#?}");
    assert_eq!(
        status(&doc, "argo.project-destinations"),
        Status::Pass,
        "{doc:#?}"
    );

    // Without `patch` the real API server refuses it; verify says so and still reports.
    let without_patch = s
        .rbac
        .replace("verbs: [\"get\", \"patch\"]", "verbs: [\"get\"]");
    assert_ne!(without_patch, s.rbac);
    k.apply(&without_patch);
    let mut problem = String::new();
    for _ in 0..20 {
        let run = s.verify(&k, &["--only", "argo", "--wait", "1s"]);
        run.assert_code(1);
        problem = verify_doc(&run)
            .and_then(|d| d.report.wait)
            .and_then(|w| w.argo_refresh_problem)
            .unwrap_or_default();
        if !problem.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(
        problem.contains("may not patch applications (API group \"argoproj.io\") \"agentrun-g14-v97\" in namespace argocd"),
        "{problem}"
    );
}

/// A gitops commit Argo CD can make Healthy without the lane's images: no pod (replicas 0)
/// and no volume claim (local-path binds one only for a pod).
fn podless_tree(s: &mut RealSetup, marker: &str) -> String {
    let rt = s.repos.runtime_path.clone();
    let marker = marker.to_string();
    s.repos.gitops_commit(|dir| {
        let root = dir.join(&rt);
        let mut files: Vec<String> = Vec::new();
        for e in std::fs::read_dir(&root).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name == "kustomization.yaml" {
                continue;
            }
            let text = std::fs::read_to_string(root.join(&name)).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple::<Value>(&text).unwrap();
            if docs.iter().any(|d| d["kind"] == "PersistentVolumeClaim") {
                std::fs::remove_file(root.join(&name)).unwrap();
                continue;
            }
            if let Some(mut d) = docs.into_iter().find(|d| d["kind"] == "Deployment") {
                d["spec"]["replicas"] = json!(0);
                d["metadata"]["annotations"]["lane.test/marker"] = json!(marker);
                std::fs::write(root.join(&name), serde_json::to_string_pretty(&d).unwrap())
                    .unwrap();
            }
            files.push(name);
        }
        files.sort();
        let k = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{}",
            files.iter().map(|f| format!("- {f}\n")).collect::<String>()
        );
        std::fs::write(root.join("kustomization.yaml"), k).unwrap();
    })
}

/// Mirror the lane's origin (source and GitOps branches) into the daemon's repository.
fn mirror(daemon_repo: &std::path::Path) {
    run_git(
        daemon_repo,
        &["fetch", "-q", "origin", "+refs/heads/*:refs/heads/*"],
    );
}

#[test]
fn real_cluster_argo_cd_syncs_the_gitops_branch_and_verify_judges_it() {
    let Some(k) = real_cluster("real_cluster_argo_cd_syncs_the_gitops_branch_and_verify_judges_it")
    else {
        return;
    };
    // The GitOps repository as Argo CD's repo-server reaches it: a git daemon on loopback.
    let daemon = common::gitd::GitDaemon::start();
    let url = format!("git://127.0.0.1:{}/lane.git", daemon.port);
    let with_url = url.clone();
    let mut s = real_setup_with(
        &k,
        move |d| {
            let mut v: Value = serde_json::from_str(&d).unwrap();
            v["lane"]["gitopsRepo"] = json!(with_url);
            serde_json::to_string_pretty(&v).unwrap()
        },
        false,
    );
    let head = podless_tree(&mut s, "1");
    let repo = daemon.base.join("lane.git");
    run_git(
        daemon.base.as_path(),
        &[
            "clone",
            "-q",
            "--bare",
            s.repos.remote.1.to_str().unwrap(),
            "lane.git",
        ],
    );
    let proj = std::fs::read_to_string(s.generated.join("gitops/appproject.yaml")).unwrap();
    let app = std::fs::read_to_string(s.generated.join("gitops/application.yaml")).unwrap();
    assert!(app.contains(&url), "{app}");
    s.cleanup.manifests.push(app.clone());
    s.cleanup.manifests.push(proj.clone());
    k.apply(&proj);
    k.apply(&app);

    // Argo CD syncs it: verify's Argo group passes on the real Application's status.
    let run = s.verify(&k, &["--only", "argo", "--wait", "150s"]);
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    nothing_refused(&doc);
    assert_eq!(
        check(&doc, "argo.revision").evidence["syncRevision"],
        head.as_str()
    );
    assert_eq!(
        check(&doc, "argo.operation").evidence["operationPhase"],
        "Succeeded"
    );
    // The fake API's Application (tests/common/kube.rs) has the shape of this real one: every
    // field it serves under status is where the real Argo CD puts it.
    let real = k.kubectl(
        &[
            "get",
            "application",
            "agentrun-g14-v97",
            "-n",
            "argocd",
            "-o",
            "json",
        ],
        None,
    );
    let real: Value = serde_json::from_str(&real.stdout).unwrap();
    let fake = s.repos.healthy_cluster().app().clone();
    let real_paths = key_paths(&real["status"], "");
    let missing: Vec<String> = key_paths(&fake["status"], "")
        .into_iter()
        .filter(|p| !real_paths.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "the fake Application has status fields the real one lacks: {missing:?}\nreal: {:#}",
        real["status"]
    );

    // Orphaned resources: the verify Role and RoleBinding (from pipelines/rbac.yaml, in the
    // namespace already) and the Secrets the operator creates are ignored; anything else in
    // the namespace is reported.
    for secret in ["agentrun-v97-postgres", "agentrun-v97-codex"] {
        k.apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\n  namespace: {REAL_NS}\nstringData:\n  k: v\n"
        ));
    }
    let orphan_warning = || {
        argo_conditions_after_refresh(&k, "agentrun-g14-v97")
            .into_iter()
            .find(|c| c["type"] == "OrphanedResourceWarning")
    };
    assert_eq!(orphan_warning(), None);
    k.apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: {REAL_NS}\n"
    ));
    let warning = orphan_warning().expect("a ConfigMap the Application does not own is reported");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("1 orphaned resource"),
        "{warning}"
    );
    let deleted = k.kubectl(&["delete", "configmap", "stray", "-n", REAL_NS], None);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);

    // A new GitOps head: verify asks Argo CD to refresh instead of waiting for its poll.
    let head2 = podless_tree(&mut s, "2");
    mirror(&repo);
    let start = std::time::Instant::now();
    let run = s.verify(&k, &["--only", "argo", "--wait", "120s"]);
    let took = start.elapsed();
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    let wait = doc.wait.as_ref().unwrap();
    assert!(wait.argo_refreshes >= 1, "{wait:#?}");
    assert_eq!(
        check(&doc, "argo.revision").evidence["syncRevision"],
        head2.as_str()
    );
    eprintln!("verify_cluster: Argo CD at the new GitOps head after {took:?} (refresh asked)");

    // The same Application with two sources (the lane's path and a ref-only one): judged by
    // the lane source's entry of status.sync.revisions.
    let mut multi: Value = serde_saphyr::from_str(&app).unwrap();
    let lane_src = multi["spec"]["source"].clone();
    multi["spec"].as_object_mut().unwrap().remove("source");
    multi["spec"]["sources"] = json!([
        {"repoURL": url, "targetRevision": s.repos.gitops_branch, "ref": "values"},
        lane_src
    ]);
    k.apply(&serde_json::to_string(&multi).unwrap());
    let mut doc = None;
    for _ in 0..60 {
        let run = s.verify(&k, &["--only", "argo", "--wait", "60s"]);
        doc = verify_doc(&run);
        if run.code == 0
            && check(
                &doc.as_ref()
                    .expect("exit 0 prints the verify document")
                    .report,
                "argo.revision",
            )
            .evidence["syncRevisions"]
                .is_array()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let doc = doc.expect("a verify document").report;
    assert_eq!(doc.summary.fail, 0, "{doc:#?}");
    assert_eq!(
        check(&doc, "argo.source").evidence["sourceIndex"],
        1,
        "{doc:#?}"
    );
    assert_eq!(
        check(&doc, "argo.revision").evidence["syncRevision"],
        head2.as_str()
    );

    // Automated sync off and a new head: Argo CD compares it (after the refresh) but still
    // runs the older revision. Not the release.
    let mut manual: Value = serde_saphyr::from_str(&app).unwrap();
    manual["spec"].as_object_mut().unwrap().remove("syncPolicy");
    k.apply(&serde_json::to_string(&manual).unwrap());
    let head3 = podless_tree(&mut s, "3");
    mirror(&repo);
    let mut last = None;
    for _ in 0..30 {
        let run = s.verify(&k, &["--only", "argo", "--wait", "20s"]);
        let doc: VerifyReport = run.report();
        let at_head3 = check(&doc, "argo.revision").evidence["syncRevision"] == head3.as_str();
        last = Some(doc);
        if at_head3 {
            run.assert_code(1);
            break;
        }
    }
    let doc = last.unwrap();
    let rev = check(&doc, "argo.revision");
    assert_eq!(rev.status, Status::Fail, "{doc:#?}");
    assert!(
        rev.message.contains(&format!(
            "compares the GitOps head {head3} but last applied {head2}"
        )),
        "{rev:#?}"
    );
    assert_eq!(status(&doc, "argo.sync"), Status::Fail, "{doc:#?}");

    // A hand-edited live object with self-heal off: Argo CD synced the head, then someone
    // changed a ConfigMap of the tree by hand. Argo CD reports OutOfSync; verify fails.
    let mut no_heal: Value = serde_saphyr::from_str(&app).unwrap();
    no_heal["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(false);
    k.apply(&serde_json::to_string(&no_heal).unwrap());
    let run = s.verify(&k, &["--only", "argo", "--wait", "120s"]);
    run.assert_code(0);
    let cms = k.kubectl(
        &[
            "get",
            "configmap",
            "-n",
            REAL_NS,
            "-l",
            "app.kubernetes.io/managed-by=lane",
            "-o",
            "name",
        ],
        None,
    );
    let cm = cms
        .stdout
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no ConfigMap of the tree in {REAL_NS}: {}", cms.stderr))
        .to_string();
    // A value the tree sets (Argo CD's diff leaves keys it never set alone).
    let live = k.kubectl(&["get", &cm, "-n", REAL_NS, "-o", "json"], None);
    let live: Value = serde_json::from_str(&live.stdout).unwrap();
    let key = live["data"]
        .as_object()
        .and_then(|d| d.keys().next().cloned())
        .unwrap_or_else(|| panic!("{cm} has no data: {live:#}"));
    let patch = json!({"data": {key: "edited by hand"}}).to_string();
    let edited = k.kubectl(
        &["patch", &cm, "-n", REAL_NS, "--type", "merge", "-p", &patch],
        None,
    );
    assert_eq!(edited.code, 0, "{}", edited.stderr);
    let mut doc = None;
    for _ in 0..30 {
        let run = s.verify(&k, &["--only", "argo"]);
        doc = verify_doc(&run);
        if run.code == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let doc = doc.expect("a verify document");
    assert_eq!(status(&doc.report, "argo.sync"), Status::Fail, "{doc:#?}");
    assert!(
        check(&doc.report, "argo.sync")
            .message
            .contains("OutOfSync"),
        "{doc:#?}"
    );
    assert!(!doc.ok, "{doc:#?}");

    // A GitOps head Argo CD cannot apply (a container port out of range, refused by the API
    // server's validation): the sync operation fails, and verify does not pass it.
    k.apply(&app);
    let rt = s.repos.runtime_path.clone();
    s.repos.gitops_commit(|dir| {
        let root = dir.join(&rt);
        for e in std::fs::read_dir(&root).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            if text.contains("\"kind\": \"Deployment\"") {
                let mut d: Value = serde_json::from_str(&text).unwrap();
                d["spec"]["template"]["spec"]["containers"][0]["ports"] =
                    json!([{"name": "http", "containerPort": 70000}]);
                std::fs::write(&p, serde_json::to_string_pretty(&d).unwrap()).unwrap();
            }
        }
    });
    mirror(&repo);
    let run = s.verify(&k, &["--only", "argo", "--wait", "20s"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    let op = check(&doc, "argo.operation");
    assert_eq!(op.status, Status::Fail, "{doc:#?}");
    // Argo CD retries a failed sync (phase Running with the failure in its message) and then
    // gives up (Failed): neither passes.
    let phase = op.evidence["operationPhase"].as_str().unwrap();
    assert!(["Running", "Failed", "Error"].contains(&phase), "{op:#?}");
    assert!(op.message.contains("containerPort"), "{op:#?}");
    drop(daemon);
}

/// Paths of every object member under `v`, an array's elements all standing at `*`.
fn key_paths(v: &Value, at: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{at}/{k}");
                out.insert(p.clone());
                out.extend(key_paths(c, &p));
            }
        }
        Value::Array(a) => {
            for e in a {
                out.extend(key_paths(e, &format!("{at}/*")));
            }
        }
        _ => {}
    }
    out
}

#[test]
fn real_cluster_running_containers_and_init_containers_are_judged_by_digest() {
    let Some(k) =
        real_cluster("real_cluster_running_containers_and_init_containers_are_judged_by_digest")
    else {
        return;
    };
    let Ok(busybox) = std::env::var("LANE_CLUSTER_BUSYBOX_IMAGE") else {
        eprintln!("verify_cluster: skipped (LANE_CLUSTER_BUSYBOX_IMAGE unset)");
        return;
    };
    let s = real_setup(&k);
    // The tree's name for the service's container.
    let deployment = s
        .repos
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    let cname = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A pod of the service, as the kubelet reports it, running the cluster's busybox (another
    // repository and digest than the catalog's) with an init container.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agentrun-mgr-real", "namespace": REAL_NS,
                     "labels": {"lane.dev/service": "agentrun-mgr"}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534},
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "initContainers": [{"name": "setup", "image": busybox, "command": ["true"]}],
            "containers": [{"name": cname, "image": busybox, "command": ["sleep", "3600"]}]
        }
    });
    k.apply(&serde_json::to_string(&pod).unwrap());
    let start = std::time::Instant::now();
    loop {
        let phase = k.kubectl(
            &[
                "get",
                "pod",
                "agentrun-mgr-real",
                "-n",
                REAL_NS,
                "-o",
                "jsonpath={.status.phase}",
            ],
            None,
        );
        if phase.stdout == "Running" {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "pod not Running: {}",
            phase.stdout
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let run = s.verify(&k, &["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    nothing_refused(&doc);
    let c = check(&doc, "live.images");
    let msg = &c.message;
    let running = busybox.rsplit_once('@').unwrap().1;
    // Judged by digest, whatever the repository: not skipped as a sidecar.
    assert!(
        msg.contains(&format!(
            "pod agentrun-mgr-real container {cname} runs {running}"
        )) && msg.contains("names another repository"),
        "{msg}"
    );
    // The init container (terminated) is judged too: it is not in the tree's pod template.
    assert!(
        msg.contains("pod agentrun-mgr-real init container setup is not in the runtime tree"),
        "{msg}"
    );
    let ev = c.evidence["agentrun-mgr"]["pods"].to_string();
    assert!(
        ev.contains("\"init\":true") && ev.contains("\"state\":\"terminated\""),
        "{ev}"
    );
}

/// The Application's conditions once Argo CD has reconciled it after a refresh request.
fn argo_conditions_after_refresh(k: &RealCluster, app: &str) -> Vec<Value> {
    let get = || {
        let out = k.kubectl(
            &["get", "application", app, "-n", "argocd", "-o", "json"],
            None,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout).unwrap()
    };
    let before = get()["status"]["reconciledAt"].clone();
    // reconciledAt has a resolution of one second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let annotate = k.kubectl(
        &[
            "annotate",
            "--overwrite",
            "application",
            app,
            "-n",
            "argocd",
            "argocd.argoproj.io/refresh=normal",
        ],
        None,
    );
    assert_eq!(annotate.code, 0, "{}", annotate.stderr);
    let start = std::time::Instant::now();
    loop {
        let now = get();
        let refreshed = now["metadata"]["annotations"]
            .get("argocd.argoproj.io/refresh")
            .is_none();
        if refreshed && now["status"]["reconciledAt"] != before {
            return now["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "Argo CD did not refresh {app}: {}",
            now["status"]
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Wait until `pod` in `ns` is Running; panics after two minutes with its phase.
fn wait_running(k: &RealCluster, ns: &str, pod: &str) {
    let start = std::time::Instant::now();
    loop {
        let phase = k.kubectl(
            &[
                "get",
                "pod",
                pod,
                "-n",
                ns,
                "-o",
                "jsonpath={.status.phase}",
            ],
            None,
        );
        if phase.stdout == "Running" {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "pod {pod} not Running: {} {}",
            phase.stdout,
            phase.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// GET from the cluster's plain-http registry (a loopback-side address of this machine).
fn registry_get(url: &str, accept: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args([
            "-fsS",
            "--max-time",
            "30",
            "-H",
            &format!("Accept: {accept}"),
            "--",
            url,
        ])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// An image that exists only on the node: the cluster's busybox layer under a config of its
/// own (so no pulled image shares its ID), written as an OCI archive and imported into the
/// cluster's containerd under a tag no registry serves. Returns the tag and the config digest.
fn import_node_only_image(registry: &str, busybox: &str, containerd: &str) -> (String, String) {
    let (repo_at, manifest_digest) = busybox.rsplit_once('@').unwrap();
    let repo = repo_at.split_once('/').unwrap().1;
    let base = format!("http://{registry}/v2/{repo}");
    let manifest: Value = serde_json::from_slice(&registry_get(
        &format!("{base}/manifests/{manifest_digest}"),
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    ))
    .unwrap();
    let dir = common::tempdir();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let mut config: Value = serde_json::from_slice(&registry_get(
        &format!("{base}/blobs/{config_digest}"),
        "*/*",
    ))
    .unwrap();
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    config["config"]["Labels"]["dev.lane.test/node-only"] = json!(unique);
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_hex = sha256_hex(&config_bytes);
    std::fs::write(blobs.join(&config_hex), &config_bytes).unwrap();
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        let bytes = registry_get(&format!("{base}/blobs/{d}"), "*/*");
        assert_eq!(format!("sha256:{}", sha256_hex(&bytes)), d);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), &bytes).unwrap();
        layers.push(l.clone());
    }
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_hex}"), "size": config_bytes.len()},
        "layers": layers,
    });
    let m_bytes = serde_json::to_vec(&m).unwrap();
    let m_hex = sha256_hex(&m_bytes);
    std::fs::write(blobs.join(&m_hex), &m_bytes).unwrap();
    let tag = format!("lane.invalid/verify/node-only:{}", &config_hex[..12]);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{m_hex}"), "size": m_bytes.len(),
                       "annotations": {"io.containerd.image.name": tag,
                                       "org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = dir.path().join("image.tar");
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-cf")
        .arg(&tar)
        .args(["--", "oci-layout", "index.json", "blobs"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("ctr")
        .args([
            "--address",
            containerd,
            "-n",
            "k8s.io",
            "images",
            "import",
            "--",
        ])
        .arg(&tar)
        .output()
        .expect("ctr");
    assert!(
        out.status.success(),
        "ctr images import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tag, format!("sha256:{config_hex}"))
}

#[test]
fn real_cluster_an_image_loaded_on_the_node_proves_no_digest() {
    let Some(k) = real_cluster("real_cluster_an_image_loaded_on_the_node_proves_no_digest") else {
        return;
    };
    let (Ok(busybox), Ok(registry), Ok(containerd)) = (
        std::env::var("LANE_CLUSTER_BUSYBOX_IMAGE"),
        std::env::var("LANE_CLUSTER_REGISTRY"),
        std::env::var("LANE_CLUSTER_CONTAINERD_ADDRESS"),
    ) else {
        eprintln!("verify_cluster: skipped (the cluster's busybox, registry or containerd address is unset)");
        return;
    };
    let s = real_setup(&k);
    let (tag, config_digest) = import_node_only_image(&registry, &busybox, &containerd);
    let cname = s
        .repos
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap()["spec"]["template"]["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // A pod of the service running the node-only image: the kubelet cannot pull it, and the
    // real containerd reports the image ID (config digest) as its imageID.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agentrun-mgr-node-only", "namespace": REAL_NS,
                     "labels": {"lane.dev/service": "agentrun-mgr"}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534},
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": cname, "image": tag, "imagePullPolicy": "Never",
                            "command": ["sleep", "3600"]}]
        }
    });
    k.apply(&serde_json::to_string(&pod).unwrap());
    wait_running(&k, REAL_NS, "agentrun-mgr-node-only");
    let reported = k.kubectl(
        &[
            "get",
            "pod",
            "agentrun-mgr-node-only",
            "-n",
            REAL_NS,
            "-o",
            "jsonpath={.status.containerStatuses[0].imageID}",
        ],
        None,
    );
    // What the fake-API test (an_image_id_without_a_registry_digest_is_reported_as_such)
    // assumes, checked against the real kubelet and containerd.
    assert_eq!(reported.stdout, config_digest, "{}", reported.stderr);
    let run = s.verify(&k, &["--only", "live"]);
    run.assert_code(1);
    let doc: VerifyReport = run.report();
    nothing_refused(&doc);
    let c = check(&doc, "live.images");
    let msg = &c.message;
    assert!(
        msg.contains(&format!(
            "pod agentrun-mgr-node-only container {cname} reports imageID '{config_digest}' without a registry digest"
        )),
        "{msg}"
    );
    assert!(
        c.hint.as_deref().unwrap().contains("locally loaded"),
        "{c:#?}"
    );
    let _ = std::process::Command::new("ctr")
        .args([
            "--address",
            &containerd,
            "-n",
            "k8s.io",
            "images",
            "rm",
            "--",
            &tag,
        ])
        .output();
}

#[test]
fn real_cluster_tekton_results_written_with_a_newline_are_trimmed() {
    let Some(k) = real_cluster("real_cluster_tekton_results_written_with_a_newline_are_trimmed")
    else {
        return;
    };
    let Ok(busybox) = std::env::var("LANE_CLUSTER_BUSYBOX_IMAGE") else {
        eprintln!("verify_cluster: skipped (LANE_CLUSTER_BUSYBOX_IMAGE unset)");
        return;
    };
    let served = k.kubectl(&["get", "crd", "pipelineruns.tekton.dev"], None);
    if served.code != 0 {
        eprintln!(
            "verify_cluster: skipped (no Tekton on the cluster: scripts/cluster-tekton.sh up)"
        );
        return;
    }
    let s = real_setup(&k);
    let lane = lane::model::Lane::parse(deploy_v97().as_bytes(), "deploy.json").unwrap();
    let n = &lane.names;
    let run_name = format!("{}x1", n.pipeline_run_name(&s.repos.commit));
    // The lane's Pipeline reduced to a publish Task whose step writes each image's results
    // the way a shell step does: with `echo`, so each value ends in a newline.
    let mut script = String::from("set -eu\n");
    let mut results = Vec::new();
    for (svc, entry) in s.repos.catalog["services"].as_object().unwrap() {
        let prefix = svc
            .trim_start_matches("agentrun-")
            .to_uppercase()
            .replace('-', "_");
        let repo = entry["imageRepository"].as_str().unwrap();
        let dig = entry["digest"].as_str().unwrap();
        script.push_str(&format!(
            "echo '{repo}' > $(results.{prefix}_IMAGE_URL.path)\necho '{dig}' > $(results.{prefix}_IMAGE_DIGEST.path)\n"
        ));
        results.push(json!({"name": format!("{prefix}_IMAGE_URL")}));
        results.push(json!({"name": format!("{prefix}_IMAGE_DIGEST")}));
    }
    let pipeline = json!({
        "apiVersion": "tekton.dev/v1", "kind": "Pipeline",
        "metadata": {"name": n.pipeline, "namespace": n.tekton_namespace},
        "spec": {"tasks": [{"name": "publish", "taskSpec": {
            "results": results,
            "steps": [{"name": "write", "image": busybox, "script": script,
                       "securityContext": {"runAsNonRoot": true, "runAsUser": 65534}}]}}]}
    });
    let pr = json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": run_name, "namespace": n.tekton_namespace},
        "spec": {"pipelineRef": {"name": n.pipeline}}
    });
    let objects = format!(
        "{}\n---\n{}\n",
        serde_json::to_string(&pipeline).unwrap(),
        serde_json::to_string(&pr).unwrap()
    );
    k.apply(&objects);
    let start = std::time::Instant::now();
    let cond = loop {
        let c = k.kubectl(
            &[
                "get",
                "pipelinerun",
                &run_name,
                "-n",
                &n.tekton_namespace,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Succeeded\")].status}",
            ],
            None,
        );
        if c.stdout == "True" || c.stdout == "False" {
            break c.stdout;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(180),
            "PipelineRun {run_name} not finished: {}",
            c.stderr
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert_eq!(cond, "True");
    // Tekton keeps the newline: the TaskRun's results end in "\n".
    let tr = k.kubectl(
        &[
            "get",
            "taskruns",
            "-n",
            &n.tekton_namespace,
            "-l",
            &format!("tekton.dev/pipelineRun={run_name}"),
            "-o",
            "json",
        ],
        None,
    );
    let trs: Value = serde_json::from_str(&tr.stdout).unwrap();
    let values: Vec<String> = trs["items"][0]["status"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values.len(), results.len(), "{trs:#}");
    assert!(values.iter().all(|v| v.ends_with('\n')), "{values:?}");
    let run = s.verify(&k, &["--only", "tekton"]);
    let _ = k.kubectl(
        &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
        Some(&objects),
    );
    run.assert_code(0);
    let doc: VerifyReport = run.report();
    let c = check(&doc, "tekton.digests");
    assert_eq!(
        c.evidence["matched"].as_array().unwrap().len(),
        results.len() / 2,
        "{c:#?}"
    );
    assert_eq!(status(&doc, "tekton.pipelinerun"), Status::Pass);
}
