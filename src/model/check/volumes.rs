//! Volume rules: a service's volumes (names, mount paths, one source each) and the lane's
//! PersistentVolumeClaims. Secret volumes' own rules are in [`super::access`].

use std::collections::BTreeSet;

use super::{access, truncate, Findings};
use crate::model::intent::{IntentText, ServiceText};
use crate::model::rules;

/// A service's `volumes`; `pvc_names` are the claims of `persistentVolumeClaims`.
pub fn service_volumes(s: &ServiceText, p: &str, pvc_names: &BTreeSet<&str>, out: &mut Findings) {
    let secret_vols: BTreeSet<&str> = s
        .volumes
        .iter()
        .filter(|v| v.secret.is_some())
        .map(|v| v.name.as_str())
        .collect();
    let mut vol_names = BTreeSet::new();
    let mut mounts = BTreeSet::new();
    for (i, v) in s.volumes.iter().enumerate() {
        let vp = format!("{p}.volumes[{i}]");
        if !rules::is_dns1123_label(&v.name) {
            out.add(
                format!("{vp}.name"),
                "dns1123-label",
                "volume names are DNS-1123 labels".into(),
            );
        }
        if !vol_names.insert(v.name.as_str()) {
            out.add(
                format!("{vp}.name"),
                "duplicate",
                format!("volume '{}' appears twice", v.name),
            );
        }
        if !v.mount_path.starts_with('/')
            || v.mount_path.split('/').any(|c| c == "..")
            || v.mount_path.contains(':')
        {
            out.add(
                format!("{vp}.mountPath"),
                "mount-path",
                "must be an absolute container path without '..' or ':'".into(),
            );
        }
        if !mounts.insert(v.mount_path.as_str()) {
            out.add(
                format!("{vp}.mountPath"),
                "duplicate",
                "two volumes mount at the same path".into(),
            );
        }
        let sources =
            v.secret.is_some() as u8 + v.pvc.is_some() as u8 + v.writable_home.is_some() as u8;
        if sources != 1 {
            out.add(
                vp.clone(),
                "volume-source",
                "give exactly one of secret, pvc, writableHome".into(),
            );
        }
        if let Some(sec) = &v.secret {
            access::secret_volume(sec, &vp, out);
        }
        if let Some(c) = &v.pvc {
            if !pvc_names.contains(c.claim_name.as_str()) {
                out.add(
                    format!("{vp}.pvc.claimName"),
                    "unknown-pvc",
                    format!(
                        "no PVC '{}' in persistentVolumeClaims",
                        truncate(&c.claim_name, 60)
                    ),
                );
            }
        }
        if let Some(h) = &v.writable_home {
            if let Some(from) = &h.copy_from {
                if !secret_vols.contains(from.as_str()) {
                    out.add(
                        format!("{vp}.writableHome.copyFrom"),
                        "unknown-volume",
                        format!("no secret volume '{}' on this service", truncate(from, 60)),
                    );
                }
            }
            if let Some(e) = &h.env {
                if !rules::is_env_name(e) {
                    out.add(
                        format!("{vp}.writableHome.env"),
                        "env-name",
                        "must be an env var name like CODEX_HOME".into(),
                    );
                }
            }
            if let Some(q) = &h.size_limit {
                if !rules::is_quantity(q) {
                    out.add(
                        format!("{vp}.writableHome.sizeLimit"),
                        "quantity",
                        "must be a Kubernetes quantity like 1Gi".into(),
                    );
                }
            }
        }
    }
}

/// `persistentVolumeClaims`: unique names, sizes, storage classes.
pub fn check_claims(d: &IntentText, out: &mut Findings) {
    let mut seen_pvc = BTreeSet::new();
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        let p = format!("$.persistentVolumeClaims[{i}]");
        if !seen_pvc.insert(c.name.as_str()) {
            out.add(
                format!("{p}.name"),
                "duplicate",
                format!(
                    "PVC '{}' appears twice; render would write two objects of that name",
                    truncate(&c.name, 80)
                ),
            );
        }
        if !rules::is_dns1123_subdomain(&c.name) {
            out.add(
                format!("{p}.name"),
                "dns1123-subdomain",
                "must be a DNS-1123 subdomain".into(),
            );
        }
        if !rules::is_quantity(&c.size) {
            out.add(
                format!("{p}.size"),
                "quantity",
                "must be a Kubernetes quantity like 10Gi".into(),
            );
        }
        if c.storage_class_name
            .as_deref()
            .is_some_and(|n| !rules::is_dns1123_subdomain(n))
        {
            out.add(
                format!("{p}.storageClassName"),
                "dns1123-subdomain",
                "must be a StorageClass name".into(),
            );
        }
    }
}
