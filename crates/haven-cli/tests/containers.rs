//! The container runtime end to end, with real buildah, runc, skopeo and cgroups: `haven up`
//! builds the example's Dockerfile and runs its tasks as containers under their Fargate size,
//! the ECR twin's registry API takes images from standard tools and replicates them, a task
//! past its memory is stopped as ECS stops it and replaced, an entrypoint its user cannot run
//! rolls a release back, and a twin killed outright leaves nothing once the next command has
//! run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A project that runs containers: `haven up` runs the buildspec (a static binary, through the
/// example's `.cargo/config.toml`) and builds the Dockerfile.
fn container_twin(edit: impl FnOnce(String) -> String) -> Twin {
    require_tools(
        &["buildah", "runc", "skopeo", "gcc"],
        "the container runtime's tests",
    );
    let twin = Twin::unbuilt(|text| {
        edit(text.replace("runtime = \"process\" ", "runtime = \"container\" "))
    });
    let out = Command::new("git")
        .args(["init", "-q"])
        .current_dir(twin.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    twin
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

fn proc_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The memory limit of the cgroup `pid` is in, read from whichever hierarchy holds it.
fn memory_limit(pid: u32) -> Option<u64> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        // Limits sit on the task's cgroup, the parent of runc's own (`.../<task>/ctr`).
        let task = Path::new(path).parent()?;
        let rel = task.strip_prefix("/").ok()?;
        let file = if controllers.split(',').any(|c| c == "memory") {
            Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.limit_in_bytes")
        } else if controllers.is_empty() {
            Path::new("/sys/fs/cgroup").join(rel).join("memory.max")
        } else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Ok(v) = text.trim().parse() {
                return Some(v);
            }
        }
    }
    None
}

/// Mounts under `dir`, from this process's mount table.
fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.canonicalize().unwrap();
    table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(&dir))
        .map(str::to_owned)
        .collect()
}

/// Cgroup directories this twin made (`haven/<instance>` in any hierarchy).
fn twin_cgroups(twin: &Twin) -> Vec<PathBuf> {
    let instance = std::fs::read_to_string(twin.path().join(".haven/instance")).unwrap();
    let instance: String = instance.trim().chars().take(12).collect();
    let mut found = Vec::new();
    for root in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for dir in [
            root.path().join("haven").join(&instance),
            Path::new("/sys/fs/cgroup/haven").join(&instance),
        ] {
            if dir.is_dir() {
                found.push(dir);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The registry API of `region` and its password, from `haven image login`.
fn login(twin: &Twin, region: &str) -> (String, String) {
    let logins = json(&twin.haven(&["--json", "image", "login", "--region", region]));
    let l = &logins[0];
    (
        l["repository"].as_str().unwrap().to_owned(),
        l["password"].as_str().unwrap().to_owned(),
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An image of one static C program, built `FROM scratch` with buildah in its own storage and
/// pushed to `repository:tag` with the registry's login, as a user's own tools would.
fn push_c_image(
    work: &Path,
    repository: &str,
    password: &str,
    tag: &str,
    source: &str,
    chmod: &str,
) {
    let src = work.join(format!("{tag}.c"));
    let bin = work.join(tag);
    std::fs::write(&src, source).unwrap();
    run(Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src));
    let storage = work.join("storage");
    let buildah = |args: &[&str]| {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(storage.join("root"))
            .arg("--runroot")
            .arg(storage.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        run(&mut c)
    };
    let name = format!("ctr-{tag}");
    buildah(&["from", "--name", &name, "scratch"]);
    buildah(&[
        "copy",
        "--chmod",
        chmod,
        &name,
        bin.to_str().unwrap(),
        "/app",
    ]);
    buildah(&[
        "config",
        "--entrypoint",
        "[\"/app\"]",
        "--user",
        "10001:10001",
        &name,
    ]);
    buildah(&["commit", "-q", &name, &format!("localhost/{tag}")]);
    buildah(&[
        "push",
        "--tls-verify=false",
        "--creds",
        &format!("AWS:{password}"),
        &format!("localhost/{tag}"),
        &format!("docker://{repository}:{tag}"),
    ]);
}

const MEMORY_HOG: &str = r#"
#include <stdlib.h>
#include <string.h>
/* Touches 64 MiB after 64 MiB until the kernel stops it. */
int main(void) {
    for (;;) {
        char *p = malloc(64 << 20);
        if (!p) return 2;
        memset(p, 1, 64 << 20);
    }
}
"#;

const SERVER_NOT_REACHED: &str = r#"
int main(void) { return 0; }
"#;

#[test]
fn the_twin_runs_the_dockerfile_image_as_fargate_sized_containers_and_leaves_nothing() {
    let mut twin = container_twin(|t| t);
    twin.up();
    let log = twin.log();
    assert!(
        log.contains("Runtime container:") && log.contains("Building Dockerfile with buildah"),
        "{log}"
    );
    let status = twin.status();
    assert_eq!(status["runtime"]["mode"], "container", "{status:#}");
    let image = json(&twin.haven(&["--json", "image", "ls"]));
    let digest = image[0]["digest"].as_str().unwrap().to_owned();
    let mut hello_pids = Vec::new();
    for r in status["regions"].as_array().unwrap() {
        for t in production(r)["tasks"].as_array().unwrap() {
            // Each task: the Dockerfile's image, as a container, with the example's size.
            assert_eq!(t["runtime"], "container", "{t:#}");
            assert_eq!(t["digest"].as_str(), Some(digest.as_str()), "{t:#}");
            assert_eq!(t["limits"]["cpu_units"], 512);
            assert_eq!(t["limits"]["memory_mib"], 1024);
            let runc = t["pid"].as_u64().unwrap() as u32;
            let hello = eventually(10, "the task's container process", || {
                children(runc)
                    .into_iter()
                    .find(|p| proc_field(*p, "Name") == "hello")
            });
            // The Dockerfile's USER, and the task size as the cgroup's hard limit.
            assert!(
                proc_field(hello, "Uid").starts_with("10001"),
                "{}",
                proc_field(hello, "Uid")
            );
            assert_eq!(memory_limit(hello), Some(1024 << 20));
            hello_pids.push(hello);
        }
    }
    // `haven status` says so too: the runtime and why, each task's image and limits.
    let human = twin.haven(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    let short = digest.trim_start_matches("sha256:").get(..12).unwrap();
    assert!(human.contains("runtime container: buildah"), "{human}");
    assert!(
        human.contains(short) && human.contains("container (512 CPU units, 1024 MiB)"),
        "{human}"
    );
    let (code, body) = get(&twin.edge_url()).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("hello from hello-production"), "{body}");
    // The containers' output reaches the logs twin in the awslogs driver's streams.
    let east = production(region(&status, "us-east-1"))["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(20, "a container's start line in its stream", || {
        let out = twin.haven(&["logs", "/haven/hello/ecs/hello-production"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.contains(&format!("production/hello/{east} hello 1.0.0 listening on")))
            .then_some(())
    });

    // A standard tool pulls the image by digest and pushes it under a new tag; the ECR twin
    // scans it and replicates it to the secondary, as ECR's replication does.
    let (repository, password) = login(&twin, "us-east-1");
    let creds = format!("AWS:{password}");
    let layout = twin.path().join("pulled");
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{repository}@{digest}"),
        &format!("oci:{}:copy", layout.display()),
    ]));
    run(Command::new("skopeo").args([
        "copy",
        "-q",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:copy", layout.display()),
        &format!("docker://{repository}:pushed"),
    ]));
    let (west, west_password) = login(&twin, "us-west-2");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let inspected = loop {
        let out = Command::new("skopeo")
            .args([
                "inspect",
                "--tls-verify=false",
                "--creds",
                &format!("AWS:{west_password}"),
                &format!("docker://{west}:pushed"),
            ])
            .output()
            .unwrap();
        if out.status.success() {
            break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pushed tag never reached us-west-2: {}\nus-east-1's log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(twin.path().join(".haven/logs/us-east-1.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
    let wrong = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--creds",
            "AWS:wrong",
            &format!("docker://{repository}:pushed"),
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());

    // SIGKILL of `haven up`: the containers outlive it, and the next command ends them with
    // their mounts and cgroups.
    assert!(!twin_cgroups(&twin).is_empty());
    let out = twin.kill_up_then_down();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(10, "every container process to be gone", || {
        hello_pids.iter().all(|p| !alive(*p)).then_some(())
    });
    assert_eq!(mounts_under(twin.path()), Vec::<String>::new());
    assert_eq!(twin_cgroups(&twin), Vec::<PathBuf>::new());
    for region in ["us-east-1", "us-west-2"] {
        let root = twin.path().join(format!(".haven/regions/{region}/runc"));
        let listed = run(Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"]));
        assert_eq!(listed.trim(), "", "{region}");
    }
}

#[test]
fn a_task_past_its_memory_is_stopped_as_ecs_stops_it_and_an_entrypoint_its_user_cannot_run_rolls_back()
 {
    // The smallest Fargate size: 0.25 vCPU and 512 MiB. At a quarter of a CPU the hog takes a
    // while to fill its memory on a busy machine: failing health checks must not stop it first.
    let mut twin = container_twin(|t| {
        t.replace("cpu = 512 ", "cpu = 256 ")
            .replace("memory = 1024 ", "memory = 512 ")
            .replacen("[local]\n", "[local]\nunhealthy_threshold = 10\n", 1)
    });
    // `haven build` makes the build and, with containers, its image from the Dockerfile: the
    // one `haven up` then starts.
    let built = json(&twin.haven(&["--json", "build"]));
    let built_image = built["image"].as_str().unwrap().to_owned();
    twin.up();
    let before = production(region(&twin.status(), "us-east-1"))["image"].clone();
    assert_eq!(before.as_str(), Some(built_image.as_str()));
    let (repository, password) = login(&twin, "us-east-1");
    let work = tempfile::tempdir().unwrap();
    push_c_image(
        work.path(),
        &repository,
        &password,
        "hog",
        MEMORY_HOG,
        "0755",
    );
    // Root's own 0700 program, run as the image's USER 10001: runc cannot exec it.
    push_c_image(
        work.path(),
        &repository,
        &password,
        "locked",
        SERVER_NOT_REACHED,
        "0700",
    );

    // The hog's tasks pass their 512 MiB: the kernel kills them, each is stopped with ECS's
    // reason and replaced, until the release rolls back.
    let out = twin.haven(&["release", "hog", "--region", "us-east-1"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oom = "OutOfMemoryError: Container killed due to memory usage";
    let events = eventually(60, "the hog's tasks stopped for their memory", || {
        let status = twin.status();
        let events: Vec<String> = production(region(&status, "us-east-1"))["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect();
        (events.iter().filter(|e| e.contains(oom)).count() >= 2).then_some(events)
    });
    let started = events
        .iter()
        .filter(|e| e.contains("has started 1 tasks") && !e.contains(before.as_str().unwrap()))
        .count();
    assert!(started >= 3, "stopped tasks are replaced: {events:#?}");
    assert_eq!(
        production(region(&twin.status(), "us-east-1"))["image"],
        before,
        "rolled back"
    );

    // The locked entrypoint never starts; rolled back too.
    // Once the hog's green set has stopped, which the service waits for before another release.
    let out = eventually(60, "the rolled-back release to finish", || {
        let out = twin.haven(&["release", "locked", "--region", "us-east-1"]);
        let busy = String::from_utf8_lossy(&out.stderr).contains("already in progress");
        (!busy).then_some(out)
    });
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = twin.status();
    let svc = production(region(&status, "us-east-1"));
    let events = svc["events"].to_string();
    assert!(
        events.contains("CannotStartContainerError") && events.contains("permission denied"),
        "{events}\nthe release said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(svc["image"], before, "rolled back");
    assert_eq!(get(&twin.edge_url()).unwrap().0, 200);
    twin.down();
    assert_eq!(twin_cgroups(&twin), Vec::<PathBuf>::new());
    assert_eq!(mounts_under(twin.path()), Vec::<String>::new());
}

#[test]
fn a_push_is_built_from_the_dockerfile_by_the_pipeline_and_production_runs_it() {
    let mut twin = container_twin(|t| t);
    twin.up();
    let clone = clone_source(&twin);
    let main = clone.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replace(
            "const VERSION: &str = \"1.0.0\";",
            "const VERSION: &str = \"2.0.0\";",
        ),
    )
    .unwrap();
    git_ok(&clone, &["commit", "-q", "-am", "hello 2.0.0"]);
    git_ok(&clone, &["push", "-q", "origin", "HEAD:main"]);
    let runs = |twin: &Twin| json(&twin.haven(&["--json", "pipeline", "ls"]));
    let run = eventually(120, "the run to wait for approval", || {
        let runs = runs(&twin);
        let run = runs.as_array()?.first()?.clone();
        let approval = run["stages"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == "Approval")?
            .clone();
        assert_ne!(run["status"], "Failed", "{run:#}");
        (approval["status"] == "InProgress").then_some(run)
    });
    let id = run["id"].to_string();
    // The Build stage's log shows buildah building the Dockerfile.
    let logs = twin.haven(&["pipeline", "logs", &id]);
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("STEP 1/") && logs.contains("FROM scratch") && logs.contains("USER 10001"),
        "{logs}"
    );
    let out = twin.haven(&["pipeline", "approve", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(120, "production to serve 2.0.0 in both regions", || {
        let east = get(&twin.alb_url("us-east-1")).ok()?.1;
        let west = get(&twin.alb_url("us-west-2")).ok()?.1;
        (east.contains(" 2.0.0 ") && west.contains(" 2.0.0 ")).then_some(())
    });
    let done = eventually(120, "the run to succeed", || {
        let run = runs(&twin)[0].clone();
        assert_ne!(run["status"], "Failed", "{run:#}");
        (run["status"] == "Succeeded").then_some(run)
    });
    let image = done["image"].as_str().unwrap().to_owned();
    for r in twin.status()["regions"].as_array().unwrap() {
        // The run's image is the service's, run by its desired count of containers (the
        // blue tasks of the bake may still be there beside them).
        let svc = production(r);
        assert_eq!(svc["image"].as_str(), Some(image.as_str()), "{svc:#}");
        let running = svc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["digest"].as_str() == Some(image.as_str()))
            .inspect(|t| assert_eq!(t["runtime"], "container", "{t:#}"))
            .count();
        assert!(
            running as u64 >= svc["desired"].as_u64().unwrap(),
            "{svc:#}"
        );
    }
    twin.down();
    assert_eq!(twin_cgroups(&twin), Vec::<PathBuf>::new());
}
