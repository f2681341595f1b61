//! The `pod-template-hash` of a Deployment's pod template: FNV-32a over the
//! template's canonical JSON (plus `status.collisionCount`, to step past a
//! name collision), written with Kubernetes' safe alphabet (no vowels, no
//! look-alike digits). Stable across runs and processes. Also the template
//! comparison that ignores that label.
use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label (on ReplicaSets, their selectors, templates and pods).
pub(super) const HASH_LABEL: &str = "pod-template-hash";

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(state: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(state, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The hash of `template` for collision count `collisions`.
pub(super) fn template_hash(template: &PodTemplateSpec, collisions: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut h = fnv32a(0x811c_9dc5, &json);
    if let Some(c) = collisions {
        h = fnv32a(h, &c.to_le_bytes());
    }
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// `template` without the hash label.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(labels) = m.labels.as_mut() {
            labels.remove(HASH_LABEL);
            if labels.is_empty() {
                m.labels = None;
            }
        }
    }
    t
}

/// Whether two templates are equal but for the hash label.
pub(super) fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// `template` with the hash label set to `hash`.
pub(super) fn with_hash(template: &PodTemplateSpec, hash: &str) -> PodTemplateSpec {
    let mut t = template.clone();
    t.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.into());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}})).unwrap()
    }

    #[test]
    fn hash_is_stable_safe_and_collision_aware() {
        let a = template("x");
        let h = template_hash(&a, None);
        assert_eq!(h, template_hash(&template("x"), None));
        assert_ne!(h, template_hash(&template("y"), None));
        assert_ne!(h, template_hash(&a, Some(1)));
        assert!(h.bytes().all(|b| ALPHANUMS.contains(&b)), "{h}");
        assert!(equal_ignore_hash(&with_hash(&a, &h), &a));
        assert!(!equal_ignore_hash(&with_hash(&template("y"), &h), &a));
    }
}
