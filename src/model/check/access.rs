//! Access rules: ServiceAccounts and their RBAC rules (least privilege), a service's
//! ServiceAccount, and references to Secrets and ConfigMaps (by name and key, never values).

use std::collections::BTreeSet;

use super::{truncate, Findings};
use crate::model::intent::{EnvVar, IntentText, SecretProjection, ServiceText};
use crate::model::rules;

/// `serviceAccounts`: unique names, RBAC rules with verbs and resources, no wildcards, no
/// listing of Secrets.
pub fn check_service_accounts(d: &IntentText, out: &mut Findings) {
    let mut seen_sa = BTreeSet::new();
    for (i, sa) in d.service_accounts.iter().enumerate() {
        let p = format!("$.serviceAccounts[{i}]");
        if !seen_sa.insert(sa.name.as_str()) {
            out.add(
                format!("{p}.name"),
                "duplicate",
                format!(
                    "ServiceAccount '{}' appears twice; render would write two objects of that name",
                    truncate(&sa.name, 80)
                ),
            );
        }
        if !rules::is_dns1123_subdomain(&sa.name) {
            out.add(
                format!("{p}.name"),
                "dns1123-subdomain",
                "must be a DNS-1123 subdomain".into(),
            );
        }
        for (j, r) in sa.rules.iter().enumerate() {
            if r.verbs.is_empty() || r.resources.is_empty() {
                out.add(
                    format!("{p}.rules[{j}]"),
                    "rbac-rule",
                    "a rule needs at least one verb and one resource".into(),
                );
            }
            for (field, list, max) in [
                ("apiGroups", &r.api_groups, 253),
                ("resources", &r.resources, 253),
                ("verbs", &r.verbs, 63),
                ("resourceNames", &r.resource_names, 253),
            ] {
                for (k, v) in list.iter().enumerate() {
                    if v.chars().count() > max {
                        out.add(
                            format!("{p}.rules[{j}].{field}[{k}]"),
                            "too-long",
                            format!("at most {max} characters (a Kubernetes name)"),
                        );
                    }
                }
            }
            if r.verbs.iter().any(|v| v == "*")
                || r.resources.iter().any(|v| v == "*")
                || r.api_groups.iter().any(|v| v == "*")
            {
                out.add(
                    format!("{p}.rules[{j}]"),
                    "rbac-wildcard",
                    "wildcards are not least privilege; name the groups, resources and verbs"
                        .into(),
                );
            }
            if r.resources.iter().any(|x| x == "secrets")
                && r.verbs.iter().any(|v| v == "list" || v == "watch")
            {
                out.add(
                    format!("{p}.rules[{j}]"),
                    "rbac-secrets",
                    "listing or watching Secrets exposes every value; use get with resourceNames"
                        .into(),
                );
            }
        }
    }
}

/// A service's `serviceAccount` names one of `serviceAccounts`.
pub fn service_account_ref(
    s: &ServiceText,
    p: &str,
    sa_names: &BTreeSet<&str>,
    out: &mut Findings,
) {
    if let Some(sa) = &s.service_account {
        if !sa_names.contains(sa.as_str()) {
            out.add(
                format!("{p}.serviceAccount"),
                "unknown-service-account",
                format!(
                    "no ServiceAccount '{}' in serviceAccounts",
                    truncate(sa, 60)
                ),
            );
        }
    }
}

/// An env entry's `secretKeyRef`/`configMapKeyRef`: an object name and a key. `ep` is the
/// entry's path.
pub fn key_refs(e: &EnvVar, ep: &str, out: &mut Findings) {
    for (which, r) in [
        ("secretKeyRef", &e.secret_key_ref),
        ("configMapKeyRef", &e.config_map_key_ref),
    ] {
        if let Some(r) = r {
            if !rules::is_dns1123_subdomain(&r.name) {
                out.add(
                    format!("{ep}.{which}.name"),
                    "dns1123-subdomain",
                    "must be a Secret/ConfigMap name".into(),
                );
            }
            if !rules::is_config_key(&r.key) {
                out.add(
                    format!("{ep}.{which}.key"),
                    "config-key",
                    "keys are letters, digits, '-', '_' and '.'".into(),
                );
            }
        }
    }
}

/// A secret volume: the Secret's name, and the keys it projects named one by one. `vp` is
/// the volume's path.
pub fn secret_volume(sec: &SecretProjection, vp: &str, out: &mut Findings) {
    if !rules::is_dns1123_subdomain(&sec.secret_name) {
        out.add(
            format!("{vp}.secret.secretName"),
            "dns1123-subdomain",
            "must be a Secret name".into(),
        );
    }
    if sec.items.is_empty() {
        out.add(
            format!("{vp}.secret.items"),
            "secret-items",
            "name the keys to project; projecting a whole Secret hides what the pod reads".into(),
        );
    }
    for (j, it) in sec.items.iter().enumerate() {
        if !rules::is_config_key(&it.key) {
            out.add(
                format!("{vp}.secret.items[{j}].key"),
                "config-key",
                "keys are letters, digits, '-', '_' and '.'".into(),
            );
        }
        if let Some(path) = &it.path {
            if rules::repo_path_problem(path).is_some() {
                out.add(
                    format!("{vp}.secret.items[{j}].path"),
                    "item-path",
                    "must be a relative file name inside the mount".into(),
                );
            }
        }
    }
}
