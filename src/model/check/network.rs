//! Network rules: a service's ports and health probe, and the NetworkPolicy (every name
//! it refers to exists; CIDRs, namespaces and ports are well formed). Only ClusterIP
//! Services are rendered (docs/architecture.md, "Runtime boundaries").

use std::collections::BTreeSet;

use super::lane::legacy_name_in;
use super::{truncate, Findings};
use crate::model::intent::{IntentText, ServiceText};
use crate::model::rules;

/// A service's ports (names unique, numbers in range) and the health probe on one of them.
pub fn service_ports(s: &ServiceText, p: &str, out: &mut Findings) {
    let mut port_names = BTreeSet::new();
    for (i, port) in s.ports.iter().enumerate() {
        let pp = format!("{p}.ports[{i}]");
        if !rules::is_port_name(&port.name) {
            out.add(
                format!("{pp}.name"),
                "port-name",
                "port names are lowercase, at most 15 characters, with a letter".into(),
            );
        }
        if !port_names.insert(port.name.as_str()) {
            out.add(
                format!("{pp}.name"),
                "duplicate",
                format!("port '{}' appears twice", port.name),
            );
        }
        if port.container_port == 0 {
            out.add(
                format!("{pp}.containerPort"),
                "port-range",
                "ports are 1-65535".into(),
            );
        }
        if port.service_port == Some(0) {
            out.add(
                format!("{pp}.servicePort"),
                "port-range",
                "ports are 1-65535".into(),
            );
        }
    }
    if let Some(h) = &s.health {
        if !h.path.starts_with('/')
            || h.path.chars().any(|c| c.is_whitespace() || c.is_control())
            || h.path.len() > 1024
        {
            out.add(
                format!("{p}.health.path"),
                "health-path",
                "must be an absolute HTTP path like /health".into(),
            );
        }
        if !port_names.contains(h.port.as_str()) {
            out.add(
                format!("{p}.health.port"),
                "unknown-port",
                format!("no port named '{}' on this service", truncate(&h.port, 40)),
            );
        }
    }
}

/// `networkPolicy`: ingress then egress allowances.
pub fn check_network_policy(d: &IntentText, out: &mut Findings) {
    let known: BTreeSet<&str> = d.services.iter().map(|s| s.id.as_str()).collect();
    ingress(d, &known, out);
    egress(&known, d, out);
}

/// Who may reach a service: known services, CIDRs, namespaces, and ports the receiving
/// service has.
fn ingress(d: &IntentText, known: &BTreeSet<&str>, out: &mut Findings) {
    for (i, a) in d.network_policy.ingress.iter().enumerate() {
        let p = format!("$.networkPolicy.ingress[{i}]");
        if !known.contains(a.to.as_str()) {
            out.add(
                format!("{p}.to"),
                "unknown-service",
                format!("no service '{}' in this lane", truncate(&a.to, 60)),
            );
        }
        for (j, s) in a.from_services.iter().enumerate() {
            if !known.contains(s.as_str()) {
                out.add(
                    format!("{p}.fromServices[{j}]"),
                    "unknown-service",
                    format!("no service '{}' in this lane", truncate(s, 60)),
                );
            }
        }
        for (j, c) in a.from_cidrs.iter().enumerate() {
            if !rules::is_ipv4_cidr(c) {
                out.add(
                    format!("{p}.fromCidrs[{j}]"),
                    "cidr",
                    "must be an IPv4 CIDR like 10.0.0.0/8".into(),
                );
            }
        }
        for (j, n) in a.from_namespaces.iter().enumerate() {
            if let Some(l) = legacy_name_in(n) {
                out.add(
                    format!("{p}.fromNamespaces[{j}]"),
                    "legacy-target",
                    format!("'{l}' belongs to the old dev/prod model; a lane never opens to it"),
                );
            } else if !rules::is_dns1123_label(n) {
                out.add(
                    format!("{p}.fromNamespaces[{j}]"),
                    "dns1123-label",
                    "must be a namespace name".into(),
                );
            }
        }
        // Port names refer to the receiving service's ports; a typo would silently open none.
        if let Some(to) = d.service(&a.to) {
            for (j, port) in a.ports.iter().enumerate() {
                if !to.ports.iter().any(|x| &x.name == port) {
                    out.add(
                        format!("{p}.ports[{j}]"),
                        "unknown-port",
                        format!(
                            "service '{}' has no port named '{}'",
                            a.to,
                            truncate(port, 40)
                        ),
                    );
                }
            }
        }
    }
}

/// Where a service may send: known services, namespaces, CIDRs, ports in range.
fn egress(known: &BTreeSet<&str>, d: &IntentText, out: &mut Findings) {
    for (i, e) in d.network_policy.egress.iter().enumerate() {
        let p = format!("$.networkPolicy.egress[{i}]");
        if !known.contains(e.from.as_str()) {
            out.add(
                format!("{p}.from"),
                "unknown-service",
                format!("no service '{}' in this lane", truncate(&e.from, 60)),
            );
        }
        for (j, s) in e.to_services.iter().enumerate() {
            if !known.contains(s.as_str()) {
                out.add(
                    format!("{p}.toServices[{j}]"),
                    "unknown-service",
                    format!("no service '{}' in this lane", truncate(s, 60)),
                );
            }
        }
        for (j, n) in e.to_namespaces.iter().enumerate() {
            if let Some(l) = legacy_name_in(n) {
                out.add(
                    format!("{p}.toNamespaces[{j}]"),
                    "legacy-target",
                    format!("'{l}' belongs to the old dev/prod model; a lane never sends to it"),
                );
            } else if !rules::is_dns1123_label(n) {
                out.add(
                    format!("{p}.toNamespaces[{j}]"),
                    "dns1123-label",
                    "must be a namespace name".into(),
                );
            }
        }
        for (j, c) in e.to_cidrs.iter().enumerate() {
            if !rules::is_ipv4_cidr(c) {
                out.add(
                    format!("{p}.toCidrs[{j}]"),
                    "cidr",
                    "must be an IPv4 CIDR like 10.0.0.0/8".into(),
                );
            }
        }
        for (j, port) in e.ports.iter().enumerate() {
            if *port == 0 {
                out.add(
                    format!("{p}.ports[{j}]"),
                    "port-range",
                    "ports are 1-65535".into(),
                );
            }
        }
    }
}
