//! The README's main command, `scripts/e2e.sh`, run whole: git daemon, registry, buildah
//! images, plan → publish → promote → render --no-write → verify, twice.

mod common;

use std::process::Command;

fn validators_pass(dir: &std::path::Path) {
    let kv = common::tools::require("kubernetes-validate");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "kustomization.yaml")
        .collect();
    assert!(
        files.len() > 5,
        "runtime tree has only {} files",
        files.len()
    );
    let out = Command::new(kv)
        .args(["--strict", "-k", "1.30.0"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(common::tools::require("kubectl"))
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_lane_end_to_end_rebuilds_only_the_changed_service() {
    common::tools::require("buildah");
    common::tools::require("docker-registry");
    let work = common::tempdir();
    // With the suite's cluster up (scripts/test.sh), the CD half runs on it too.
    let cluster = std::env::var_os("LANE_CLUSTER_KUBECONFIG").is_some();
    let mut cmd = Command::new(common::repo_root().join("scripts/e2e.sh"));
    cmd.arg("--workdir")
        .arg(work.path())
        .env("LANE_BIN", common::lane_bin());
    if !cluster {
        eprintln!("e2e: no cluster (LANE_CLUSTER_KUBECONFIG unset): the CI half only");
        cmd.arg("--no-cluster");
    }
    let out = cmd.output().expect("run scripts/e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "e2e failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The step-by-step story a user reads.
    for line in [
        "plan: agentrun-mgr=affected, agentrun-runner=affected",
        "plan: agentrun-mgr=affected, agentrun-runner=reused",
        "render --no-write: no changes",
        "verify --only static: 8 passed, 0 failed",
    ] {
        assert!(stdout.contains(line), "missing '{line}' in:\n{stdout}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("summary.json")).unwrap()).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["decisions"]["agentrun-mgr"], "affected");
    assert_eq!(runs[0]["decisions"]["agentrun-runner"], "affected");
    assert_eq!(runs[1]["decisions"]["agentrun-mgr"], "affected");
    assert_eq!(runs[1]["decisions"]["agentrun-runner"], "reused");
    for r in runs {
        assert_eq!(r["outcome"], "committed");
        assert_eq!(r["verify"], true);
        // On the cluster: Argo CD synced, the pods run lane's images, verify passed live,
        // argo, gitops and source with the shipped verify identity.
        if cluster {
            assert_eq!(r["verifyLive"], true, "{r}");
        }
    }
    if cluster {
        assert_eq!(
            stdout
                .matches("verify live,argo,gitops,source: 22 passed, 0 failed")
                .count(),
            2,
            "{stdout}"
        );
    }
    // The GitOps branch holds exactly the two release commits, each tree valid.
    let gitops = work.path().join("gitops-checkout");
    let log = common::gitrepo::git(&gitops, &["log", "--format=%H", "v0.1-gitops"]);
    let commits: Vec<&str> = log.lines().collect();
    assert_eq!(commits.len(), 2, "{log}");
    assert_eq!(commits[0], runs[1]["gitopsCommit"]);
    assert_eq!(commits[1], runs[0]["gitopsCommit"]);
    for c in commits.iter().rev() {
        common::gitrepo::git(&gitops, &["checkout", "-q", c]);
        validators_pass(&gitops.join("deploy/gitops/g14/runtime-v01"));
    }
    // The newest tree is checked out last. Run 2 replaced mgr's image and kept runner's.
    let catalog: serde_json::Value = serde_json::from_slice(
        &std::fs::read(gitops.join("deploy/artifact-catalog.v01.json")).unwrap(),
    )
    .unwrap();
    let c1 = runs[0]["commit"].as_str().unwrap();
    let c2 = runs[1]["commit"].as_str().unwrap();
    assert_eq!(catalog["services"]["agentrun-runner"]["status"], "reused");
    assert_eq!(catalog["services"]["agentrun-runner"]["tag"], c1);
    assert_eq!(catalog["services"]["agentrun-mgr"]["status"], "published");
    assert_eq!(catalog["services"]["agentrun-mgr"]["tag"], c2);
    assert_eq!(catalog["sourceCommit"], c2);
}
