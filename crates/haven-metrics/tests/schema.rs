//! `metrics.db` carries its schema version: a fresh file is current, a file from before versions
//! is adopted with its data, a newer haven's file is refused by name.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_metrics::{Error, MetricStore, Query, Retention, Unit};
use haven_sqlite::{file_version, set_file_version};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_764_180_000 + secs)
}

#[test]
fn schema_versions_of_metrics_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    MetricStore::open(&path)
        .unwrap()
        .put("App", "Hits", &[], Unit::Count, 3.0, at(0))
        .unwrap();
    assert_eq!(file_version(&path).unwrap(), 1, "a fresh file is current");

    // A file written before versions existed: adopted, its data kept.
    set_file_version(&path, 0).unwrap();
    let store = MetricStore::open(&path).unwrap();
    let q = Query::new("App", "Hits", at(60)).range(at(0), at(60));
    assert_eq!(store.get_statistics(&q, at(60)).unwrap().len(), 1);
    drop(store);
    assert_eq!(file_version(&path).unwrap(), 1);

    set_file_version(&path, 9).unwrap();
    let refused = [
        MetricStore::open(&path).err().unwrap(),
        MetricStore::open_read_only(&path, Retention::default())
            .err()
            .unwrap(),
    ];
    for err in refused {
        assert!(matches!(err, Error::Open(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("metrics.db") && text.contains("version 9") && text.contains("up to 1"),
            "{text}"
        );
    }
    assert_eq!(file_version(&path).unwrap(), 9, "left untouched");
}
