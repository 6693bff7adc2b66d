//! `lane promote` under concurrency and SIGKILL, against a real `git daemon`.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::gitd::GitDaemon;
use common::gitrepo::git;
use common::promote::*;
use common::{lane, lane_bin, Run};
use lane::promote::{PromoteOutcome, PromoteReport};

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn eight_concurrent_promotes_all_land() {
    let d = GitDaemon::start();
    let bare = d.bare("gitops.git");
    let url = d.url("gitops.git");
    let deploy = deploy_json(6);
    let svcs = services(&deploy);
    assert_eq!(svcs.len(), 8);
    let src = source_repo(&deploy);
    let a = src.head();
    let work = common::tempdir();
    let p = publish_file(work.path(), "init.json", &a, &all_images(&deploy, 1));
    lane(
        Path::new("/"),
        &strs(&promote_args(src.path(), &a, &url, &[&p]))
            .into_iter()
            .chain(["--init"])
            .collect::<Vec<_>>(),
    )
    .assert_code(0);
    let base = remote_head(&bare, GITOPS_BRANCH).unwrap();

    src.write("apps/mgr/change", "1");
    let b = src.commit("release b");
    // Each PipelineRun has its own checkout of the source repository.
    let mut children = Vec::new();
    for (i, (id, kind)) in svcs.iter().enumerate() {
        let clone = work.path().join(format!("src-{i}"));
        git(
            work.path(),
            &[
                "clone",
                "-q",
                "--bare",
                src.path().to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        let pf = publish_file(
            work.path(),
            &format!("p{i}.json"),
            &b,
            &[(id.clone(), kind.clone(), digest(500 + i as u64))],
        );
        let mut args = promote_args(&clone, &b, &url, &[&pf]);
        args.extend([
            "--max-attempts".into(),
            "20".into(),
            "--pipeline-run".into(),
            format!("pr-{i}"),
        ]);
        children.push(
            Command::new(lane_bin())
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let mut attempts = 0;
    for c in children {
        let run = Run::from(c.wait_with_output().unwrap());
        run.assert_code(0);
        let rep: PromoteReport = run.report();
        assert_eq!(rep.outcome, PromoteOutcome::Committed);
        attempts += rep.attempts;
    }
    eprintln!("8 concurrent promotes: {attempts} attempts in total");
    assert!(attempts >= 8);
    let cat = remote_catalog(&bare);
    for (i, (id, _)) in svcs.iter().enumerate() {
        assert_eq!(cat.services[id].digest, digest(500 + i as u64), "{id} lost");
    }
    assert_eq!(cat.source_commit, b);
    let head = remote_head(&bare, GITOPS_BRANCH).unwrap();
    // Eight commits, one per run, in a straight line on top of the base.
    assert_eq!(
        git(&bare, &["rev-list", "--count", &format!("{base}..{head}")]),
        "8"
    );
    assert_eq!(git(&bare, &["rev-list", "--merges", "--count", &head]), "0");
    git(&bare, &["fsck", "--strict"]);
}

#[test]
fn sigkill_at_random_points_leaves_old_or_complete_new_commit() {
    let d = GitDaemon::start();
    let bare = d.bare("gitops.git");
    let url = d.url("gitops.git");
    let deploy = deploy_json(0);
    let src = source_repo(&deploy);
    let c = src.head();
    let work = common::tempdir();
    let p = publish_file(work.path(), "init.json", &c, &all_images(&deploy, 1));
    let mut init = promote_args(src.path(), &c, &url, &[&p]);
    init.push("--init".into());
    lane(Path::new("/"), &strs(&init)).assert_code(0);

    let one = |n: u64| {
        let mut imgs = all_images(&deploy, 1);
        imgs[0].2 = digest(n);
        let pf = publish_file(work.path(), &format!("p{n}.json"), &c, &imgs);
        promote_args(src.path(), &c, &url, &[&pf])
    };
    // How long a whole promote takes here, to spread the kills over it.
    let t = Instant::now();
    lane(Path::new("/"), &strs(&one(1000))).assert_code(0);
    let full = t.elapsed().as_micros() as u64;

    let (mut landed, mut not) = (0, 0);
    for i in 0..20u64 {
        let n = 2000 + i;
        let before = remote_head(&bare, GITOPS_BRANCH).unwrap();
        // Its own process group, killed whole like a container: lane and its git children.
        let mut child = Command::new(lane_bin())
            .args(one(n))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(random_u64() % (full * 15 / 10 + 1)));
        let pgid = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = child.wait();
        // Let the server finish whatever it was doing for the dead client: a push it had
        // whole still lands.
        d.wait_idle();
        let after = remote_head(&bare, GITOPS_BRANCH).unwrap();
        if after == before {
            not += 1;
        } else {
            // The server is idle, so what landed is this run's commit, whole: one commit on
            // the old tip, with this run's catalog and a tree rendered for it.
            landed += 1;
            let parents = git(&bare, &["rev-list", "--parents", "-n", "1", &after]);
            assert_eq!(
                parents,
                format!("{after} {before}"),
                "one commit on the old tip"
            );
            let got = catalog_at(&bare, &after).services["agentrun-mgr"]
                .digest
                .to_string();
            assert_eq!(
                got,
                digest(n),
                "{after}: the catalog of the run just killed"
            );
            let tree = git(&bare, &["ls-tree", "-r", "--name-only", &after, RUNTIME]);
            assert!(!tree.is_empty());
            let all: String = tree
                .lines()
                .map(|f| show(&bare, &after, f).unwrap())
                .collect();
            assert!(
                all.contains(&got),
                "runtime tree of {after} not rendered for its catalog ({got})"
            );
        }
        git(&bare, &["fsck", "--strict", "--no-dangling"]);
    }
    eprintln!("SIGKILL runs: {landed} landed, {not} left the old commit");
    git(src.path(), &["fsck", "--no-dangling"]);
    // Nothing was left locked: the next promote goes through.
    let run = lane(Path::new("/"), &strs(&one(9999)));
    run.assert_code(0);
    assert_eq!(
        remote_catalog(&bare).services["agentrun-mgr"].digest,
        digest(9999)
    );
}

/// A burst: 32 PipelineRuns of 32 different services promote at the same moment with the
/// default settings; every one lands.
#[test]
fn thirty_two_simultaneous_promotes_all_land_with_the_defaults() {
    let d = GitDaemon::start();
    let bare = d.bare("gitops.git");
    let url = d.url("gitops.git");
    let deploy = deploy_json(30);
    let svcs = services(&deploy);
    assert_eq!(svcs.len(), 32);
    let src = source_repo(&deploy);
    let a = src.head();
    let work = common::tempdir();
    let p = publish_file(work.path(), "init.json", &a, &all_images(&deploy, 1));
    let mut init = promote_args(src.path(), &a, &url, &[&p]);
    init.push("--init".into());
    lane(Path::new("/"), &strs(&init)).assert_code(0);
    let children: Vec<_> = svcs
        .iter()
        .enumerate()
        .map(|(i, (id, kind))| {
            let pf = publish_file(
                work.path(),
                &format!("p{i}.json"),
                &a,
                &[(id.clone(), kind.clone(), digest(900 + i as u64))],
            );
            Command::new(lane_bin())
                .args(promote_args(src.path(), &a, &url, &[&pf]))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut attempts = Vec::new();
    for c in children {
        let run = Run::from(c.wait_with_output().unwrap());
        run.assert_code(0);
        attempts.push(run.report::<PromoteReport>().attempts);
    }
    attempts.sort();
    eprintln!(
        "32 simultaneous promotes: attempts min {} median {} max {}",
        attempts[0], attempts[16], attempts[31]
    );
    let cat = remote_catalog(&bare);
    for (i, (id, _)) in svcs.iter().enumerate() {
        assert_eq!(cat.services[id].digest, digest(900 + i as u64), "{id} lost");
    }
}
