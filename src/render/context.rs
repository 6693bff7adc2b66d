//! What gets rendered: one [`Planned`] object per file, with the template that renders it and
//! a typed context. Everything the templates see is built here from the intent and the
//! catalog, so the templates hold layout only and never decide anything.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::RenderError;
use crate::model::intent::{
    AccessMode, ComponentKind, EgressAllow, IngressAllow, Protocol, ResourceList, Service,
};
use crate::model::labels;
use crate::model::{Catalog, CatalogEntry, EntryStatus, Lane, ServiceId};

/// Pod template annotation: hash of the service's ConfigMap data, so that a config change
/// rolls the pods (envFrom is read only at container start).
pub const CONFIG_HASH_ANNOTATION: &str = "lane.dev/config-sha256";
/// Argo CD sync option on PVCs: removing a claim from the intent must not delete its data.
pub const ARGO_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// Copies the projected secret files (named in "$@") into the writable home. The script is
/// constant: file names arrive as positional arguments and paths as env vars, never spliced
/// into the shell text, and no secret content is ever part of the command.
pub const SEED_SCRIPT: &str = r#"set -eu; for f in "$@"; do mkdir -p "$(dirname "$LANE_COPY_TO/$f")"; cp -L "$LANE_COPY_FROM/$f" "$LANE_COPY_TO/$f"; chmod 0600 "$LANE_COPY_TO/$f"; done"#;

/// One object to render into one file.
pub struct Planned<'a> {
    pub template: &'static str,
    pub file: String,
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    /// The service the object belongs to, for error messages.
    pub service: Option<String>,
    pub context: DeferredContext<'a>,
}

#[derive(Serialize)]
pub struct Meta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct TemplateMeta {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct SaCtx {
    meta: Meta,
    automount: bool,
}

#[derive(Serialize)]
struct RuleCtx<'a> {
    api_groups: &'a [String],
    resources: &'a [String],
    verbs: &'a [String],
    resource_names: &'a [String],
}

#[derive(Serialize)]
struct RoleCtx<'a> {
    meta: Meta,
    rules: Vec<RuleCtx<'a>>,
}

#[derive(Serialize)]
struct RoleBindingCtx {
    meta: Meta,
    role: String,
    service_account: String,
}

#[derive(Serialize)]
struct ConfigMapCtx<'a> {
    meta: Meta,
    data: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PvcCtx {
    meta: Meta,
    access_modes: Vec<&'static str>,
    storage_class: Option<String>,
    size: String,
}

#[derive(Serialize)]
struct MetaOnly {
    meta: Meta,
}

#[derive(Serialize, Default)]
struct Peer {
    service: Option<String>,
    namespace: Option<String>,
    cidr: Option<String>,
}

#[derive(Serialize)]
struct NpPort {
    port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct NetpolCtx {
    meta: Meta,
    service: String,
    dns: bool,
    peers: Vec<Peer>,
    ports: Vec<NpPort>,
}

#[derive(Serialize)]
struct SvcPort {
    name: String,
    port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct ServiceCtx {
    meta: Meta,
    service: String,
    ports: Vec<SvcPort>,
}

#[derive(Serialize)]
struct DeploymentCtx {
    meta: Meta,
    service: String,
    replicas: u32,
    recreate: bool,
    pod_meta: TemplateMeta,
    pod: PodCtx,
}

#[derive(Serialize)]
struct JobCtx {
    backoff_limit: Option<u32>,
    active_deadline_seconds: Option<u64>,
    ttl_seconds_after_finished: Option<u32>,
}

#[derive(Serialize)]
struct CronJobCtx {
    meta: Meta,
    job_meta: TemplateMeta,
    job: JobCtx,
    pod_meta: TemplateMeta,
    pod: PodCtx,
}

#[derive(Serialize)]
pub struct PodCtx {
    restart_policy: Option<&'static str>,
    service_account: Option<String>,
    image: String,
    init: Vec<InitCtx>,
    container: ContainerCtx,
    volumes: Vec<PodVolume>,
}

#[derive(Serialize)]
struct InitCtx {
    name: String,
    script: &'static str,
    files: Vec<String>,
    from_path: String,
    to_path: String,
    secret_volume: String,
    home_volume: String,
}

#[derive(Serialize)]
struct ContainerCtx {
    name: String,
    command: Vec<String>,
    args: Vec<String>,
    ports: Vec<ContainerPort>,
    env: Vec<EnvCtx>,
    config_map: Option<String>,
    requests: BTreeMap<&'static str, String>,
    limits: BTreeMap<&'static str, String>,
    probe: Option<ProbeCtx>,
    read_only_root: bool,
    mounts: Vec<MountCtx>,
}

#[derive(Serialize)]
struct ContainerPort {
    name: String,
    container_port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct KeyRefCtx {
    name: String,
    key: String,
    optional: bool,
}

#[derive(Serialize)]
struct EnvCtx {
    name: String,
    value: Option<String>,
    secret: Option<KeyRefCtx>,
    config_map: Option<KeyRefCtx>,
}

#[derive(Serialize)]
struct ProbeCtx {
    path: String,
    port: String,
}

#[derive(Serialize)]
struct MountCtx {
    name: String,
    path: String,
    read_only: bool,
}

#[derive(Serialize)]
struct SecretItemCtx {
    key: String,
    path: String,
}

#[derive(Serialize)]
struct SecretVolCtx {
    secret_name: String,
    items: Vec<SecretItemCtx>,
}

#[derive(Serialize)]
struct PvcVolCtx {
    claim_name: String,
    read_only: bool,
}

#[derive(Serialize)]
struct EmptyDirCtx {
    size_limit: Option<String>,
}

#[derive(Serialize)]
struct PodVolume {
    name: String,
    secret: Option<SecretVolCtx>,
    pvc: Option<PvcVolCtx>,
    empty_dir: Option<EmptyDirCtx>,
}

#[derive(Serialize)]
struct KustomizationCtx<'a> {
    resources: &'a [String],
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

fn access_mode(m: AccessMode) -> &'static str {
    match m {
        AccessMode::ReadWriteOnce => "ReadWriteOnce",
        AccessMode::ReadOnlyMany => "ReadOnlyMany",
        AccessMode::ReadWriteMany => "ReadWriteMany",
        AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
    }
}

/// A template context, built when the object is rendered: building the typed context and
/// turning it into a template value is a good part of a render's work, and this way it runs
/// on the render workers. Validation stays in [`plan`], so errors still come first.
pub type DeferredContext<'a> = Box<dyn FnOnce() -> minijinja::Value + Send + 'a>;

fn deferred<'a, T: Serialize, F: FnOnce() -> T + Send + 'a>(build: F) -> DeferredContext<'a> {
    Box::new(move || minijinja::Value::from(minijinja::value::Serde(&build())))
}

/// The kustomization context (rendered last, once the file list is known).
pub fn kustomization(resources: &[String]) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(&KustomizationCtx { resources }))
}

/// Everything needed to build labels, shared by all objects of one render.
#[derive(Clone, Copy)]
struct Common<'a> {
    lane: &'a Lane,
    catalog: &'a Catalog,
}

impl Common<'_> {
    fn ns(&self) -> String {
        self.lane.names.namespace.to_string()
    }

    /// Labels every object carries.
    fn base_labels(&self, component: &str) -> BTreeMap<String, String> {
        let n = &self.lane.names;
        let mut l = BTreeMap::new();
        l.insert(labels::APP_PART_OF.into(), n.project.clone());
        l.insert(labels::APP_INSTANCE.into(), n.namespace.to_string());
        l.insert(
            labels::APP_MANAGED_BY.into(),
            labels::MANAGED_BY_VALUE.into(),
        );
        l.insert(labels::APP_COMPONENT.into(), component.into());
        l.insert(labels::LANE.into(), n.version.to_string());
        l
    }

    fn base_annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert(
            labels::SOURCE_REPO_ANNOTATION.into(),
            self.lane.names.source_repo.clone(),
        );
        a
    }

    /// Metadata of a lane-wide object (ServiceAccount, RBAC, PVC, default deny): the source
    /// commit is the catalog's newest promoted commit.
    fn lane_meta(&self, name: &str, component: &str) -> Meta {
        let mut labels = self.base_labels(component);
        labels.insert(
            labels::SOURCE_COMMIT.into(),
            self.catalog.source_commit.to_string(),
        );
        Meta {
            name: name.into(),
            namespace: self.ns(),
            labels,
            annotations: self.base_annotations(),
        }
    }

    /// Metadata of an object that belongs to one service.
    fn service_meta(&self, name: &str, svc: &Service, entry: &CatalogEntry) -> Meta {
        let mut labels = self.base_labels(svc.kind.as_str());
        labels.insert(labels::APP_NAME.into(), svc.id.to_string());
        labels.insert(labels::SERVICE.into(), svc.id.to_string());
        labels.insert(
            labels::SOURCE_COMMIT.into(),
            entry.source_commit.to_string(),
        );
        Meta {
            name: name.into(),
            namespace: self.ns(),
            labels,
            annotations: self.base_annotations(),
        }
    }

    /// Pod template metadata: identifies the image, never the run (a reused service must not
    /// restart on every promote).
    fn pod_meta(&self, svc: &Service, entry: &CatalogEntry) -> TemplateMeta {
        let mut labels = self.base_labels(svc.kind.as_str());
        labels.insert(labels::APP_NAME.into(), svc.id.to_string());
        labels.insert(labels::SERVICE.into(), svc.id.to_string());
        if entry.image_status() != EntryStatus::Pinned {
            labels.insert(labels::IMAGE_COMMIT.into(), entry.tag.clone());
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            labels::IMAGE_DIGEST_ANNOTATION.into(),
            entry.digest.to_string(),
        );
        if !svc.config.is_empty() {
            annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash(&svc.config));
        }
        TemplateMeta {
            labels,
            annotations,
        }
    }

    /// Workload object metadata: service metadata plus the pinned image.
    fn workload_meta(&self, svc: &Service, entry: &CatalogEntry) -> Meta {
        let mut m = self.service_meta(&svc.id, svc, entry);
        m.annotations.insert(
            labels::IMAGE_ANNOTATION.into(),
            entry.pinned_image().to_string(),
        );
        m.annotations.insert(
            labels::IMAGE_DIGEST_ANNOTATION.into(),
            entry.digest.to_string(),
        );
        m
    }
}

/// `sha256:` of the ConfigMap data in a canonical form (sorted keys, JSON).
pub fn config_hash(config: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_vec(config).expect("string map serializes");
    let d = Sha256::digest(&json);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn file_name(kind: &str, name: &str) -> String {
    format!("{}-{}.yaml", kind.to_ascii_lowercase(), name)
}

fn planned<'a>(
    template: &'static str,
    api_version: &'static str,
    kind: &'static str,
    name: &str,
    service: Option<&str>,
    context: DeferredContext<'a>,
) -> Planned<'a> {
    Planned {
        template,
        file: file_name(kind, name),
        api_version,
        kind,
        name: name.to_string(),
        service: service.map(str::to_string),
        context,
    }
}

fn invalid(path: String, rule: &'static str, message: String) -> RenderError {
    RenderError::Intent {
        path,
        rule,
        message,
    }
}

/// Plan every object of the lane. Fails on the first enabled service without a catalog
/// entry (`MissingDigest`) or on intent the render cannot express safely.
pub fn plan<'a>(lane: &'a Lane, catalog: &'a Catalog) -> Result<Vec<Planned<'a>>, RenderError> {
    let c = Common { lane, catalog };
    let intent = &lane.intent();
    let mut out = Vec::new();

    // Resolve every enabled service's catalog entry first: a missing digest names the service.
    let mut entries: BTreeMap<&str, &CatalogEntry> = BTreeMap::new();
    for svc in intent.enabled_services() {
        let entry =
            catalog
                .services
                .get(svc.id.as_str())
                .ok_or_else(|| RenderError::MissingDigest {
                    service: svc.id.to_string(),
                })?;
        // The catalog is a checked one (model::check::catalog): its digest is typed and its
        // repository has no tag, digest or whitespace, so nothing here is checked again.
        entries.insert(svc.id.as_str(), entry);
    }

    for sa in &intent.service_accounts {
        out.push(planned(
            "serviceaccount.yaml",
            "v1",
            "ServiceAccount",
            &sa.name,
            None,
            deferred(move || SaCtx {
                meta: c.lane_meta(&sa.name, "rbac"),
                automount: sa.automount_token,
            }),
        ));
        if !sa.rules.is_empty() {
            let rules = sa
                .rules
                .iter()
                .map(|r| RuleCtx {
                    api_groups: &r.api_groups,
                    resources: &r.resources,
                    verbs: &r.verbs,
                    resource_names: &r.resource_names,
                })
                .collect();
            out.push(planned(
                "role.yaml",
                "rbac.authorization.k8s.io/v1",
                "Role",
                &sa.name,
                None,
                deferred(move || RoleCtx {
                    meta: c.lane_meta(&sa.name, "rbac"),
                    rules,
                }),
            ));
            out.push(planned(
                "rolebinding.yaml",
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                &sa.name,
                None,
                deferred(move || RoleBindingCtx {
                    meta: c.lane_meta(&sa.name, "rbac"),
                    role: sa.name.clone(),
                    service_account: sa.name.clone(),
                }),
            ));
        }
    }

    for pvc in &intent.persistent_volume_claims {
        let mut meta = c.lane_meta(&pvc.name, "storage");
        meta.annotations
            .insert(ARGO_SYNC_OPTIONS.into(), "Prune=false".into());
        out.push(planned(
            "persistentvolumeclaim.yaml",
            "v1",
            "PersistentVolumeClaim",
            &pvc.name,
            None,
            deferred(move || PvcCtx {
                meta,
                access_modes: pvc.access_modes.iter().map(|m| access_mode(*m)).collect(),
                storage_class: pvc.storage_class_name.clone(),
                size: pvc.size.clone(),
            }),
        ));
    }

    out.push(planned(
        "networkpolicy-default-deny.yaml",
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "default-deny",
        None,
        deferred(move || MetaOnly {
            meta: c.lane_meta("default-deny", "network-policy"),
        }),
    ));
    plan_network_policies(&c, &entries, &mut out)?;

    for (i, svc) in intent.services.iter().enumerate() {
        if !svc.enabled {
            continue;
        }
        let entry = entries[svc.id.as_str()];
        let p = format!("$.services[{i}]");
        if !svc.config.is_empty() {
            let name = format!("{}-config", svc.id);
            let meta_name = name.clone();
            out.push(planned(
                "configmap.yaml",
                "v1",
                "ConfigMap",
                &name,
                Some(&svc.id),
                deferred(move || ConfigMapCtx {
                    meta: c.service_meta(&meta_name, svc, entry),
                    data: &svc.config,
                }),
            ));
        }
        let pod = pod_ctx(lane, svc, entry, &p)?;
        match svc.kind {
            ComponentKind::Deployment => {
                if !svc.ports.is_empty() {
                    out.push(planned(
                        "service.yaml",
                        "v1",
                        "Service",
                        &svc.id,
                        Some(&svc.id),
                        deferred(move || ServiceCtx {
                            meta: c.service_meta(&svc.id, svc, entry),
                            service: svc.id.to_string(),
                            ports: svc
                                .ports
                                .iter()
                                .map(|port| SvcPort {
                                    name: port.name.clone(),
                                    port: port.service_port.unwrap_or(port.container_port),
                                    protocol: protocol(port.protocol),
                                })
                                .collect(),
                        }),
                    ));
                }
                out.push(planned(
                    "deployment.yaml",
                    "apps/v1",
                    "Deployment",
                    &svc.id,
                    Some(&svc.id),
                    deferred(move || DeploymentCtx {
                        meta: c.workload_meta(svc, entry),
                        service: svc.id.to_string(),
                        replicas: svc.replicas.unwrap_or(1),
                        recreate: needs_recreate(lane, svc),
                        pod_meta: c.pod_meta(svc, entry),
                        pod,
                    }),
                ));
            }
            ComponentKind::Job => {
                let j = svc
                    .job
                    .clone()
                    .unwrap_or(crate::model::intent::JobSettings {
                        backoff_limit: None,
                        active_deadline_seconds: None,
                        ttl_seconds_after_finished: None,
                    });
                out.push(planned(
                    "cronjob.yaml",
                    "batch/v1",
                    "CronJob",
                    &svc.id,
                    Some(&svc.id),
                    deferred(move || {
                        let pod_meta = c.pod_meta(svc, entry);
                        CronJobCtx {
                            meta: c.workload_meta(svc, entry),
                            job_meta: TemplateMeta {
                                labels: pod_meta.labels.clone(),
                                annotations: pod_meta.annotations.clone(),
                            },
                            job: JobCtx {
                                backoff_limit: j.backoff_limit,
                                active_deadline_seconds: j.active_deadline_seconds,
                                ttl_seconds_after_finished: j.ttl_seconds_after_finished,
                            },
                            pod_meta,
                            pod,
                        }
                    }),
                ));
            }
        }
    }
    Ok(out)
}

/// A writable claim that only one node (or pod) may mount cannot be handed over by a rolling
/// update on another node: such Deployments are recreated instead.
fn needs_recreate(lane: &Lane, svc: &Service) -> bool {
    svc.volumes.iter().any(|v| {
        v.pvc.as_ref().is_some_and(|m| {
            !m.read_only
                && lane
                    .intent()
                    .persistent_volume_claims
                    .iter()
                    .find(|c| c.name == m.claim_name)
                    .is_none_or(|c| {
                        c.access_modes.iter().any(|a| {
                            matches!(a, AccessMode::ReadWriteOnce | AccessMode::ReadWriteOncePod)
                        })
                    })
        })
    })
}

fn quantities(list: &Option<ResourceList>) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    if let Some(l) = list {
        if let Some(v) = &l.cpu {
            m.insert("cpu", v.clone());
        }
        if let Some(v) = &l.memory {
            m.insert("memory", v.clone());
        }
        if let Some(v) = &l.ephemeral_storage {
            m.insert("ephemeral-storage", v.clone());
        }
    }
    m
}

fn key_ref(r: &crate::model::intent::KeyRef) -> KeyRefCtx {
    KeyRefCtx {
        name: r.name.clone(),
        key: r.key.clone(),
        optional: r.optional,
    }
}

fn pod_ctx(
    lane: &Lane,
    svc: &Service,
    entry: &CatalogEntry,
    p: &str,
) -> Result<PodCtx, RenderError> {
    let is_job = svc.kind == ComponentKind::Job;
    let mut env: Vec<EnvCtx> = svc
        .env
        .iter()
        .map(|e| EnvCtx {
            name: e.name.clone(),
            value: e.value.clone(),
            secret: e.secret_key_ref.as_ref().map(key_ref),
            config_map: e.config_map_key_ref.as_ref().map(key_ref),
        })
        .collect();
    // The lane is a checked one (model::Lane): each env var has exactly one source
    // (env-source), each volume exactly one (volume-source), a copyFrom names a secret volume
    // of this service (unknown-volume) and the health port one of its ports (unknown-port).

    // Secret volumes that seed a writable home are mounted only in the seed init container:
    // the main container reads the writable copy, never the projection.
    let seed_sources: Vec<&str> = svc
        .volumes
        .iter()
        .filter_map(|v| v.writable_home.as_ref()?.copy_from.as_deref())
        .collect();

    let mut init = Vec::new();
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for v in &svc.volumes {
        if let Some(s) = &v.secret {
            volumes.push(PodVolume {
                name: v.name.clone(),
                secret: Some(SecretVolCtx {
                    secret_name: s.secret_name.clone(),
                    items: s
                        .items
                        .iter()
                        .map(|it| SecretItemCtx {
                            key: it.key.clone(),
                            path: it.path.clone().unwrap_or_else(|| it.key.clone()),
                        })
                        .collect(),
                }),
                pvc: None,
                empty_dir: None,
            });
            if !seed_sources.contains(&v.name.as_str()) {
                mounts.push(MountCtx {
                    name: v.name.clone(),
                    path: v.mount_path.clone(),
                    read_only: true,
                });
            }
        } else if let Some(c) = &v.pvc {
            volumes.push(PodVolume {
                name: v.name.clone(),
                secret: None,
                pvc: Some(PvcVolCtx {
                    claim_name: c.claim_name.clone(),
                    read_only: c.read_only,
                }),
                empty_dir: None,
            });
            mounts.push(MountCtx {
                name: v.name.clone(),
                path: v.mount_path.clone(),
                read_only: c.read_only,
            });
        } else if let Some(h) = &v.writable_home {
            volumes.push(PodVolume {
                name: v.name.clone(),
                secret: None,
                pvc: None,
                empty_dir: Some(EmptyDirCtx {
                    size_limit: h.size_limit.clone(),
                }),
            });
            mounts.push(MountCtx {
                name: v.name.clone(),
                path: v.mount_path.clone(),
                read_only: false,
            });
            if let Some(var) = &h.env {
                env.push(EnvCtx {
                    name: var.clone(),
                    value: Some(v.mount_path.clone()),
                    secret: None,
                    config_map: None,
                });
            }
            let seed = h.copy_from.as_ref().and_then(|from| {
                svc.volumes.iter().find_map(|s| match &s.secret {
                    Some(sec) if &s.name == from => Some((s, sec)),
                    _ => None,
                })
            });
            if let Some((src, sec)) = seed {
                init.push(InitCtx {
                    name: format!("seed-{}", v.name),
                    script: SEED_SCRIPT,
                    files: sec
                        .items
                        .iter()
                        .map(|it| it.path.clone().unwrap_or_else(|| it.key.clone()))
                        .collect(),
                    from_path: src.mount_path.clone(),
                    to_path: v.mount_path.clone(),
                    secret_volume: src.name.clone(),
                    home_volume: v.name.clone(),
                });
            }
        }
    }

    // A read-only root filesystem for long-running services, with a writable /tmp. The
    // runner keeps a writable root: a code agent writes its working trees wherever it runs.
    let read_only_root = !is_job;
    if read_only_root && !svc.volumes.iter().any(|v| v.mount_path == "/tmp") {
        volumes.push(PodVolume {
            name: "lane-tmp".into(),
            secret: None,
            pvc: None,
            empty_dir: Some(EmptyDirCtx {
                size_limit: Some("256Mi".into()),
            }),
        });
        mounts.push(MountCtx {
            name: "lane-tmp".into(),
            path: "/tmp".into(),
            read_only: false,
        });
    }

    let mut seen = std::collections::BTreeSet::new();
    for e in &env {
        if !seen.insert(e.name.as_str()) {
            return Err(invalid(
                format!("{p}.env"),
                "duplicate",
                format!(
                    "env '{}' is set twice (check writableHome.env against env)",
                    e.name
                ),
            ));
        }
    }

    let probe = svc.health.as_ref().map(|h| ProbeCtx {
        path: h.path.clone(),
        port: h.port.clone(),
    });

    let _ = lane;
    Ok(PodCtx {
        restart_policy: is_job.then_some("Never"),
        service_account: svc.service_account.clone(),
        image: entry.pinned_image().to_string(),
        init,
        container: ContainerCtx {
            name: svc.id.to_string(),
            command: svc.command.clone(),
            args: svc.args.clone(),
            ports: svc
                .ports
                .iter()
                .map(|port| ContainerPort {
                    name: port.name.clone(),
                    container_port: port.container_port,
                    protocol: protocol(port.protocol),
                })
                .collect(),
            env,
            config_map: (!svc.config.is_empty()).then(|| format!("{}-config", svc.id)),
            requests: quantities(&svc.resources.requests),
            limits: quantities(&svc.resources.limits),
            probe,
            read_only_root,
            mounts,
        },
        volumes,
    })
}

fn plan_network_policies<'a>(
    c: &Common<'a>,
    entries: &BTreeMap<&str, &'a CatalogEntry>,
    out: &mut Vec<Planned<'a>>,
) -> Result<(), RenderError> {
    let intent = &c.lane.intent();
    let mut counters: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (i, a) in intent.network_policy.ingress.iter().enumerate() {
        let p = format!("$.networkPolicy.ingress[{i}]");
        // A policy for a service that does not run selects no pod: nothing to render.
        let Some(&entry) = entries.get(a.to.as_str()) else {
            continue;
        };
        let svc = intent.service(&a.to).expect("entries come from services");
        let peers = ingress_peers(a);
        if peers.is_empty() {
            // An empty `from` would admit every source: never widen silently.
            return Err(invalid(
                p,
                "empty-allowance",
                "name at least one of fromServices, fromNamespaces, fromCidrs".into(),
            ));
        }
        let mut ports = Vec::new();
        let names: Vec<&str> = if a.ports.is_empty() {
            svc.ports.iter().map(|x| x.name.as_str()).collect()
        } else {
            a.ports.iter().map(String::as_str).collect()
        };
        // Every name is one of the service's ports (unknown-port, a rule of the checked lane).
        for port in names
            .iter()
            .filter_map(|name| svc.ports.iter().find(|x| x.name == *name))
        {
            ports.push(NpPort {
                port: port.container_port,
                protocol: protocol(port.protocol),
            });
        }
        let n = counters.entry((a.to.to_string(), "ingress")).or_default();
        *n += 1;
        let name = format!("{}-ingress-{}", a.to, n);
        let (c, meta_name) = (*c, name.clone());
        out.push(planned(
            "networkpolicy-ingress.yaml",
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &name,
            Some(&a.to),
            deferred(move || NetpolCtx {
                meta: c.service_meta(&meta_name, svc, entry),
                service: a.to.to_string(),
                dns: false,
                peers,
                ports,
            }),
        ));
    }
    for (i, e) in intent.network_policy.egress.iter().enumerate() {
        let p = format!("$.networkPolicy.egress[{i}]");
        let Some(&entry) = entries.get(e.from.as_str()) else {
            continue;
        };
        let svc = intent.service(&e.from).expect("entries come from services");
        let peers = egress_peers(e);
        if peers.is_empty() && !e.dns {
            // An empty `to` would allow every destination: never widen silently.
            return Err(invalid(
                p,
                "empty-allowance",
                "set dns or name at least one of toServices, toNamespaces, toCidrs".into(),
            ));
        }
        let ports = e
            .ports
            .iter()
            .map(|port| NpPort {
                port: *port,
                protocol: "TCP",
            })
            .collect();
        let n = counters.entry((e.from.to_string(), "egress")).or_default();
        *n += 1;
        let name = format!("{}-egress-{}", e.from, n);
        let (c, meta_name) = (*c, name.clone());
        out.push(planned(
            "networkpolicy-egress.yaml",
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &name,
            Some(&e.from),
            deferred(move || NetpolCtx {
                meta: c.service_meta(&meta_name, svc, entry),
                service: e.from.to_string(),
                dns: e.dns,
                peers,
                ports,
            }),
        ));
    }
    Ok(())
}

fn ingress_peers(a: &IngressAllow) -> Vec<Peer> {
    peers(&a.from_services, &a.from_namespaces, &a.from_cidrs)
}

fn egress_peers(e: &EgressAllow) -> Vec<Peer> {
    peers(&e.to_services, &e.to_namespaces, &e.to_cidrs)
}

fn peers(services: &[ServiceId], namespaces: &[String], cidrs: &[String]) -> Vec<Peer> {
    let mut out = Vec::new();
    for s in services {
        out.push(Peer {
            service: Some(s.to_string()),
            ..Peer::default()
        });
    }
    for n in namespaces {
        out.push(Peer {
            namespace: Some(n.clone()),
            ..Peer::default()
        });
    }
    for c in cidrs {
        out.push(Peer {
            cidr: Some(c.clone()),
            ..Peer::default()
        });
    }
    out
}
