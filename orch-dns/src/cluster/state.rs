//! The cluster as DNS sees it: the models of every Service and
//! EndpointSlice, and the zone writer they feed. Each change recomputes the
//! names of the one Service it concerns and hands them to the writer, which
//! compiles only what differs.
use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

use super::model::{ServiceModel, SliceModel};
use crate::{
    records,
    zone::{Contribution, OwnerId, Table, ZoneWriter, Zones},
};

/// `(namespace, name)`.
pub type ObjKey = (String, String);

/// Models of the cluster and the zones they produce.
#[derive(Debug)]
pub struct ClusterState {
    writer: ZoneWriter,
    services: HashMap<ObjKey, ServiceModel>,
    /// Slices by Service `(namespace, service)`, then by slice name.
    slices: HashMap<ObjKey, HashMap<String, SliceModel>>,
    /// Which Service each slice `(namespace, slice)` belongs to.
    slice_service: HashMap<ObjKey, String>,
    owner_ids: HashMap<ObjKey, OwnerId>,
}

fn key_of<K: kube::Resource>(o: &K) -> ObjKey {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone().unwrap_or_default(),
    )
}

impl ClusterState {
    /// A state writing to `table`, holding the zones' own records.
    pub fn new(table: Arc<Table>, zones: Arc<Zones>) -> Self {
        let mut writer = ZoneWriter::new(table, zones.clone());
        writer.set(&OwnerId::from(""), records::zone_records(&zones));
        Self {
            writer,
            services: HashMap::new(),
            slices: HashMap::new(),
            slice_service: HashMap::new(),
            owner_ids: HashMap::new(),
        }
    }

    /// A Service was created or changed.
    pub fn apply_service(&mut self, s: &Service) {
        let key = key_of(s);
        match ServiceModel::from_service(s) {
            Ok(m) => {
                if self.services.get(&key) == Some(&m) {
                    return;
                }
                self.services.insert(key.clone(), m);
            }
            Err(e) => {
                tracing::warn!(error = %e, "Service ignored");
                self.services.remove(&key);
            }
        }
        self.refresh(&key);
    }

    /// A Service was deleted.
    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if self.services.remove(&key).is_some() {
            self.refresh(&key);
        }
    }

    /// An EndpointSlice was created or changed.
    pub fn apply_slice(&mut self, s: &EndpointSlice) {
        let key = key_of(s);
        let model = match SliceModel::from_slice(s) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "EndpointSlice ignored");
                None
            }
        };
        // A slice that moved to another Service leaves the old one.
        let old_service = self.slice_service.get(&key).cloned();
        if let Some(old) = &old_service {
            if model.as_ref().map(|m| &m.service) != Some(old) {
                self.remove_slice(&key, old);
            }
        }
        let Some(model) = model else { return };
        let svc_key = (key.0.clone(), model.service.clone());
        let slices = self.slices.entry(svc_key.clone()).or_default();
        if slices.get(&key.1) == Some(&model) {
            return;
        }
        self.slice_service
            .insert(key.clone(), model.service.clone());
        slices.insert(key.1, model);
        self.refresh(&svc_key);
    }

    /// An EndpointSlice was deleted.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(svc) = self.slice_service.get(&key).cloned() {
            self.remove_slice(&key, &svc);
        }
    }

    fn remove_slice(&mut self, key: &ObjKey, service: &str) {
        self.slice_service.remove(key);
        let svc_key = (key.0.clone(), service.to_string());
        if let Some(slices) = self.slices.get_mut(&svc_key) {
            slices.remove(&key.1);
            if slices.is_empty() {
                self.slices.remove(&svc_key);
            }
        }
        self.refresh(&svc_key);
    }

    /// Recomputes the names of the Service `key`.
    fn refresh(&mut self, key: &ObjKey) {
        let contribution = match self.services.get(key) {
            None => Contribution::new(),
            Some(svc) => {
                let slices = self.slices.get(key).into_iter().flat_map(|m| m.values());
                match records::service_records(self.writer.zones(), svc, slices) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "Service has no records");
                        Contribution::new()
                    }
                }
            }
        };
        let owner = match self.owner_ids.get(key) {
            Some(o) => o.clone(),
            None => {
                if contribution.is_empty() {
                    return;
                }
                let o: OwnerId = format!("{}/{}", key.0, key.1).into();
                self.owner_ids.insert(key.clone(), o.clone());
                o
            }
        };
        if contribution.is_empty() {
            self.owner_ids.remove(key);
        }
        self.writer.set(&owner, contribution);
    }

    /// The Services known, as `(namespace, name)`.
    pub fn service_keys(&self) -> BTreeSet<ObjKey> {
        self.services.keys().cloned().collect()
    }

    /// The EndpointSlices known, as `(namespace, name)`.
    pub fn slice_keys(&self) -> BTreeSet<ObjKey> {
        self.slice_service.keys().cloned().collect()
    }

    /// Services known.
    pub fn services(&self) -> usize {
        self.services.len()
    }
}
