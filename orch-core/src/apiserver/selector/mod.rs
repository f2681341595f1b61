//! Label and field selectors, as used by `?labelSelector=` / `?fieldSelector=`
//! on list and watch requests and by the `spec.selector` of workloads and
//! Services. The string syntax and the matching rules follow
//! `k8s.io/apimachinery/pkg/labels` and `.../fields`.

mod error;
mod field;
mod label;
mod lexer;
mod parser;
mod structured;
mod validate;

#[cfg(test)]
mod field_tests;
#[cfg(test)]
mod label_tests;
#[cfg(test)]
mod proptests;

pub use error::SelectorError;
pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};
