//! Service rules: each entry of `services`, its id, image source, replicas and resources,
//! container arguments, env and config, and the kind's settings. Ports and health are in
//! [`super::network`], volumes in [`super::volumes`], references to ServiceAccounts, Secrets
//! and ConfigMaps in [`super::access`].

use std::collections::BTreeSet;

use super::lane::legacy_name_in;
use super::{access, key_path, network, truncate, volumes, Findings};
use crate::model::intent::{ComponentKind, IntentText, ServiceText};
use crate::model::rules;
use crate::model::ImageRepository;

/// Every service: at least one and at most 1000, ids unique, then each service's rules.
pub fn check_services(d: &IntentText, out: &mut Findings) {
    let sa_names: BTreeSet<&str> = d.service_accounts.iter().map(|s| s.name.as_str()).collect();
    let pvc_names: BTreeSet<&str> = d
        .persistent_volume_claims
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut ids = BTreeSet::new();
    if d.services.is_empty() {
        out.add(
            "$.services".into(),
            "no-services",
            "a lane needs at least one service".into(),
        );
    }
    if d.services.len() > 1000 {
        out.add(
            "$.services".into(),
            "too-many",
            "at most 1000 services per lane".into(),
        );
    }
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        if !crate::model::ServiceId::is_valid(&s.id) {
            out.add(
                format!("{p}.id"),
                "dns1123-label",
                "service id must be a DNS-1123 label of at most 50 characters".into(),
            );
        }
        if !ids.insert(s.id.as_str()) {
            out.add(
                format!("{p}.id"),
                "duplicate",
                format!("service id '{}' appears twice", s.id),
            );
        }
        check_service(s, &p, &sa_names, &pvc_names, out);
        lane_image_repository(d, s, &p, out);
    }
}

/// A lane-registry image's full repository (host and path joined) is what plan, publish, the
/// catalog and the manifests carry: once host and path each pass, the whole must be a
/// repository too, at most 255 characters.
fn lane_image_repository(d: &IntentText, s: &ServiceText, p: &str, out: &mut Findings) {
    if s.upstream.is_some()
        || !rules::is_registry_host(&d.lane.registry.host)
        || !rules::is_repository_path(&s.repository_path(&d.lane))
    {
        return;
    }
    let full = s.image_repository_text(&d.lane);
    if !ImageRepository::is_valid(&full) {
        out.add(
            format!("{p}.imageRepository"),
            "image-repository",
            format!(
                "with the registry host this service's image repository is {} characters, more than 255; shorten imageRepository (or the id)",
                full.len()
            ),
        );
    }
}

/// One service's rules, in report order.
fn check_service(
    s: &ServiceText,
    p: &str,
    sa_names: &BTreeSet<&str>,
    pvc_names: &BTreeSet<&str>,
    out: &mut Findings,
) {
    image_source(s, p, out);
    replicas_and_resources(s, p, out);
    network::service_ports(s, p, out);
    arguments(s, p, out);
    env(s, p, out);
    config(s, p, out);
    volumes::service_volumes(s, p, pvc_names, out);
    access::service_account_ref(s, p, sa_names, out);
    if s.kind == ComponentKind::Deployment && s.job.is_some() {
        out.add(
            format!("{p}.job"),
            "job-settings",
            "job settings apply to kind 'job' only".into(),
        );
    }
}

/// Built (build) or image-only (upstream), never both; build paths and args, the upstream
/// reference, the repository under the lane registry.
fn image_source(s: &ServiceText, p: &str, out: &mut Findings) {
    if s.build.is_some() && s.upstream.is_some() {
        out.add(
            format!("{p}.upstream"),
            "one-image-source",
            "a service is either built (build) or image-only (upstream), not both".into(),
        );
    }
    if let Some(b) = &s.build {
        for (field, v) in [("context", &b.context), ("dockerfile", &b.dockerfile)] {
            if let Some(problem) = rules::repo_path_problem(v) {
                out.add(format!("{p}.build.{field}"), "repo-path", problem.into());
            }
        }
        for (k, v) in &b.args {
            if let Some(l) = legacy_name_in(v) {
                out.add(
                    key_path(&format!("{p}.build.args"), k),
                    "legacy-target",
                    format!("names '{l}', a namespace of the old dev/prod model"),
                );
            }
            if !rules::is_env_name(k) {
                out.add(
                    key_path(&format!("{p}.build.args"), k),
                    "arg-name",
                    "build arg names are letters, digits and _".into(),
                );
            }
        }
        if let Some(t) = &b.target {
            if !rules::is_image_tag(t) {
                out.add(
                    format!("{p}.build.target"),
                    "build-target",
                    "must be a Dockerfile stage name".into(),
                );
            }
        }
    }
    if let Some(u) = &s.upstream {
        // A full image name is at most 255 characters, host included (distribution's
        // reference grammar; deploy/deploy.schema.json says the same).
        if !ImageRepository::is_valid(&u.repository) {
            out.add(
                format!("{p}.upstream.repository"),
                "upstream-repository",
                "must be a fully qualified repository like docker.io/library/redis".into(),
            );
        }
        if !rules::is_image_tag(&u.tag) {
            out.add(
                format!("{p}.upstream.tag"),
                "image-tag",
                "must be a valid image tag".into(),
            );
        }
    }
    if let Some(r) = &s.image_repository {
        if !rules::is_repository_path(r) {
            out.add(
                format!("{p}.imageRepository"),
                "repository-path",
                "must be a repository path under the lane registry, like agentrun/mgr".into(),
            );
        }
    }
}

fn replicas_and_resources(s: &ServiceText, p: &str, out: &mut Findings) {
    if let Some(n) = s.replicas {
        if n > 100 {
            out.add(
                format!("{p}.replicas"),
                "replicas-range",
                "replicas must be between 0 and 100".into(),
            );
        }
        if s.kind == ComponentKind::Job {
            out.add(
                format!("{p}.replicas"),
                "job-replicas",
                "a runner Job template has no replicas".into(),
            );
        }
    }
    for (which, list) in [
        ("requests", &s.resources.requests),
        ("limits", &s.resources.limits),
    ] {
        if let Some(list) = list {
            for (res, q) in [
                ("cpu", &list.cpu),
                ("memory", &list.memory),
                ("ephemeral-storage", &list.ephemeral_storage),
            ] {
                if let Some(q) = q {
                    if !rules::is_quantity(q) {
                        out.add(
                            key_path(&format!("{p}.resources.{which}"), res),
                            "quantity",
                            format!(
                                "'{}' is not a Kubernetes quantity (e.g. 100m, 256Mi)",
                                truncate(q, 40)
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// The container's command and args (credentials in them are found by the raw scan).
fn arguments(s: &ServiceText, p: &str, out: &mut Findings) {
    for (field, list) in [("command", &s.command), ("args", &s.args)] {
        for (i, a) in list.iter().enumerate() {
            if a.chars().count() > rules::MAX_TEXT_CHARS {
                out.add(
                    format!("{p}.{field}[{i}]"),
                    "too-long",
                    "arguments are limited to 4096 bytes".into(),
                );
            }
        }
    }
}

/// Env entries: names, one source each; Secret and ConfigMap references in
/// [`access::key_refs`].
fn env(s: &ServiceText, p: &str, out: &mut Findings) {
    let mut env_names = BTreeSet::new();
    for (i, e) in s.env.iter().enumerate() {
        let ep = format!("{p}.env[{i}]");
        if !rules::is_env_name(&e.name) {
            out.add(
                format!("{ep}.name"),
                "env-name",
                "env names are letters, digits, '_', '-' and '.'".into(),
            );
        }
        if !env_names.insert(e.name.as_str()) {
            out.add(
                format!("{ep}.name"),
                "duplicate",
                format!("env '{}' appears twice", e.name),
            );
        }
        if let Some(l) = e.value.as_deref().and_then(legacy_name_in) {
            out.add(
                format!("{ep}.value"),
                "legacy-target",
                format!("names '{l}', a namespace of the old dev/prod model; a lane only reaches its own namespace and shared services"),
            );
        }
        let sources = e.value.is_some() as u8
            + e.secret_key_ref.is_some() as u8
            + e.config_map_key_ref.is_some() as u8;
        if sources != 1 {
            out.add(
                ep.clone(),
                "env-source",
                "give exactly one of value, secretKeyRef, configMapKeyRef".into(),
            );
        }
        access::key_refs(e, &ep, out);
    }
}

/// `config`: keys that become env names, values that never point at the old model.
fn config(s: &ServiceText, p: &str, out: &mut Findings) {
    for (k, v) in &s.config {
        if let Some(l) = legacy_name_in(v) {
            out.add(
                key_path(&format!("{p}.config"), k),
                "legacy-target",
                format!("names '{l}', a namespace of the old dev/prod model; a lane only reaches its own namespace and shared services"),
            );
        }
        if !rules::is_config_key(k) || !rules::is_env_name(k) {
            out.add(
                key_path(&format!("{p}.config"), k),
                "config-key",
                "config keys become env names: letters, digits and _".into(),
            );
        }
    }
}
