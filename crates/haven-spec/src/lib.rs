//! The `haven.toml` spec: one file describing the whole architecture, read by both targets.
//!
//! Three layers, as in cargo and ruff: [`schema`] (serde types, every key optional, unknown keys
//! rejected), [`model`] (validated values with the seed's defaults) and [`settings`] (what one
//! target needs, resolved). Loading collects every problem at once as [`Diagnostic`]s.

pub mod aws;
mod cidr;
mod diag;
mod duration;
mod load;
pub mod model;
mod render;
mod resolve;
pub mod schema;
pub mod settings;
mod shape;
mod source_map;
mod suggest;

pub use cidr::Cidr;
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use duration::Dur;
pub use load::{LoadError, Loaded, load, load_str, state_dir_despite_errors};
pub use model::Spec;
pub use suggest::did_you_mean;
