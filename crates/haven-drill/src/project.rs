//! What a drill would take on AWS: figures projected from the spec's cloud settings, each with
//! its formula and the documents its values come from.

use haven_spec::Spec;
use haven_spec::model::Scenario;

use crate::report::Projection;

/// The projected AWS figures of `scenario` under `spec`.
pub fn project(spec: &Spec, scenario: Scenario) -> Vec<Projection> {
    let _ = (spec, scenario);
    Vec::new()
}
