//! Lane rules: the `lane` block of deploy.json, the names derived from it, the old dev/prod
//! model's names nowhere, and the GitOps paths; [`check_intent`] runs every typed rule of
//! deploy.json in the order `lane validate` reports them.

use super::{access, limits, network, service, truncate, volumes, Finding, Findings};
use crate::model::intent::{IntentText, LaneSpec};
use crate::model::names::NamesText;
use crate::model::rules;

/// Names that are never a lane target (the old dev/prod model: docs/architecture.md, "Lane names").
const LEGACY_TARGETS: &[&str] = &[
    "agentrun_dev",
    "agentrun_prod",
    "agentrun-dev",
    "agentrun-prod",
    "master",
    "main",
];

/// The old model's namespaces and environments: never a lane's name of any kind, nor a
/// namespace a value points at (`db.agentrun-dev.svc`).
const LEGACY_NAMES: &[&str] = &[
    "agentrun_dev",
    "agentrun_prod",
    "agentrun-dev",
    "agentrun-prod",
];

/// The legacy name `s` is or names as one of its dot, slash, colon, `@`, `=`, `,` or
/// whitespace-separated parts (a DNS name, URL, path or list), if any.
pub(super) fn legacy_name_in(s: &str) -> Option<&'static str> {
    s.split(|c: char| c.is_whitespace() || "./:@=,;".contains(c))
        .find_map(|part| LEGACY_NAMES.iter().find(|l| l.eq_ignore_ascii_case(part)))
        .copied()
}

/// Rules on the typed model, in report order: the lane, its names, the services, list
/// lengths, ServiceAccounts, claims, then the NetworkPolicy.
pub fn check_intent(d: &IntentText) -> Vec<Finding> {
    let mut out = Findings::default();
    let names = NamesText::resolve(&d.lane);
    lane_fields(&d.lane, &mut out);
    derived_names(&names, &mut out);
    legacy_object_names(d, &mut out);
    gitops_paths(&names, &mut out);
    if d.ingress.enabled {
        out.add(
            "$.ingress.enabled".into(),
            "ingress-placeholder",
            "public entry is not part of v0.1; add a reviewed ingress spec before enabling it"
                .into(),
        );
    }

    service::check_services(d, &mut out);
    limits::check_list_limits(d, &mut out);
    access::check_service_accounts(d, &mut out);
    volumes::check_claims(d, &mut out);
    network::check_network_policy(d, &mut out);
    out.into_vec()
}

/// The lane block's own fields: version, project and cluster, repositories, registry, proxy.
fn lane_fields(l: &LaneSpec, out: &mut Findings) {
    if !rules::is_lane_version(&l.version) {
        out.add(
            "$.lane.version".into(),
            "lane-version",
            "must look like v<major>.<minor>, e.g. v0.1".into(),
        );
    }
    for (p, v) in [
        ("$.lane.project", &l.project),
        ("$.lane.cluster", &l.cluster),
    ] {
        if !rules::is_dns1123_label(v) || v.len() > 30 {
            out.add(
                p.into(),
                "dns1123-label",
                "must be a DNS-1123 label of at most 30 characters (it prefixes derived names)"
                    .into(),
            );
        }
    }
    for (p, v) in [
        ("$.lane.sourceRepo", Some(&l.source_repo)),
        ("$.lane.gitopsRepo", l.gitops_repo.as_ref()),
    ] {
        let Some(v) = v else { continue };
        // The same parser promote and plan use before git runs (src/git/remote.rs).
        if let Err(e) = crate::git::remote::Remote::parse(v) {
            out.add(p.into(), "repo-url", e.to_string());
        }
    }
    if !rules::is_registry_host(&l.registry.host) {
        out.add(
            "$.lane.registry.host".into(),
            "registry-host",
            "must be host[:port] with a '.', a port or localhost (a bare name is a Docker Hub namespace), e.g. 127.0.0.1:5000".into(),
        );
    }
    if !rules::is_repository_path(&l.registry.repository_prefix) {
        out.add(
            "$.lane.registry.repositoryPrefix".into(),
            "repository-path",
            "must be lowercase path components like agentrun".into(),
        );
    }
    for (i, np) in l.proxy.no_proxy.iter().enumerate() {
        if np.is_empty() || np.contains([' ', ',']) {
            out.add(
                format!("$.lane.proxy.noProxy[{i}]"),
                "no-proxy",
                "one host, domain or CIDR per entry, without spaces or commas".into(),
            );
        }
    }
    for (p, v) in [
        ("$.lane.proxy.httpProxy", &l.proxy.http_proxy),
        ("$.lane.proxy.httpsProxy", &l.proxy.https_proxy),
    ] {
        if let Some(v) = v {
            if !(v.starts_with("http://")
                || v.starts_with("https://")
                || v.starts_with("socks5://"))
            {
                out.add(
                    p.into(),
                    "proxy-url",
                    "must be an http://, https:// or socks5:// URL".into(),
                );
            }
        }
    }
}

/// Every name the lane resolves to (derived or overridden): formats, and never a name of
/// the old dev/prod model.
fn derived_names(names: &NamesText, out: &mut Findings) {
    for (p, v) in [
        ("$.lane.names.namespace", &names.namespace),
        ("$.lane.names.tektonNamespace", &names.tekton_namespace),
        ("$.lane.names.argoNamespace", &names.argo_namespace),
        ("$.lane.names.pipeline", &names.pipeline),
        (
            "$.lane.names.tektonServiceAccount",
            &names.tekton_service_account,
        ),
        ("$.lane.names.argoProject", &names.argo_project),
        ("$.lane.names.argoApplication", &names.argo_application),
    ] {
        if !rules::is_dns1123_label(v) {
            out.add(
                p.into(),
                "dns1123-label",
                format!(
                    "resolved name '{}' is not a DNS-1123 label",
                    truncate(v, 80)
                ),
            );
        }
    }
    if !names.pipeline_run_prefix.ends_with('-')
        || !rules::is_dns1123_label(names.pipeline_run_prefix.trim_end_matches('-'))
        || names.pipeline_run_prefix.len() > 50
    {
        out.add("$.lane.names.pipelineRunPrefix".into(), "run-prefix", "must be a DNS-1123 prefix ending in '-' (at most 50 characters, leaving room for 12 commit characters)".into());
    }
    for (p, v) in [
        ("$.lane.names.sourceBranch", &names.source_branch),
        ("$.lane.names.gitopsBranch", &names.gitops_branch),
    ] {
        if !rules::is_branch_name(v) {
            out.add(
                p.into(),
                "branch-name",
                format!("'{}' is not a valid git branch name", truncate(v, 80)),
            );
        }
    }
    for (p, v) in [
        ("$.lane.names.namespace", &names.namespace),
        ("$.lane.names.sourceBranch", &names.source_branch),
        ("$.lane.names.gitopsBranch", &names.gitops_branch),
    ] {
        if LEGACY_TARGETS.contains(&v.as_str()) {
            out.add(
                p.into(),
                "legacy-target",
                format!("'{v}' belongs to the old dev/prod model and is never a lane target"),
            );
        }
    }
    for (p, v) in [
        ("$.lane.names.tektonNamespace", &names.tekton_namespace),
        ("$.lane.names.argoNamespace", &names.argo_namespace),
        ("$.lane.names.pipeline", &names.pipeline),
        (
            "$.lane.names.tektonServiceAccount",
            &names.tekton_service_account,
        ),
        ("$.lane.names.argoProject", &names.argo_project),
        ("$.lane.names.argoApplication", &names.argo_application),
    ] {
        if let Some(l) = legacy_name_in(v) {
            out.add(
                p.into(),
                "legacy-target",
                format!("'{l}' belongs to the old dev/prod model and is never part of a lane"),
            );
        }
    }
}

/// Every other object name of the file (deploy/deploy.schema.json: every DNS-1123 name):
/// never one of the old dev/prod model.
fn legacy_object_names(d: &IntentText, out: &mut Findings) {
    let l = &d.lane;
    let mut object_names: Vec<(String, &str)> = vec![
        ("$.lane.project".into(), l.project.as_str()),
        ("$.lane.cluster".into(), l.cluster.as_str()),
    ];
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        object_names.push((format!("{p}.id"), &s.id));
        for (j, e) in s.env.iter().enumerate() {
            for (which, r) in [
                ("secretKeyRef", &e.secret_key_ref),
                ("configMapKeyRef", &e.config_map_key_ref),
            ] {
                if let Some(r) = r {
                    object_names.push((format!("{p}.env[{j}].{which}.name"), &r.name));
                }
            }
        }
        for (j, v) in s.volumes.iter().enumerate() {
            object_names.push((format!("{p}.volumes[{j}].name"), &v.name));
            if let Some(sec) = &v.secret {
                object_names.push((
                    format!("{p}.volumes[{j}].secret.secretName"),
                    &sec.secret_name,
                ));
            }
        }
    }
    for (i, sa) in d.service_accounts.iter().enumerate() {
        object_names.push((format!("$.serviceAccounts[{i}].name"), &sa.name));
    }
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        object_names.push((format!("$.persistentVolumeClaims[{i}].name"), &c.name));
        if let Some(sc) = &c.storage_class_name {
            object_names.push((
                format!("$.persistentVolumeClaims[{i}].storageClassName"),
                sc,
            ));
        }
    }
    for (p, v) in object_names {
        if let Some(l) = legacy_name_in(v) {
            out.add(
                p,
                "legacy-target",
                format!(
                    "'{l}' belongs to the old dev/prod model and is never part of a lane's names"
                ),
            );
        }
    }
}

/// The GitOps branch apart from the source branch; the catalog and runtime paths, each
/// spelled one way and neither inside the other.
fn gitops_paths(names: &NamesText, out: &mut Findings) {
    if names.gitops_branch == names.source_branch {
        out.add("$.lane.names.gitopsBranch".into(), "gitops-is-source", "the GitOps branch must differ from the source branch: nothing machine-written ever lands on the source branch".into());
    }
    let mut paths_ok = true;
    for (p, v) in [
        ("$.lane.names.catalogPath", &names.catalog_path),
        ("$.lane.names.runtimePath", &names.runtime_path),
    ] {
        // promote writes these paths into a git tree and Argo CD reads them back: one
        // spelling per path, so `./x`, `x//y` and `x/` never name the same place twice.
        if let Some(problem) = rules::repo_path_problem(v).or_else(|| rules::gitops_path_problem(v))
        {
            out.add(p.into(), "repo-path", problem.into());
            paths_ok = false;
        }
    }
    if paths_ok {
        let (cat, run) = (&names.catalog_path, &names.runtime_path);
        let problem = if cat == run {
            Some("the catalog path and the runtime path are the same")
        } else if cat.starts_with(&format!("{run}/")) {
            Some("the catalog must not live inside the runtime directory (Argo CD would apply it)")
        } else if run.starts_with(&format!("{cat}/")) {
            Some("the runtime directory must not live under the catalog path (the catalog is one file)")
        } else {
            None
        };
        if let Some(problem) = problem {
            out.add(
                "$.lane.names.catalogPath".into(),
                "catalog-in-runtime",
                problem.into(),
            );
        }
    }
}
