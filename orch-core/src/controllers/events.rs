//! Recording core/v1 Events (`orchctl get events`, `kubectl describe`).
//! Repeats of the same reason and message for the same object within ten
//! minutes bump `count` and `lastTimestamp` instead of adding objects.
use std::{collections::HashMap, sync::Arc, time::Instant};

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use kube::{
    api::{Api, Patch, PatchParams, PostParams},
    Client, Resource, ResourceExt,
};
use serde_json::json;
use tokio::sync::Mutex;

use crate::apiserver::meta;

/// Event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Recently written events: (uid, reason, message) → (namespace, name,
/// count, when).
type Recent = HashMap<(String, String, String), (String, String, i32, Instant)>;

/// Writes Events on behalf of one component.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    recent: Arc<Mutex<Recent>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("component", &self.component)
            .finish()
    }
}

/// A reference to any object, for events.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: obj.meta().name.clone(),
        namespace: obj.meta().namespace.clone(),
        uid: obj.meta().uid.clone(),
        resource_version: obj.meta().resource_version.clone(),
        field_path: None,
    }
}

impl Recorder {
    /// A recorder for `component` (for example `default-scheduler`).
    pub fn new(client: Client, component: &str) -> Self {
        Self {
            client,
            component: component.into(),
            recent: Arc::default(),
        }
    }

    /// Records an event about `about`. Failures are logged, never returned:
    /// events are best effort, as in Kubernetes.
    pub async fn record(
        &self,
        about: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) {
        if let Err(e) = self.try_record(about, kind, reason, message).await {
            tracing::debug!(error = %e, reason, "could not record event");
        }
    }

    async fn try_record(
        &self,
        about: &ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let ns = about.namespace.clone().unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let key = (
            about.uid.clone().unwrap_or_default(),
            reason.to_string(),
            message.to_string(),
        );
        let now = meta::now();
        // The lock is held only to read and update the cache, never across
        // an API call, so components can record events concurrently.
        let previous = {
            let mut recent = self.recent.lock().await;
            recent.retain(|_, v| v.3.elapsed().as_secs() < 600);
            recent.get(&key).cloned()
        };
        if let Some((ev_ns, name, count, _)) = previous {
            let count = count + 1;
            let patch = json!({"count": count, "lastTimestamp": now});
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ev_ns);
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .is_ok()
            {
                self.recent
                    .lock()
                    .await
                    .insert(key, (ev_ns, name, count, Instant::now()));
                return Ok(());
            }
        }
        let name = format!(
            "{}.{:x}",
            about.name.clone().unwrap_or_default(),
            rand::random::<u64>()
        );
        let ev: Event = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": about,
            "reason": reason,
            "message": message,
            "type": kind.as_str(),
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self.component},
            "reportingComponent": self.component,
        }))
        .expect("static event shape");
        let created = api.create(&PostParams::default(), &ev).await?;
        self.recent
            .lock()
            .await
            .insert(key, (ns, created.name_any(), 1, Instant::now()));
        Ok(())
    }
}
