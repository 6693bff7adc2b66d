//! List limits: the longest lists deploy.json may hold.

use super::Findings;
use crate::model::intent::IntentText;

/// Longest lists, as deploy/deploy.schema.json states them (`maxItems`/`maxProperties`;
/// tests/suite/schema.rs compares every limit of the two).
pub fn check_list_limits(d: &IntentText, out: &mut Findings) {
    let mut limit = |path: String, len: usize, max: usize| {
        if len > max {
            out.add(
                path,
                "too-many",
                format!("at most {max} entries here, found {len}"),
            );
        }
    };
    limit("$.serviceAccounts".into(), d.service_accounts.len(), 100);
    limit(
        "$.persistentVolumeClaims".into(),
        d.persistent_volume_claims.len(),
        100,
    );
    limit(
        "$.lane.proxy.noProxy".into(),
        d.lane.proxy.no_proxy.len(),
        200,
    );
    for (i, s) in d.services.iter().enumerate() {
        let p = format!("$.services[{i}]");
        limit(format!("{p}.ports"), s.ports.len(), 100);
        limit(format!("{p}.command"), s.command.len(), 256);
        limit(format!("{p}.args"), s.args.len(), 256);
        limit(format!("{p}.env"), s.env.len(), 1000);
        limit(format!("{p}.config"), s.config.len(), 1000);
        limit(format!("{p}.volumes"), s.volumes.len(), 100);
        if let Some(b) = &s.build {
            limit(format!("{p}.build.args"), b.args.len(), 1000);
        }
        for (j, v) in s.volumes.iter().enumerate() {
            if let Some(sec) = &v.secret {
                limit(
                    format!("{p}.volumes[{j}].secret.items"),
                    sec.items.len(),
                    100,
                );
            }
        }
    }
    for (i, sa) in d.service_accounts.iter().enumerate() {
        let p = format!("$.serviceAccounts[{i}]");
        limit(format!("{p}.rules"), sa.rules.len(), 100);
        for (j, r) in sa.rules.iter().enumerate() {
            let rp = format!("{p}.rules[{j}]");
            limit(format!("{rp}.apiGroups"), r.api_groups.len(), 50);
            limit(format!("{rp}.resources"), r.resources.len(), 50);
            limit(format!("{rp}.verbs"), r.verbs.len(), 20);
            limit(format!("{rp}.resourceNames"), r.resource_names.len(), 100);
        }
    }
    for (i, c) in d.persistent_volume_claims.iter().enumerate() {
        limit(
            format!("$.persistentVolumeClaims[{i}].accessModes"),
            c.access_modes.len(),
            4,
        );
    }
    let np = &d.network_policy;
    limit("$.networkPolicy.ingress".into(), np.ingress.len(), 1000);
    limit("$.networkPolicy.egress".into(), np.egress.len(), 1000);
    for (i, a) in np.ingress.iter().enumerate() {
        let p = format!("$.networkPolicy.ingress[{i}]");
        limit(format!("{p}.fromServices"), a.from_services.len(), 1000);
        limit(format!("{p}.fromNamespaces"), a.from_namespaces.len(), 1000);
        limit(format!("{p}.fromCidrs"), a.from_cidrs.len(), 1000);
        limit(format!("{p}.ports"), a.ports.len(), 100);
    }
    for (i, e) in np.egress.iter().enumerate() {
        let p = format!("$.networkPolicy.egress[{i}]");
        limit(format!("{p}.toServices"), e.to_services.len(), 1000);
        limit(format!("{p}.toNamespaces"), e.to_namespaces.len(), 1000);
        limit(format!("{p}.toCidrs"), e.to_cidrs.len(), 1000);
        limit(format!("{p}.ports"), e.ports.len(), 100);
    }
}
