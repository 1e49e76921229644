//! What an earlier run left: its processes, found by their endpoint files, each region's
//! tasks, by the identities its state recorded, and a drill's partition between the regions.

use std::time::Duration;

use haven_control::control::Endpoint;
use haven_control::paths::Paths;
use haven_process::ProcessIdentity;
use haven_spec::settings::Twin;

/// Ends whatever a region process left: its tasks' process groups, by their recorded identity,
/// and its containers. Returns what it could not end.
pub(super) async fn cleanup_region(paths: &Paths, region: &str) -> Vec<String> {
    let db = paths.region_db(region);
    if !db.exists() {
        return Vec::new();
    }
    let containers = match crate::region::containers(paths, region) {
        Ok(c) => c,
        Err(e) => return vec![format!("cannot name {region}'s containers: {e}")],
    };
    let mut problems = match haven_state::Store::open(&db) {
        Ok(store) => crate::region::cleanup_leftovers(&store, &containers).await,
        Err(e) => vec![format!("cannot open {}: {e}", db.display())],
    };
    // The VPC's namespaces, once its tasks are gone.
    problems.extend(crate::region::vpc_cleanup(paths, region));
    problems
}

/// What a twin killed outright (SIGKILL of `haven up`) left, found from the state directory
/// alone: every region's tasks and containers (container tasks outlive their runtime process),
/// whatever the spec says now. Returns what it could not end.
pub async fn cleanup_state(paths: &Paths) -> Vec<String> {
    let dir = paths.root.join("regions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            problems.extend(cleanup_region(paths, &entry.file_name().to_string_lossy()).await);
        }
    }
    problems
}

/// Ends every process a previous run left: edge, regions (by their endpoint files) and tasks;
/// and the partition between the regions, so that the next `haven up` starts connected.
pub async fn cleanup(paths: &Paths, twin: &Twin) {
    let mut endpoints = vec![paths.edge_endpoint(), paths.pipeline_endpoint()];
    endpoints.extend(twin.regions.iter().map(|r| paths.region_endpoint(&r.name)));
    for path in endpoints {
        if let Ok(ep) = Endpoint::read(&path) {
            if ep.is_alive() {
                if let Ok(id) = ProcessIdentity::of(ep.pid) {
                    if let Err(e) = haven_process::terminate(&id, Duration::from_secs(5)).await {
                        tracing::warn!("cannot end pid {}: {e}", ep.pid);
                    }
                }
            }
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::debug!("{}: {e}", path.display());
            }
        }
    }
    for r in &twin.regions {
        for problem in cleanup_region(paths, &r.name).await {
            tracing::warn!("{problem}");
        }
    }
    match super::handler::end_partition(&paths.partition()) {
        Ok(true) => tracing::info!("the partition between the regions ended with the twin"),
        Ok(false) => {}
        Err(e) => tracing::warn!("cannot end the partition between the regions: {e}"),
    }
}
