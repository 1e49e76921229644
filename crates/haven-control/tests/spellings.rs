//! Every enum the control API carries comes back equal from JSON (and those of this crate from
//! a SQLite column), spelled as before, and a spelling nobody writes is an error.

#![allow(clippy::unwrap_used)]

use std::fmt::Debug;

use haven_control::api::{RegionState, ServiceState};
use haven_control::wire::{self, Wire};
use haven_proxy::TargetState;
use haven_spec::model::{Role, RoutingMode, Strategy};
use haven_state::spelling::{Spelled, from_sqlite_text, through_json, through_sqlite};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A field of another crate's enum, as the API types carry one.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "T: Wire")]
struct Field<T: Wire> {
    #[serde(with = "wire")]
    value: T,
    #[serde(default, with = "wire::optional")]
    maybe: Option<T>,
}

fn wire_round_trips<T: Wire + Debug>(value: T) {
    let field = Field {
        value,
        maybe: Some(value),
    };
    assert_eq!(through_json(&field).unwrap(), field);
    let json = serde_json::to_value(&field).unwrap();
    assert_eq!(json["value"], value.name());
    let none: Field<T> =
        serde_json::from_value(serde_json::json!({ "value": value.name() })).unwrap();
    assert_eq!(none.maybe, None);
}

fn wire_refuses<T: Wire + Debug>(text: &str) {
    assert!(T::from_name(text).is_err());
    let json = serde_json::json!({ "value": text });
    assert!(
        serde_json::from_value::<Field<T>>(json).is_err(),
        "{text:?}"
    );
}

fn spelled_round_trips<T>(value: T)
where
    T: Spelled
        + Serialize
        + serde::de::DeserializeOwned
        + rusqlite::types::ToSql
        + rusqlite::types::FromSql
        + PartialEq
        + Debug,
{
    assert_eq!(through_json(&value).unwrap(), value);
    assert_eq!(through_sqlite(&value).unwrap(), value);
    assert_eq!(serde_json::to_value(value).unwrap(), value.spelling());
}

fn spelled_refuses<T>(text: &str)
where
    T: Spelled + serde::de::DeserializeOwned + rusqlite::types::FromSql + Debug,
{
    assert!(T::from_spelling(text).is_err());
    assert!(serde_json::from_value::<T>(serde_json::Value::String(text.into())).is_err());
    assert!(from_sqlite_text::<T>(text).is_err());
}

proptest! {
    #[test]
    fn region_states_round_trip(v in proptest::sample::select(RegionState::ALL)) {
        spelled_round_trips(v);
    }

    #[test]
    fn service_states_round_trip(v in proptest::sample::select(ServiceState::ALL)) {
        spelled_round_trips(v);
    }

    #[test]
    fn roles_round_trip(v in proptest::sample::select(Role::ALL)) {
        wire_round_trips(v);
    }

    #[test]
    fn routing_modes_round_trip(v in proptest::sample::select(RoutingMode::ALL)) {
        wire_round_trips(v);
    }

    #[test]
    fn strategies_round_trip(v in proptest::sample::select(Strategy::ALL)) {
        wire_round_trips(v);
    }

    #[test]
    fn target_states_round_trip(v in proptest::sample::select(TargetState::ALL)) {
        wire_round_trips(v);
    }

    #[test]
    fn unknown_spellings_are_errors(text in "\\PC*") {
        prop_assume!(RegionState::from_spelling(&text).is_err());
        prop_assume!(ServiceState::from_spelling(&text).is_err());
        prop_assume!(Role::from_name(&text).is_err());
        prop_assume!(RoutingMode::from_name(&text).is_err());
        prop_assume!(Strategy::from_name(&text).is_err());
        prop_assume!(TargetState::from_name(&text).is_err());
        spelled_refuses::<RegionState>(&text);
        spelled_refuses::<ServiceState>(&text);
        wire_refuses::<Role>(&text);
        wire_refuses::<RoutingMode>(&text);
        wire_refuses::<Strategy>(&text);
        wire_refuses::<TargetState>(&text);
    }
}

/// The API spells another crate's enum as that crate does: the spec's serde names, the ALB's
/// `as_str`. `Role` and the others are checked against the spec's own serializer.
#[test]
fn wire_names_are_their_crates_spellings() {
    fn serde_name(v: impl Serialize) -> String {
        serde_json::to_value(v)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }
    for v in Role::ALL {
        assert_eq!(v.name(), serde_name(v));
    }
    for v in RoutingMode::ALL {
        assert_eq!(v.name(), serde_name(v));
    }
    for v in Strategy::ALL {
        assert_eq!(v.name(), serde_name(v));
    }
    for v in TargetState::ALL {
        assert_eq!(v.name(), v.as_str());
    }
    // The texts `haven status --json` has always printed.
    let spelled: Vec<&str> = RegionState::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(ServiceState::ALL.iter().map(|s| s.as_str()))
        .collect();
    assert_eq!(
        spelled,
        [
            "running", "stopped", "starting", "crashed", "ACTIVE", "FAILED"
        ]
    );
}
