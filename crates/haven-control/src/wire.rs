//! Enums other crates define that the API carries: the spec's region role, routing mode and
//! release strategy, and the ALB's target state. The API spells them as their own crates do
//! (the spec's serde names, the ALB's `as_str`) and reads them back here, because the spec's
//! model derives no `Deserialize` (only its schema does) and the proxy has no serde at all.
//!
//! A field of such a type says `#[serde(with = "crate::wire")]`, or `crate::wire::optional`
//! for an `Option`; an unknown spelling is an error.

use haven_proxy::TargetState;
use haven_spec::model::{Role, RoutingMode, Strategy};
use haven_state::spelling::UnknownSpelling;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// An enum of another crate with one spelling per variant.
pub trait Wire: Copy + PartialEq + 'static {
    /// What the value is, for errors.
    const WHAT: &'static str;
    /// Every variant.
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    fn from_name(text: &str) -> Result<Self, UnknownSpelling> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == text)
            .ok_or_else(|| UnknownSpelling {
                what: Self::WHAT,
                value: text.to_owned(),
            })
    }
}

impl Wire for Role {
    const WHAT: &'static str = "region role";
    const ALL: &'static [Self] = &[Self::Primary, Self::Secondary];

    fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Secondary => "secondary",
        }
    }
}

impl Wire for RoutingMode {
    const WHAT: &'static str = "routing mode";
    const ALL: &'static [Self] = &[Self::Failover, Self::ActiveActive];

    fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::ActiveActive => "active-active",
        }
    }
}

impl Wire for Strategy {
    const WHAT: &'static str = "release strategy";
    const ALL: &'static [Self] = &[Self::BlueGreen, Self::Canary, Self::Linear, Self::Rolling];

    fn name(self) -> &'static str {
        match self {
            Self::BlueGreen => "blue-green",
            Self::Canary => "canary",
            Self::Linear => "linear",
            Self::Rolling => "rolling",
        }
    }
}

impl Wire for TargetState {
    const WHAT: &'static str = "target health";
    const ALL: &'static [Self] = &[
        Self::Initial,
        Self::Healthy,
        Self::Unhealthy,
        Self::Unused,
        Self::Draining,
    ];

    fn name(self) -> &'static str {
        self.as_str()
    }
}

pub fn serialize<T: Wire, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.name())
}

pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    let text = String::deserialize(deserializer)?;
    T::from_name(&text).map_err(D::Error::custom)
}

/// The same for an `Option` (`null` is `None`).
pub mod optional {
    use super::*;

    pub fn serialize<T: Wire, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_some(v.name()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| T::from_name(&text).map_err(D::Error::custom))
            .transpose()
    }
}
