//! `lane rollback` against a real `git daemon` and a real registry (docker-registry, images
//! pushed with skopeo): one service and the whole lane go back to an earlier GitOps commit
//! through the compare-and-swap push, the catalog and the commit trailers say from what, to
//! what and who asked, `verify` accepts the rolled-back release and still fails when the tree
//! or the pods differ from it, the next newer release rolls forward while a late run of the
//! rolled-back commit does not, a digest gone from the registry is refused, and a promote
//! racing the rollback never loses either commit.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use common::gitd::GitDaemon;
use common::gitrepo::{git, TestRepo};
use common::kube::{Cluster, ClusterInput, FakeApi};
use common::oci::{self, Format, Image};
use common::promote::{catalog_at, checkout_tree, error_all, remote_head, GITOPS_BRANCH, RUNTIME};
use common::registry::Registry;
use common::Run;
use lane::model::catalog::{CatalogDoc, EntryStatus};
use lane::promote::{PromoteOutcome, PromoteReport};
use lane::rollback::{RollbackOutcome, RollbackReport};
use lane::verify::{Check, Status, VerifyReport};

const MGR: &str = "agentrun-mgr";
const RUNNER: &str = "agentrun-runner";
const WHO: &str = "Jane Operator <jane@example.invalid>";

struct Lane {
    reg: Registry,
    d: GitDaemon,
    deploy: Value,
    src: TestRepo,
    work: tempfile::TempDir,
    /// Source commits A (first release) and B (second: new images, mgr at 2 replicas).
    a: String,
    b: String,
    /// GitOps commits of the two releases.
    g1: String,
    g2: String,
    /// Digests per (release, service).
    digests: BTreeMap<(String, String), String>,
}

/// Build an image for `service` at `commit`, push it, return its manifest digest.
fn push_image(reg: &Registry, service: &str, commit: &str) -> String {
    let dest = format!("{}/agentrun/{service}:{commit}", reg.host);
    oci::build_and_push(
        &dest,
        &[Image::linux_amd64(
            oci::lane_labels(service, commit, "https://example.invalid/agentrun.git"),
            &format!("{service} built from {commit}"),
        )],
        false,
        Format::Oci,
    );
    let (status, hs, _) = oci::http(
        &reg.host,
        "HEAD",
        &format!("/v2/agentrun/{service}/manifests/{commit}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
    );
    assert_eq!(status, 200);
    oci::header(&hs, "docker-content-digest")
        .expect("digest header")
        .to_string()
}

fn services(deploy: &Value) -> Vec<(String, String)> {
    common::promote::services(deploy)
}

impl Lane {
    fn new() -> Lane {
        let reg = Registry::start();
        let d = GitDaemon::start();
        d.bare("gitops.git");
        let mut deploy = common::promote::deploy_json(0);
        deploy["lane"]["registry"]["host"] = json!(reg.host);
        let src = common::promote::source_repo(&deploy);
        let mut lane = Lane {
            reg,
            d,
            deploy,
            src,
            work: common::tempdir(),
            a: String::new(),
            b: String::new(),
            g1: String::new(),
            g2: String::new(),
            digests: BTreeMap::new(),
        };
        lane.a = lane.src.head();
        let publish = lane.build(&lane.a.clone());
        lane.promote(&lane.a.clone(), &publish, &["--init"])
            .assert_code(0);
        lane.g1 = lane.tip();
        // B: new images and a changed deploy intent (mgr at 2 replicas).
        let mut deploy_b = lane.deploy.clone();
        deploy_b["services"][0]["replicas"] = json!(2);
        lane.src.write(
            "deploy/deploy.json",
            &serde_json::to_string_pretty(&deploy_b).unwrap(),
        );
        lane.b = lane.src.commit("source: mgr at 2 replicas");
        let publish = lane.build(&lane.b.clone());
        lane.promote(&lane.b.clone(), &publish, &[]).assert_code(0);
        lane.g2 = lane.tip();
        lane
    }

    fn bare(&self) -> PathBuf {
        self.d.path("gitops.git")
    }

    fn remote(&self) -> String {
        self.d.url("gitops.git")
    }

    fn tip(&self) -> String {
        remote_head(&self.bare(), GITOPS_BRANCH).expect("GitOps branch")
    }

    fn catalog(&self) -> CatalogDoc {
        catalog_at(&self.bare(), &self.tip())
    }

    fn digest(&self, commit: &str, service: &str) -> String {
        self.digests[&(commit.to_string(), service.to_string())].clone()
    }

    /// Push an image per service for `commit`; write and return its publish result.
    fn build(&mut self, commit: &str) -> PathBuf {
        let mut images = Vec::new();
        for (id, kind) in services(&self.deploy) {
            let d = push_image(&self.reg, &id, commit);
            self.digests
                .insert((commit.to_string(), id.clone()), d.clone());
            images.push(json!({
                "service": id, "kind": kind,
                "repository": format!("{}/agentrun/{id}", self.reg.host),
                "tag": commit, "digest": d,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "status": "published",
                "fingerprint": format!("sha256:{}", "f".repeat(64)),
            }));
        }
        let doc =
            json!({"schemaVersion": 1, "lane": "v0.1", "sourceCommit": commit, "images": images});
        let p = self.work.path().join(format!("publish-{commit}.json"));
        std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        p
    }

    fn promote(&self, commit: &str, publish: &Path, extra: &[&str]) -> Run {
        let args =
            common::promote::promote_args(self.src.path(), commit, &self.remote(), &[publish]);
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.extend_from_slice(extra);
        common::lane(Path::new("/"), &a)
    }

    fn rollback_args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "rollback",
            "--repo",
            self.src.path().to_str().unwrap(),
            "--gitops-remote",
            &self.remote(),
            "--allow-insecure",
            "--requested-by",
            WHO,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn rollback(&self, extra: &[&str]) -> Run {
        let args = self.rollback_args(extra);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        common::lane(Path::new("/"), &a)
    }

    fn verify(&self, commit: &str, extra: &[&str]) -> Run {
        let mut a = vec![
            "verify",
            "--repo",
            self.src.path().to_str().unwrap(),
            "--commit",
            commit,
        ];
        a.extend_from_slice(extra);
        common::lane(Path::new("/"), &a)
    }

    fn verify_gitops(&self, commit: &str) -> Run {
        let remote = self.remote();
        self.verify(commit, &["--only", "gitops", "--gitops-remote", &remote])
    }

    /// `git interpret-trailers --parse` of the tip's message: the trailers as git reads them.
    fn trailers(&self, commit: &str) -> BTreeMap<String, String> {
        let msg = git(&self.bare(), &["log", "-1", "--format=%B", commit]);
        let mut child = Command::new("git")
            .args(["interpret-trailers", "--parse"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(msg.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

fn check<'a>(v: &'a VerifyReport, id: &str) -> &'a Check {
    v.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {v:#?}"))
}

/// The runtime tree at `commit` as objects, for the fake cluster.
fn objects(bare: &Path, commit: &str) -> Vec<Value> {
    let dir = checkout_tree(bare, commit);
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.path().join(RUNTIME)).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() == "kustomization.yaml" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for v in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            if v.get("kind").is_some() {
                out.push(v);
            }
        }
    }
    out
}

/// A fake Kubernetes API whose pods run `running` (service → digest), with B's PipelineRun
/// having published those images.
fn cluster(lane: &Lane, dir: &Path, running: &BTreeMap<&str, String>) -> FakeApi {
    let objects = objects(&lane.bare(), &lane.tip());
    let images: Vec<(String, String, String)> = running
        .iter()
        .map(|(s, d)| {
            (
                s.to_string(),
                format!("{}/agentrun/{s}@{d}", lane.reg.host),
                d.clone(),
            )
        })
        .collect();
    let mut c = Cluster::healthy(
        "agentrun-v01",
        &ClusterInput {
            objects: &objects,
            images: &images,
            gitops_head: &lane.tip(),
            commit: &lane.b,
        },
    );
    // B's PipelineRun, whose results name what it published: the running images.
    c.add_tekton(
        &lane.b,
        &images.iter().map(|(_, i, _)| i.clone()).collect::<Vec<_>>(),
    );
    FakeApi::start(dir, &c.to_value())
}

#[test]
fn one_service_goes_back_and_verify_accepts_it_until_what_runs_differs() {
    let lane = Lane::new();
    let before = lane.catalog();
    let run = lane.rollback(&[
        "--to",
        &lane.g1[..10],
        "--service",
        MGR,
        "--reason",
        "the new parser rejects old sessions",
    ]);
    run.assert_code(0);
    let rep: RollbackReport = run.report();
    assert_eq!(rep.outcome, RollbackOutcome::Committed, "{rep:?}");
    assert_eq!(rep.scope, "services");
    let tip = lane.tip();
    assert_eq!(rep.commit, tip);
    assert_eq!(rep.previous_commit, lane.g2);
    // One commit on top of the release it rolls back: the CAS push, never a rewrite.
    assert_eq!(
        git(&lane.bare(), &["rev-parse", &format!("{tip}^")]),
        lane.g2
    );
    assert_eq!(
        remote_head(&lane.bare(), "v0.1"),
        None,
        "nothing on the source branch of the GitOps remote"
    );

    // The catalog entry: rolled-back, restoring A's image, naming both ends and who asked.
    let cat = lane.catalog();
    let e = &cat.services[MGR];
    assert_eq!(e.status, EntryStatus::RolledBack, "{e:#?}");
    assert_eq!(e.digest, lane.digest(&lane.a, MGR));
    assert_eq!(e.source_commit, lane.a);
    let rb = e.rollback.as_ref().expect("rollback record");
    assert_eq!(rb.from.digest, lane.digest(&lane.b, MGR));
    assert_eq!(rb.from.source_commit, lane.b);
    assert_eq!(rb.from.gitops_commit, lane.g2);
    assert_eq!(rb.restores.gitops_commit, lane.g1);
    assert_eq!(rb.restores.status, EntryStatus::Published);
    assert_eq!(rb.requested_by, WHO);
    assert_eq!(
        rb.reason.as_deref(),
        Some("the new parser rejects old sessions")
    );
    // The other service and the deploy intent stay B's.
    assert_eq!(cat.services[RUNNER], before.services[RUNNER]);
    assert_eq!(cat.source_commit, lane.b);
    assert!(cat.rollback.is_none(), "{cat:#?}");
    // The tree runs A's mgr image, with B's replicas.
    let tree = checkout_tree(&lane.bare(), &tip);
    let text: String = std::fs::read_dir(tree.path().join(RUNTIME))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(text.contains(&lane.digest(&lane.a, MGR)));
    assert!(!text.contains(&lane.digest(&lane.b, MGR)));
    assert!(text.contains("replicas: 2"), "{text}");

    // Trailers, as git parses them.
    let t = lane.trailers(&tip);
    assert_eq!(t["Lane"], "v0.1");
    assert_eq!(t["Lane-Rollback"], "services");
    assert_eq!(t["Lane-Rollback-From"], lane.g2);
    assert_eq!(t["Lane-Rollback-From-Source-Commit"], lane.b);
    assert_eq!(t["Lane-Rollback-To"], lane.g1);
    assert_eq!(t["Lane-Rollback-To-Source-Commit"], lane.a);
    assert_eq!(t["Lane-Rollback-Services"], MGR);
    assert_eq!(t["Lane-Rollback-Requested-By"], WHO);
    assert_eq!(t["Lane-Source-Commit"], lane.b);

    // verify: the rolled-back tree is the intended release.
    let run = lane.verify_gitops(&lane.b);
    let v: VerifyReport = run.report();
    run.assert_code(0);
    assert!(
        check(&v, "gitops.catalog")
            .message
            .contains(&format!("rolled back: {MGR}")),
        "{v:#?}"
    );
    assert_eq!(check(&v, "gitops.drift").status, Status::Pass);

    // What runs: pods on the rolled-back digest pass; pods still on B's fail.
    let api_dir = common::tempdir();
    let mut running: BTreeMap<&str, String> = BTreeMap::new();
    running.insert(MGR, lane.digest(&lane.a, MGR));
    running.insert(RUNNER, lane.digest(&lane.b, RUNNER));
    let api = cluster(&lane, api_dir.path(), &running);
    let flags = api.flags();
    let mut live: Vec<&str> = vec!["--only", "live", "--gitops-remote"];
    let remote = lane.remote();
    live.push(&remote);
    live.extend(flags.iter().map(String::as_str));
    let run = lane.verify(&lane.b, &live);
    let v: VerifyReport = run.report();
    assert_eq!(check(&v, "live.images").status, Status::Pass, "{v:#?}");
    drop(api);
    let api_dir = common::tempdir();
    running.insert(MGR, lane.digest(&lane.b, MGR));
    let api = cluster(&lane, api_dir.path(), &running);
    let flags = api.flags();
    let mut live: Vec<&str> = vec!["--only", "live", "--gitops-remote", &remote];
    live.extend(flags.iter().map(String::as_str));
    let run = lane.verify(&lane.b, &live);
    run.assert_code(1);
    let v: VerifyReport = run.report();
    let images = check(&v, "live.images");
    assert_eq!(images.status, Status::Fail, "{v:#?}");
    assert!(
        images.message.contains(&lane.digest(&lane.b, MGR)),
        "{images:#?}"
    );
    // Tekton evidence: B's run published B's mgr digest, which the rollback replaced on
    // purpose; the catalog records it as what mgr ran before, so the evidence stands.
    let mut tekton: Vec<&str> = vec!["--only", "tekton", "--gitops-remote", &remote];
    tekton.extend(flags.iter().map(String::as_str));
    let run = lane.verify(&lane.b, &tekton);
    let v: VerifyReport = run.report();
    run.assert_code(0);
    let digests = check(&v, "tekton.digests");
    assert_eq!(digests.status, Status::Pass, "{v:#?}");
    assert!(
        digests
            .message
            .ends_with(&format!("rolled back since on purpose: {MGR}")),
        "{digests:#?}"
    );
    // Each result form naming B's mgr image (IMAGES, IMAGE_URL/IMAGE_DIGEST) is listed.
    // A check's evidence is free-form per check (`Value`, built with `json!` in
    // verify/tekton.rs): read raw.
    let rolled = digests.evidence["rolledBack"].as_array().unwrap();
    assert!(!rolled.is_empty(), "{digests:#?}");
    for r in rolled {
        assert_eq!(r["service"], MGR);
        assert_eq!(r["published"], lane.digest(&lane.b, MGR).as_str());
        assert_eq!(r["catalog"], lane.digest(&lane.a, MGR).as_str());
        assert_eq!(r["restores"], lane.a.as_str());
    }
    drop(api);

    // A hand edit putting B's image back into the tree: verify fails the gitops group.
    let edit = TestRepo::init("scratch");
    edit.git(&["fetch", "-q", &remote, GITOPS_BRANCH]);
    edit.git(&["checkout", "-q", "FETCH_HEAD"]);
    let mut changed = 0;
    for e in std::fs::read_dir(edit.path().join(RUNTIME)).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        if text.contains(&lane.digest(&lane.a, MGR)) {
            std::fs::write(
                &p,
                text.replace(&lane.digest(&lane.a, MGR), &lane.digest(&lane.b, MGR)),
            )
            .unwrap();
            changed += 1;
        }
    }
    assert!(changed > 0);
    edit.commit("hand edit: back to B's mgr");
    edit.git(&[
        "push",
        "-q",
        &remote,
        &format!("HEAD:refs/heads/{GITOPS_BRANCH}"),
    ]);
    let run = lane.verify_gitops(&lane.b);
    run.assert_code(1);
    let v: VerifyReport = run.report();
    assert_eq!(check(&v, "gitops.pinned").status, Status::Fail, "{v:#?}");
    assert_eq!(check(&v, "gitops.drift").status, Status::Fail);
}

#[test]
fn the_whole_lane_goes_back_and_the_next_newer_release_rolls_forward() {
    let mut lane = Lane::new();
    let run = lane.rollback(&["--to", &lane.g1.clone()]);
    run.assert_code(0);
    let rep: RollbackReport = run.report();
    assert_eq!(rep.scope, "lane");
    assert_eq!(rep.intent_commit, lane.a);
    let rolled = lane.tip();
    let cat = lane.catalog();
    // A's deploy intent and images are back, recorded as a rollback from B.
    assert_eq!(cat.source_commit, lane.a);
    let rb = cat.rollback.as_deref().expect("lane rollback record");
    assert_eq!(rb.from.source_commit, lane.b);
    assert_eq!(rb.from.gitops_commit, lane.g2);
    assert_eq!(rb.restores.gitops_commit, lane.g1);
    assert_eq!(rb.requested_by, WHO);
    for (id, _) in services(&lane.deploy) {
        let e = &cat.services[&id];
        assert_eq!(e.status, EntryStatus::RolledBack, "{id}: {e:#?}");
        assert_eq!(e.digest, lane.digest(&lane.a, &id));
    }
    // The tree is exactly the first release's.
    assert_eq!(
        git(
            &lane.bare(),
            &["diff", "--stat", &lane.g1, &rolled, "--", RUNTIME]
        ),
        ""
    );
    let t = lane.trailers(&rolled);
    assert_eq!(t["Lane-Rollback"], "lane");
    assert_eq!(t["Lane-Source-Commit"], lane.a);
    assert_eq!(t["Lane-Rollback-Requested-By"], WHO);

    // verify accepts it for the commit it was rolled back from, and for the restored one.
    lane.verify_gitops(&lane.b).assert_code(0);
    lane.verify_gitops(&lane.a).assert_code(0);
    // Static (gitops + source) needs no cluster: the GitOps checks pass there too.
    let remote = lane.remote();
    let run = lane.verify(&lane.b, &["--only", "static", "--gitops-remote", &remote]);
    let v: VerifyReport = run.report();
    for id in [
        "gitops.catalog",
        "gitops.pinned",
        "gitops.no-secrets",
        "gitops.drift",
    ] {
        assert_eq!(check(&v, id).status, Status::Pass, "{id}: {v:#?}");
    }

    // A late run of B (the release rolled back from) does not undo the rollback.
    let publish_b = lane.work.path().join(format!("publish-{}.json", lane.b));
    let run = lane.promote(&lane.b.clone(), &publish_b, &[]);
    run.assert_code(0);
    assert_eq!(
        run.report::<PromoteReport>().outcome,
        PromoteOutcome::Superseded,
        "{}",
        run.stdout
    );
    assert_eq!(lane.tip(), rolled);
    // Nor does a rollback noop: the same rollback again changes nothing.
    let run = lane.rollback(&["--to", &lane.g1.clone()]);
    run.assert_code(0);
    assert_eq!(
        run.report::<RollbackReport>().outcome,
        RollbackOutcome::Noop
    );
    assert_eq!(lane.tip(), rolled);

    // C, newer than B, rolls forward: its intent and images, no rollback record.
    lane.src.write("docs/c.md", "c\n");
    let c = lane.src.commit("source: C");
    let publish_c = lane.build(&c);
    let run = lane.promote(&c, &publish_c, &[]);
    run.assert_code(0);
    assert_eq!(
        run.report::<PromoteReport>().outcome,
        PromoteOutcome::Committed
    );
    let cat = lane.catalog();
    assert_eq!(cat.source_commit, c);
    assert!(cat.rollback.is_none(), "{cat:#?}");
    for (id, _) in services(&lane.deploy) {
        let e = &cat.services[&id];
        assert_eq!(e.status, EntryStatus::Published);
        assert!(e.rollback.is_none());
        assert_eq!(e.digest, lane.digest(&c, &id));
    }
    lane.verify_gitops(&c).assert_code(0);
}

#[test]
fn refuses_an_image_gone_from_the_registry_and_a_commit_outside_the_history() {
    let lane = Lane::new();
    let gone = lane.digest(&lane.a, MGR);
    let (status, _, _) = oci::http(
        &lane.reg.host,
        "DELETE",
        &format!("/v2/agentrun/{MGR}/manifests/{gone}"),
        &[],
    );
    assert_eq!(status, 202, "the registry deletes the manifest");
    let run = lane.rollback(&["--to", &lane.g1, "--service", MGR]);
    run.assert_code(1);
    let err = error_all(&run);
    assert!(
        err.contains("gone from the registry") && err.contains(&gone),
        "{err}"
    );
    assert_eq!(lane.tip(), lane.g2, "nothing was pushed");
    // The whole lane needs it too.
    lane.rollback(&["--to", &lane.g1]).assert_code(1);
    assert_eq!(lane.tip(), lane.g2);
    // The runner's image is still there: rolling back only the runner works.
    lane.rollback(&["--to", &lane.g1, "--service", RUNNER])
        .assert_code(0);

    // A source commit is not a release of the GitOps branch; option-shaped values are refused.
    let run = lane.rollback(&["--to", &lane.a]);
    run.assert_code(1);
    assert!(error_all(&run).contains("not a commit of the GitOps branch"));
    let run = lane.rollback(&["--to=--upload-pack=touch"]);
    run.assert_code(1);
    let run = lane.rollback(&[
        "--to",
        &lane.g1,
        "--requested-by",
        "a\nLane-Rollback: forged",
    ]);
    run.assert_code(2);
}

#[test]
fn a_promote_racing_the_rollback_never_loses_either_commit() {
    let mut lane = Lane::new();
    lane.src.write("docs/c.md", "c\n");
    let c = lane.src.commit("source: C");
    let publish_c = lane.build(&c);
    let rollback = lane.rollback_args(&["--to", &lane.g1, "--service", MGR]);
    let promote = common::promote::promote_args(lane.src.path(), &c, &lane.remote(), &[&publish_c]);
    let barrier = std::sync::Barrier::new(2);
    let (r, p) = std::thread::scope(|s| {
        let r = s.spawn(|| {
            barrier.wait();
            let a: Vec<&str> = rollback.iter().map(String::as_str).collect();
            common::lane(Path::new("/"), &a)
        });
        let p = s.spawn(|| {
            barrier.wait();
            let a: Vec<&str> = promote.iter().map(String::as_str).collect();
            common::lane(Path::new("/"), &a)
        });
        (r.join().unwrap(), p.join().unwrap())
    });
    r.assert_code(0);
    p.assert_code(0);
    let (r, p): (RollbackReport, PromoteReport) = (r.report(), p.report());
    assert_eq!(r.outcome, RollbackOutcome::Committed, "{r:?}");
    assert_eq!(p.outcome, PromoteOutcome::Committed, "{p:?}");
    // Both commits are on the branch, one on top of the other.
    let tip = lane.tip();
    let log = git(&lane.bare(), &["rev-list", "--first-parent", &tip]);
    let history: Vec<&str> = log.lines().collect();
    let (rc, pc) = (r.commit.as_str(), p.commit.as_deref().unwrap());
    assert!(
        history.contains(&rc) && history.contains(&pc),
        "{history:?}"
    );
    assert_eq!(&history[2..], &[lane.g2.as_str(), lane.g1.as_str()]);
    let cat = lane.catalog();
    let mgr = &cat.services[MGR];
    if tip == rc {
        // The promote landed first: the rollback was redone on it, rolling back from C.
        assert_eq!(r.previous_commit, pc);
        assert_eq!(mgr.status, EntryStatus::RolledBack);
        let rb = mgr.rollback.as_ref().expect("rollback record");
        assert_eq!(rb.from.source_commit, c);
        assert_eq!(rb.from.gitops_commit, pc);
        assert_eq!(mgr.digest, lane.digest(&lane.a, MGR));
    } else {
        // The rollback landed first: C is newer than what it rolled back from, so C wins.
        assert_eq!(tip, pc);
        assert_eq!(p.previous_commit.as_deref(), Some(rc));
        assert_eq!(mgr.status, EntryStatus::Published);
        assert_eq!(mgr.digest, lane.digest(&c, MGR));
    }
    assert_eq!(cat.services[RUNNER].digest, lane.digest(&c, RUNNER));
}

#[test]
fn the_rollback_commit_is_signed_like_a_promote() {
    let lane = Lane::new();
    let keys = common::tempdir();
    let key = keys.path().join("id_ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = keys.path().join("allowed");
    std::fs::write(
        &allowed,
        format!("ops@example.invalid namespaces=\"git\" {public}"),
    )
    .unwrap();
    // `--to` as a revision of the GitOps branch: its parent is the first release.
    let to = format!("{GITOPS_BRANCH}~1");
    let run = lane.rollback(&[
        "--to",
        &to,
        "--service",
        RUNNER,
        "--signing-key",
        key.to_str().unwrap(),
    ]);
    run.assert_code(0);
    let rep: RollbackReport = run.report();
    assert!(rep.signed_by.as_deref().unwrap().starts_with("SHA256:"));
    assert_eq!(rep.to.gitops_commit, lane.g1);
    let out = Command::new("git")
        .arg("-C")
        .arg(lane.bare())
        .arg("-c")
        .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
        .args(["verify-commit", &lane.tip()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let remote = lane.remote();
    let run = lane.verify(
        &lane.b,
        &[
            "--only",
            "gitops",
            "--gitops-remote",
            &remote,
            "--allowed-signers",
            allowed.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
}

#[test]
fn a_release_landing_first_makes_the_rollback_redo_on_the_new_tip() {
    // Deterministic CAS: the GitOps remote's pre-receive hook lands another run's commit
    // (a promote of the newer commit C) just before the rollback's first push updates the
    // ref, so the server's old-value check fails it exactly as when another writer wins.
    let mut lane = Lane::new();
    lane.src.write("docs/c.md", "c\n");
    let c = lane.src.commit("source: C");
    let publish_c = lane.build(&c);
    let other = lane.work.path().join("other.git");
    git(
        lane.work.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            lane.bare().to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", other.display());
    let args = common::promote::promote_args(lane.src.path(), &c, &url, &[&publish_c]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    common::lane(Path::new("/"), &a).assert_code(0);
    let pc = remote_head(&other, GITOPS_BRANCH).unwrap();
    git(
        &lane.bare(),
        &[
            "fetch",
            "-q",
            other.to_str().unwrap(),
            &format!("{pc}:refs/other/c"),
        ],
    );
    let marker = lane.work.path().join("hook-fired");
    let hook = lane.bare().join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncat >/dev/null\nif [ ! -e '{m}' ]; then\n  touch '{m}'\n  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/{GITOPS_BRANCH} {pc} {g2}\nfi\n",
            m = marker.display(),
            g2 = lane.g2,
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = lane.rollback(&["--to", &lane.g1, "--service", MGR]);
    run.assert_code(0);
    assert!(marker.exists(), "the hook ran");
    let rep: RollbackReport = run.report();
    assert_eq!(rep.attempts, 2, "{rep:?}");
    assert_eq!(rep.previous_commit, pc);
    let tip = lane.tip();
    assert_eq!(rep.commit, tip);
    assert_eq!(git(&lane.bare(), &["rev-parse", &format!("{tip}^")]), pc);
    // Redone on C's release: it rolls back from C, and the runner keeps C's image.
    let cat = lane.catalog();
    let mgr = &cat.services[MGR];
    assert_eq!(mgr.digest, lane.digest(&lane.a, MGR));
    let rb = mgr.rollback.as_ref().expect("rollback record");
    assert_eq!(rb.from.source_commit, c);
    assert_eq!(rb.from.digest, lane.digest(&c, MGR));
    assert_eq!(rb.from.gitops_commit, pc);
    assert_eq!(cat.services[RUNNER].digest, lane.digest(&c, RUNNER));
    assert_eq!(cat.source_commit, c);
    assert_eq!(lane.trailers(&tip)["Lane-Rollback-From"], pc);
}
