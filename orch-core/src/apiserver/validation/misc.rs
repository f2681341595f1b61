//! Lease (coordination.k8s.io/v1) and Event (core/v1) checks beyond
//! metadata.

use serde_json::Value;

use super::cause::Cause;
use super::common::check_non_negative;
use super::json;

/// Validates a Lease's spec: positive `leaseDurationSeconds`.
pub(super) fn validate_lease(obj: &Value, errs: &mut Vec<Cause>) {
    let Ok(spec) = json::optional_object(json::get(obj.as_object(), "spec"), "spec", errs) else {
        return;
    };
    let duration = json::get(spec, "leaseDurationSeconds");
    if json::int(duration, "spec.leaseDurationSeconds", errs).is_some_and(|d| d <= 0) {
        errs.push(Cause::invalid(
            "spec.leaseDurationSeconds",
            "must be greater than 0",
        ));
    }
    check_non_negative(
        json::get(spec, "leaseTransitions"),
        "spec.leaseTransitions",
        errs,
    );
}

/// Validates an Event: `involvedObject` is required (an empty object counts
/// as missing).
pub(super) fn validate_event(obj: &Value, errs: &mut Vec<Cause>) {
    let involved = json::get(obj.as_object(), "involvedObject");
    if json::is_empty(involved) {
        errs.push(Cause::required("involvedObject"));
    }
    json::object(involved, "involvedObject", errs);
}
