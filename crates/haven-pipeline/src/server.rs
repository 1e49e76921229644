//! The pipeline's control API: runs, approvals, retries and the source's status, behind the
//! state directory's token (the supervisor forwards `/pipeline/...` here).

use std::sync::Arc;

use haven_control::api::{BranchStatus, SourceStatus};
use haven_control::control::{Call, Reply};
use haven_spec::model::Role;
use http::{Method, StatusCode};
use serde_json::json;

use crate::api::{Decision, Retry, RunStatus, StageStatus};
use crate::engine::Ctx;

pub(crate) async fn handle(ctx: &Arc<Ctx>, call: Call) -> Reply {
    let path = call.path.clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&call.method, segments.as_slice()) {
        (&Method::GET, ["runs"]) => match ctx.store.runs(100, false) {
            Ok(runs) => Reply::ok(runs),
            Err(e) => internal(e),
        },
        (&Method::GET, ["runs", id]) => with_run(ctx, id, Reply::ok),
        (&Method::POST, ["runs", id, verb @ ("approve" | "reject")]) => {
            let decision: Decision = if call.body.is_empty() {
                Decision::default()
            } else {
                match call.json() {
                    Ok(d) => d,
                    Err(e) => return e,
                }
            };
            decide(ctx, id, verb == &"approve", decision.comment)
        }
        (&Method::POST, ["runs", id, "retry"]) => {
            let retry: Retry = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            retry_stage(ctx, id, &retry.stage)
        }
        (&Method::GET, ["source"]) => {
            let c = ctx.clone();
            match tokio::task::spawn_blocking(move || source_status(&c)).await {
                Ok(Ok(s)) => Reply::ok(s),
                Ok(Err(e)) => internal(e),
                Err(e) => internal(e),
            }
        }
        _ => Reply::not_found(format!("no route {} {}", call.method, call.path)),
    }
}

fn internal(e: impl std::fmt::Display) -> Reply {
    Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn with_run(ctx: &Ctx, id: &str, f: impl FnOnce(crate::api::Run) -> Reply) -> Reply {
    let Ok(n) = id.parse::<u64>() else {
        return Reply::bad_request(format!(
            "`{id}` is not a run id (a number, `haven pipeline ls`)"
        ));
    };
    match ctx.store.run(n) {
        Ok(Some(run)) => f(run),
        Ok(None) => Reply::not_found(format!("no pipeline run {n} (`haven pipeline ls`)")),
        Err(e) => internal(e),
    }
}

fn decide(ctx: &Ctx, id: &str, approve: bool, comment: Option<String>) -> Reply {
    with_run(ctx, id, |run| {
        if !run.awaiting_approval() {
            let where_ = run
                .stage("Approval")
                .map_or("has no Approval stage".to_owned(), |s| {
                    format!("is {} (its Approval stage is {})", run.status, s.status)
                });
            return Reply::error(
                StatusCode::CONFLICT,
                format!("run {} is not waiting for approval: it {where_}", run.id),
            );
        }
        let Some(idx) = run.stages.iter().position(|s| s.name == "Approval") else {
            return Reply::error(StatusCode::CONFLICT, "no Approval stage");
        };
        let decision = if approve { "approved" } else { "rejected" };
        let stored = ctx
            .store
            .set_detail(
                run.id,
                idx,
                "comment",
                json!(comment.clone().unwrap_or_default()),
            )
            .and_then(|()| {
                ctx.store
                    .set_detail(run.id, idx, "decision", json!(decision))
            });
        if let Err(e) = stored {
            return internal(e);
        }
        ctx.wake.notify_waiters();
        Reply::ok(json!({
            "run": run.id,
            "decision": decision,
            "message": format!("run {} {decision}", run.id),
        }))
    })
}

/// CodePipeline's RetryStageExecution: a failed stage of a failed run runs again, and the run
/// carries on from there.
fn retry_stage(ctx: &Ctx, id: &str, stage: &str) -> Reply {
    with_run(ctx, id, |run| {
        let Some(idx) = run
            .stages
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(stage))
        else {
            let names: Vec<&str> = run.stages.iter().map(|s| s.name.as_str()).collect();
            return Reply::bad_request(format!(
                "run {} has no stage `{stage}`; its stages are {}",
                run.id,
                names.join(", ")
            ));
        };
        let s = &run.stages[idx];
        if run.status != RunStatus::Failed || s.status != StageStatus::Failed {
            return Reply::error(
                StatusCode::CONFLICT,
                format!(
                    "only a failed stage of a failed run can be retried: run {} is {}, its {} stage is {}",
                    run.id, run.status, s.name, s.status
                ),
            );
        }
        let reset = ctx
            .store
            .set_stage(run.id, idx, StageStatus::Pending, "retried")
            .and_then(|()| ctx.store.set_run(run.id, RunStatus::InProgress, ""));
        if let Err(e) = reset {
            return internal(e);
        }
        ctx.wake.notify_waiters();
        Reply::ok(json!({
            "run": run.id,
            "stage": s.name,
            "message": format!("retrying {} of run {}", s.name, run.id),
        }))
    })
}

fn source_status(ctx: &Ctx) -> Result<Vec<SourceStatus>, crate::Error> {
    let mut branches = ctx.spec.source.protected_branches.clone();
    if !branches.contains(&ctx.spec.source.branch) {
        branches.insert(0, ctx.spec.source.branch.clone());
    }
    // The primary's refs and push log are read once for every region.
    let primary = haven_source::PrimaryHeads::read(&ctx.primary)?;
    let all = std::iter::once((ctx.spec.primary().name.as_str(), &ctx.primary, true))
        .chain(ctx.secondaries.iter().map(|(n, r)| (n.as_str(), r, false)));
    let mut out = Vec::new();
    for (region, repo, is_primary) in all {
        let heads = primary.compare((!is_primary).then_some(repo), &branches)?;
        out.push(SourceStatus {
            region: region.to_owned(),
            role: if is_primary {
                Role::Primary
            } else {
                Role::Secondary
            },
            url: repo.url(),
            branches: heads
                .into_iter()
                .map(|h| BranchStatus {
                    branch: h.branch,
                    commit: h.commit,
                    in_sync: h.in_sync,
                    lag_ms: h.lag_ms,
                })
                .collect(),
        });
    }
    Ok(out)
}
