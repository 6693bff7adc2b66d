//! `lane publish` against a real registry (distribution 2.8) with images pushed by skopeo.

use crate::common;

use std::path::Path;

use common::oci::{self, Format, Image};
use common::registry::Registry;
use lane::error::ExitClass;
use lane::model::catalog::EntryStatus;
use lane::model::intent::ComponentKind;
use lane::model::plan::{Decision, Plan, PlanCounts, PlannedService};
use lane::model::publish::PublishResult;
use lane::publish::PublishReport;
use serde_json::{json, Value};

const SOURCE: &str = "git@github.com:pikasTech/agentrun.git";
const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";

const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A planned deployment service with only what every decision has.
fn planned(id: &str, decision: Decision, reason: &str, repo: &str, tag: &str) -> PlannedService {
    PlannedService {
        id: id.try_into().unwrap(),
        kind: ComponentKind::Deployment,
        decision,
        reason: reason.into(),
        image_repository: Some(repo.try_into().unwrap()),
        tag: Some(tag.into()),
        fingerprint: None,
        previous_fingerprint: None,
        digest: None,
        reused_from: None,
        build: None,
    }
}

fn affected(id: &str, repo: &str, commit: &str) -> PlannedService {
    PlannedService {
        fingerprint: Some(format!("sha256:{}", "f".repeat(64))),
        ..planned(id, Decision::Affected, "fingerprint changed", repo, commit)
    }
}

fn reused(id: &str, repo: &str, tag: &str, digest: &str) -> PlannedService {
    PlannedService {
        digest: Some(digest.try_into().unwrap()),
        reused_from: Some(tag.try_into().unwrap()),
        ..planned(id, Decision::Reused, "unchanged", repo, tag)
    }
}

fn pin(id: &str, repo: &str, tag: &str) -> PlannedService {
    planned(id, Decision::Pin, "upstream image", repo, tag)
}

fn write_plan(dir: &Path, commit: &str, services: Vec<PlannedService>) -> std::path::PathBuf {
    let plan = Plan {
        schema_version: 1,
        lane: "v0.1".into(),
        source_repo: SOURCE.into(),
        source_branch: "v0.1".into(),
        gitops_branch: "v0.1-gitops".into(),
        source_commit: commit.try_into().unwrap(),
        gitops_commit: None,
        catalog_source_commit: None,
        init: false,
        counts: PlanCounts::of(&services),
        services,
    };
    let p = dir.join("plan.json");
    std::fs::write(&p, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    p
}

/// The publish.json `publish` wrote into `dir`.
fn publish_json(dir: &Path) -> PublishResult {
    serde_json::from_slice(&std::fs::read(dir.join("publish.json")).unwrap()).unwrap()
}

fn image(service: &str, commit: &str) -> Image {
    Image::linux_amd64(
        oci::lane_labels(service, commit, SOURCE),
        &format!("{service} {commit}"),
    )
}

/// `lane publish --plan P --allow-insecure --out OUT <extra>` in `dir`.
fn publish(dir: &Path, plan: &Path, extra: &[&str]) -> common::Run {
    let plan = plan.display().to_string();
    let out = dir.join("publish.json").display().to_string();
    let mut args = vec!["publish", "--plan", &plan, "--out", &out];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "30"]);
    }
    args.extend_from_slice(extra);
    common::lane_env(
        dir,
        &args,
        &[("DOCKER_CONFIG", dir.join("no-docker").to_str().unwrap())],
    )
}

fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = std::process::Command::new(common::tools::require("skopeo"))
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn docker_schema2_records_the_pullable_digest_not_the_schema1_one() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/mgr", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &[image("agentrun-mgr", C1)],
        false,
        Format::Docker,
    );

    // What a client without Accept gets from distribution 2.8: a schema1 manifest whose
    // digest differs from the pushed schema2 one. That digest must never be recorded.
    let path = format!("/v2/agentrun/mgr/manifests/{C1}");
    let (st, hs, _) = oci::http(&reg.host, "HEAD", &path, &[]);
    assert_eq!(st, 200);
    assert_eq!(
        oci::header(&hs, "content-type"),
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws")
    );
    let schema1_digest = oci::header(&hs, "docker-content-digest")
        .unwrap()
        .to_string();

    let plan = write_plan(dir.path(), C1, vec![affected("agentrun-mgr", &repo, C1)]);
    let r = dir.path();
    let res = |n: &str| r.join(n).display().to_string();
    let run = publish(
        r,
        &plan,
        &[
            "--allow-insecure",
            "--result-image-url",
            &res("IMAGE_URL"),
            "--result-image-digest",
            &res("IMAGE_DIGEST"),
            "--result-images",
            &res("IMAGES"),
            "--result-artifact-outputs",
            &res("IMAGE_ARTIFACT_OUTPUTS"),
        ],
    );
    run.assert_code(0);
    assert!(run.document::<PublishReport>().ok);
    let out = publish_json(r);
    assert_eq!(out.source_commit, C1);
    let img = &out.images[0];
    let digest = img.digest.to_string();
    assert_eq!(img.service, "agentrun-mgr");
    assert_eq!(img.repository, repo);
    assert_eq!(img.tag, C1);
    assert_eq!(img.status, EntryStatus::Published);
    assert_eq!(img.media_type, DOCKER_V2);
    assert_ne!(
        digest, schema1_digest,
        "the schema1 compatibility digest was recorded"
    );

    // The recorded digest pulls: by digest, the registry serves the schema2 manifest whose
    // sha256 is that digest.
    let raw = skopeo_raw(&format!("{repo}@{digest}"));
    assert_eq!(oci::sha256(&raw), digest);
    let m: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(m["mediaType"], DOCKER_V2);
    assert_eq!(m["schemaVersion"], 2);
    let (st, hs, body) = oci::http(
        &reg.host,
        "GET",
        &format!("/v2/agentrun/mgr/manifests/{digest}"),
        &[("Accept", DOCKER_V2)],
    );
    assert_eq!(st, 200);
    assert_eq!(
        oci::header(&hs, "docker-content-digest"),
        Some(digest.as_str())
    );
    assert_eq!(oci::sha256(&body), digest);

    // Tekton Chains results for the one built image.
    let read = |n: &str| std::fs::read_to_string(r.join(n)).unwrap();
    assert_eq!(read("IMAGE_URL"), format!("{repo}:{C1}"));
    assert_eq!(read("IMAGE_DIGEST"), digest);
    assert_eq!(read("IMAGES"), format!("{repo}@{digest}"));
    let ao: Value = serde_json::from_str(&read("IMAGE_ARTIFACT_OUTPUTS")).unwrap();
    assert_eq!(ao, json!({"uri": repo, "digest": digest}));
}

#[test]
fn oci_manifest_over_loopback_http_allowed_by_deploy_json() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/web", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &[image("agentrun-web", C1)],
        false,
        Format::Oci,
    );
    let plan = write_plan(dir.path(), C1, vec![affected("agentrun-web", &repo, C1)]);

    // Without --allow-insecure or an insecure lane registry, lane speaks HTTPS only: the
    // plain-HTTP registry cannot be reached (environment error, nothing written).
    let run = publish(dir.path(), &plan, &["--timeout", "5"]);
    run.assert_code(3);
    assert!(!dir.path().join("publish.json").exists());
    assert!(run.error().error.hint.unwrap().contains("--allow-insecure"));

    // deploy.json with `lane.registry.insecure: true` for this loopback host.
    let mut deploy: Value =
        serde_json::from_slice(&std::fs::read(common::shipped_deploy()).unwrap()).unwrap();
    deploy["lane"]["registry"]["host"] = json!(reg.host);
    let deploy_path = dir.path().join("deploy.json");
    std::fs::write(&deploy_path, serde_json::to_vec_pretty(&deploy).unwrap()).unwrap();
    let run = publish(
        dir.path(),
        &plan,
        &["--deploy", deploy_path.to_str().unwrap()],
    );
    run.assert_code(0);
    let out = publish_json(dir.path());
    let img = &out.images[0];
    assert_eq!(img.media_type, OCI_MANIFEST);
    let raw = skopeo_raw(&format!("{repo}:{C1}"));
    assert_eq!(oci::sha256(&raw), img.digest);
    // `platforms` is absent from the file, not an empty list: read raw.
    let raw_out: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("publish.json")).unwrap()).unwrap();
    assert!(raw_out["images"][0].get("platforms").is_none());
}

fn two_platforms(service: &str, commit: &str) -> Vec<Image> {
    vec![
        image(service, commit),
        image(service, commit).platform("arm64", Some("v8")),
    ]
}

#[test]
fn docker_manifest_list_records_the_list_digest_and_platforms() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/runner", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &two_platforms("agentrun-runner", C1),
        true,
        Format::Docker,
    );
    let plan = write_plan(dir.path(), C1, vec![affected("agentrun-runner", &repo, C1)]);
    publish(dir.path(), &plan, &["--allow-insecure"]).assert_code(0);
    let out = publish_json(dir.path());
    let img = &out.images[0];
    assert_eq!(img.media_type, DOCKER_LIST);
    assert_eq!(img.platforms, ["linux/amd64", "linux/arm64/v8"]);
    let raw = skopeo_raw(&format!("{repo}:{C1}"));
    assert_eq!(oci::sha256(&raw), img.digest);
}

#[test]
fn oci_index_records_the_index_digest_and_checks_every_platform() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/api", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &two_platforms("agentrun-api", C1),
        true,
        Format::Oci,
    );
    let plan = write_plan(dir.path(), C1, vec![affected("agentrun-api", &repo, C1)]);
    publish(dir.path(), &plan, &["--allow-insecure"]).assert_code(0);
    let out = publish_json(dir.path());
    let img = &out.images[0];
    assert_eq!(img.media_type, OCI_INDEX);
    assert_eq!(img.platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(
        oci::sha256(&skopeo_raw(&format!("{repo}:{C1}"))),
        img.digest
    );

    // An index whose arm64 image comes from another service is rejected too.
    let mixed = vec![
        image("agentrun-api", C2),
        image("agentrun-mgr", C2).platform("arm64", Some("v8")),
    ];
    oci::build_and_push(&format!("{repo}:{C2}"), &mixed, true, Format::Oci);
    let dir2 = common::tempdir();
    let plan = write_plan(dir2.path(), C2, vec![affected("agentrun-api", &repo, C2)]);
    let run = publish(dir2.path(), &plan, &["--allow-insecure"]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("service agentrun-mgr"),
        "{}",
        run.stdout
    );
    assert!(!dir2.path().join("publish.json").exists());
}

#[test]
fn missing_tag_is_rejected_and_nothing_is_written() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/mgr", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &[image("agentrun-mgr", C1)],
        false,
        Format::Oci,
    );
    let images = dir.path().join("IMAGES");
    let plan = write_plan(
        dir.path(),
        C1,
        vec![
            affected("agentrun-mgr", &repo, C1),
            affected("agentrun-web", &format!("{}/agentrun/web", reg.host), C1),
        ],
    );
    let run = publish(
        dir.path(),
        &plan,
        &[
            "--allow-insecure",
            "--result-images",
            images.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    let doc = run.document::<PublishReport>();
    assert!(!doc.ok);
    assert_eq!(doc.report.images[0].service, "agentrun-mgr");
    let p = &doc.report.problems[0];
    assert_eq!(p.service, "agentrun-web");
    assert!(p.message.contains(&format!("agentrun/web:{C1}")), "{p:?}");
    assert!(p.message.contains("not found"), "{p:?}");
    assert!(!dir.path().join("publish.json").exists());
    assert!(!images.exists());
    assert!(doc.report.written.is_empty());
}

#[test]
fn tag_pointing_at_another_commits_or_services_image_is_rejected_naming_both() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let mgr = format!("{}/agentrun/mgr", reg.host);
    let web = format!("{}/agentrun/web", reg.host);
    // A stale image: built from C1 but pushed under the C2 tag.
    oci::build_and_push(
        &format!("{mgr}:{C2}"),
        &[image("agentrun-mgr", C1)],
        false,
        Format::Docker,
    );
    // A hand-pushed image of another service under web's tag.
    oci::build_and_push(
        &format!("{web}:{C2}"),
        &[image("agentrun-mgr", C2)],
        false,
        Format::Oci,
    );
    let plan = write_plan(
        dir.path(),
        C2,
        vec![
            affected("agentrun-mgr", &mgr, C2),
            affected("agentrun-web", &web, C2),
        ],
    );
    let run = publish(dir.path(), &plan, &["--allow-insecure"]);
    run.assert_code(1);
    let doc: PublishReport = run.report();
    let problems = &doc.problems;
    assert_eq!(problems.len(), 2, "{doc:?}");
    let m0 = &problems[0].message;
    assert!(
        m0.contains(&format!("service agentrun-mgr at commit {C2}")),
        "{m0}"
    );
    assert!(
        m0.contains(&format!("service agentrun-mgr at commit {C1}")),
        "{m0}"
    );
    let m1 = &problems[1].message;
    assert!(
        m1.contains(&format!("service agentrun-web at commit {C2}")),
        "{m1}"
    );
    assert!(
        m1.contains(&format!("service agentrun-mgr at commit {C2}")),
        "{m1}"
    );
    assert!(problems[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("docs/labels.md"));
    assert!(!dir.path().join("publish.json").exists());
}

#[test]
fn reused_digest_present_then_deleted() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/agentrun/mgr", reg.host);
    oci::build_and_push(
        &format!("{repo}:{C1}"),
        &[image("agentrun-mgr", C1)],
        false,
        Format::Docker,
    );
    let digest = oci::sha256(&skopeo_raw(&format!("{repo}:{C1}")));
    let plan = write_plan(
        dir.path(),
        C2,
        vec![reused("agentrun-mgr", &repo, C1, &digest)],
    );
    let images = dir.path().join("IMAGES");
    publish(
        dir.path(),
        &plan,
        &[
            "--allow-insecure",
            "--result-images",
            images.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    let out = publish_json(dir.path());
    let img = &out.images[0];
    assert_eq!(img.status, EntryStatus::Reused);
    assert_eq!(img.digest, digest);
    assert_eq!(img.reused_from.as_deref(), Some(C1));
    assert_eq!(img.media_type, DOCKER_V2);
    // Chains attests what this run built: a reused image is not in IMAGES.
    assert_eq!(std::fs::read_to_string(&images).unwrap(), "");

    let (st, _, _) = oci::http(
        &reg.host,
        "DELETE",
        &format!("/v2/agentrun/mgr/manifests/{digest}"),
        &[],
    );
    assert_eq!(st, 202);
    std::fs::remove_file(dir.path().join("publish.json")).unwrap();
    let run = publish(dir.path(), &plan, &["--allow-insecure"]);
    run.assert_code(1);
    let report: PublishReport = run.report();
    let p = &report.problems[0];
    assert_eq!(p.service, "agentrun-mgr");
    assert!(p.message.contains("gone"), "{p:?}");
    assert!(
        p.hint
            .as_deref()
            .unwrap()
            .contains("lane plan --force agentrun-mgr"),
        "{p:?}"
    );
    assert!(!dir.path().join("publish.json").exists());
}

#[test]
fn upstream_image_is_pinned_without_provenance_labels() {
    let reg = Registry::start();
    let dir = common::tempdir();
    let repo = format!("{}/upstream/postgres", reg.host);
    let upstream = Image::linux_amd64(
        vec![("org.opencontainers.image.title".into(), "postgres".into())],
        "pg",
    );
    oci::build_and_push(&format!("{repo}:16.4"), &[upstream], false, Format::Docker);
    let mgr = format!("{}/agentrun/mgr", reg.host);
    oci::build_and_push(
        &format!("{mgr}:{C1}"),
        &[image("agentrun-mgr", C1)],
        false,
        Format::Oci,
    );
    let plan = write_plan(
        dir.path(),
        C1,
        vec![
            affected("agentrun-mgr", &mgr, C1),
            pin("postgres", &repo, "16.4"),
        ],
    );
    let url = dir.path().join("IMAGE_URL");
    let run = publish(
        dir.path(),
        &plan,
        &[
            "--allow-insecure",
            "--result-image-url",
            url.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    let out = publish_json(dir.path());
    let img = &out.images[1];
    assert_eq!(img.service, "postgres");
    assert_eq!(img.status, EntryStatus::Pinned);
    assert_eq!(
        img.digest,
        oci::sha256(&skopeo_raw(&format!("{repo}:16.4")))
    );
    // One image built (mgr): IMAGE_URL names it, not the pinned one.
    assert_eq!(
        std::fs::read_to_string(&url).unwrap(),
        format!("{mgr}:{C1}")
    );

    // --decisions pin / --service select a subset.
    std::fs::remove_file(dir.path().join("publish.json")).unwrap();
    let run = publish(
        dir.path(),
        &plan,
        &["--allow-insecure", "--decisions", "pin"],
    );
    run.assert_code(0);
    assert_eq!(run.report::<PublishReport>().images.len(), 1);
    let run = publish(
        dir.path(),
        &plan,
        &["--allow-insecure", "--service", "agentrun-mgr"],
    );
    assert_eq!(
        run.report::<PublishReport>().images[0].service,
        "agentrun-mgr"
    );
    let run = publish(
        dir.path(),
        &plan,
        &["--allow-insecure", "--service", "nope"],
    );
    run.assert_code(2);
}

#[test]
fn registry_down_is_an_environment_error_and_nothing_is_written() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = common::tempdir();
    let repo = format!("127.0.0.1:{port}/agentrun/mgr");
    let plan = write_plan(dir.path(), C1, vec![affected("agentrun-mgr", &repo, C1)]);
    let images = dir.path().join("IMAGES");
    let run = publish(
        dir.path(),
        &plan,
        &[
            "--allow-insecure",
            "--timeout",
            "4",
            "--result-images",
            images.to_str().unwrap(),
        ],
    );
    run.assert_code(3);
    let e = run.error();
    assert_eq!(e.error.class, ExitClass::Environment);
    let msg = &e.error.message;
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("cannot be reached"),
        "{msg}"
    );
    assert!(msg.contains("nothing was written"), "{msg}");
    assert!(!dir.path().join("publish.json").exists());
    assert!(!images.exists());
}

/// PUT a manifest (raw HTTP/1.1, so the registry stores exactly these bytes).
fn put_manifest(host: &str, repo_path: &str, tag: &str, media_type: &str, body: &[u8]) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let head = format!(
        "PUT /v2/{repo_path}/manifests/{tag} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 201"), "PUT {tag}: {resp}");
}

/// `(digest, size)` of the manifest `repo:tag` as stored.
fn manifest_descriptor(host: &str, repo_path: &str, tag: &str) -> (String, usize) {
    let (status, _, body) = oci::http(
        host,
        "GET",
        &format!("/v2/{repo_path}/manifests/{tag}"),
        &[("Accept", OCI_MANIFEST)],
    );
    assert_eq!(status, 200);
    (oci::sha256(&body), body.len())
}

/// Provenance checks every child of an index a runtime could pull: containerd pulls a child
/// without `platform` (it matches any) and one with a real platform whatever its annotations
/// say. Before issue 14 both were skipped, so a foreign image rode along unchecked. A child
/// whose platform is `unknown/unknown` (BuildKit's attestations) is never pulled and still
/// skipped; an index whose only child lacks `platform` is valid.
#[test]
fn every_pullable_child_of_an_index_is_checked() {
    let reg = Registry::start();
    let path = "agentrun/api";
    let repo = format!("{}/{path}", reg.host);
    // The child this run built, and a foreign one (another commit's build).
    oci::build_and_push(
        &format!("{repo}:good"),
        &[image("agentrun-api", C1)],
        false,
        Format::Oci,
    );
    oci::build_and_push(
        &format!("{repo}:foreign"),
        &[image("agentrun-api", C2)],
        false,
        Format::Oci,
    );
    let (good, good_size) = manifest_descriptor(&reg.host, path, "good");
    let (foreign, foreign_size) = manifest_descriptor(&reg.host, path, "foreign");
    let child = |digest: &str, size: usize, extra: Value| {
        let mut d = json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size});
        d.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        d
    };
    let amd64 = json!({"platform": {"os": "linux", "architecture": "amd64"}});
    let index = |children: Vec<Value>| {
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
        )
        .unwrap()
    };
    let cases = [
        (
            "attestation-annotated child with a real platform",
            index(vec![
                child(&good, good_size, amd64.clone()),
                child(
                    &foreign,
                    foreign_size,
                    json!({
                        "platform": {"os": "linux", "architecture": "arm64"},
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"}
                    }),
                ),
            ]),
            false,
        ),
        (
            "child without platform",
            index(vec![
                child(&good, good_size, amd64.clone()),
                child(&foreign, foreign_size, json!({})),
            ]),
            false,
        ),
        (
            "a real attestation (unknown/unknown) is skipped",
            index(vec![
                child(&good, good_size, amd64.clone()),
                child(
                    &foreign,
                    foreign_size,
                    json!({
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"}
                    }),
                ),
            ]),
            true,
        ),
        (
            "the only child lacks platform",
            index(vec![child(&good, good_size, json!({}))]),
            true,
        ),
    ];
    for (i, (what, body, ok)) in cases.into_iter().enumerate() {
        let tag = format!("{C1}-{i}");
        put_manifest(&reg.host, path, &tag, OCI_INDEX, &body);
        let dir = common::tempdir();
        let mut svc = affected("agentrun-api", &repo, C1);
        svc.tag = Some(tag);
        let plan = write_plan(dir.path(), C1, vec![svc]);
        let run = publish(dir.path(), &plan, &["--allow-insecure"]);
        if ok {
            run.assert_code(0);
        } else {
            run.assert_code(1);
            assert!(
                run.stdout.contains(C2),
                "{what}: the foreign commit is named:\n{}",
                run.stdout
            );
            assert!(!dir.path().join("publish.json").exists(), "{what}");
        }
    }
}
