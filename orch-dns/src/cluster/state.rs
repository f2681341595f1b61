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
    models: Models,
    owner_ids: HashMap<ObjKey, OwnerId>,
}

/// The models of Services and their slices.
#[derive(Debug, Default)]
struct Models {
    services: HashMap<ObjKey, ServiceModel>,
    /// Slices by Service `(namespace, service)`, then by slice name.
    slices: HashMap<ObjKey, HashMap<String, SliceModel>>,
    /// Which Service each slice `(namespace, slice)` belongs to.
    slice_service: HashMap<ObjKey, String>,
}

impl Models {
    /// The names of Service `key`.
    fn contribution(&self, zones: &Zones, key: &ObjKey) -> Contribution {
        let Some(svc) = self.services.get(key) else {
            return Contribution::new();
        };
        let slices = self.slices.get(key).into_iter().flat_map(|m| m.values());
        match records::service_records(zones, svc, slices) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "Service has no records");
                Contribution::new()
            }
        }
    }

    /// The current contribution of an owner (`""`: the zones' own).
    fn recall(&self, zones: &Zones, owner: &OwnerId) -> Contribution {
        match owner.split_once('/') {
            Some((ns, name)) => self.contribution(zones, &(ns.to_string(), name.to_string())),
            None => records::zone_records(zones),
        }
    }
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
        let models = Models::default();
        writer.set(&OwnerId::from(""), records::zone_records(&zones), &|o| {
            models.recall(&zones, o)
        });
        Self {
            writer,
            models,
            owner_ids: HashMap::new(),
        }
    }

    /// A Service was created or changed.
    pub fn apply_service(&mut self, s: &Service) {
        let key = key_of(s);
        match ServiceModel::from_service(s) {
            Ok(m) => {
                if self.models.services.get(&key) == Some(&m) {
                    return;
                }
                self.models.services.insert(key.clone(), m);
            }
            Err(e) => {
                tracing::warn!(error = %e, "Service ignored");
                self.models.services.remove(&key);
            }
        }
        self.refresh(&key);
    }

    /// A Service was deleted.
    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if self.models.services.remove(&key).is_some() {
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
        let old_service = self.models.slice_service.get(&key).cloned();
        if let Some(old) = &old_service {
            if model.as_ref().map(|m| &m.service) != Some(old) {
                self.remove_slice(&key, old);
            }
        }
        let Some(model) = model else { return };
        let svc_key = (key.0.clone(), model.service.clone());
        let slices = self.models.slices.entry(svc_key.clone()).or_default();
        if slices.get(&key.1) == Some(&model) {
            return;
        }
        self.models
            .slice_service
            .insert(key.clone(), model.service.clone());
        slices.insert(key.1, model);
        self.refresh(&svc_key);
    }

    /// An EndpointSlice was deleted.
    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(svc) = self.models.slice_service.get(&key).cloned() {
            self.remove_slice(&key, &svc);
        }
    }

    fn remove_slice(&mut self, key: &ObjKey, service: &str) {
        self.models.slice_service.remove(key);
        let svc_key = (key.0.clone(), service.to_string());
        if let Some(slices) = self.models.slices.get_mut(&svc_key) {
            slices.remove(&key.1);
            if slices.is_empty() {
                self.models.slices.remove(&svc_key);
            }
        }
        self.refresh(&svc_key);
    }

    /// Recomputes the names of the Service `key`.
    fn refresh(&mut self, key: &ObjKey) {
        let zones = self.writer.zones().clone();
        let contribution = self.models.contribution(&zones, key);
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
        let models = &self.models;
        self.writer
            .set(&owner, contribution, &|o| models.recall(&zones, o));
    }

    /// The Services known, as `(namespace, name)`.
    pub fn service_keys(&self) -> BTreeSet<ObjKey> {
        self.models.services.keys().cloned().collect()
    }

    /// The EndpointSlices known, as `(namespace, name)`.
    pub fn slice_keys(&self) -> BTreeSet<ObjKey> {
        self.models.slice_service.keys().cloned().collect()
    }

    /// Services known.
    pub fn services(&self) -> usize {
        self.models.services.len()
    }
}
