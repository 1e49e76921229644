//! `haven secret` and the Parameter Store twin at work: values from stdin that no output shows,
//! injected into tasks' environments and builds (masked in the build log), signing webhooks,
//! and a missing parameter failing a task's start by name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::sinks::{signed_with, webhook_sink};
use common::*;

const DB_PASSWORD: &str = "pa55-Wörd_with spaces!";
const WEBHOOK_KEY: &str = "hmac-key-8f1e2d";
const BUILD_TOKEN: &str = "build-t0ken-4a7c";

/// The example spec with `service.secrets` turned on.
fn with_secrets(spec: String) -> String {
    let line = "# secrets = { DB_PASSWORD = \"/hello/db-password\" }";
    assert!(spec.contains(line), "the scaffolded spec changed");
    spec.replace(line, "secrets = { DB_PASSWORD = \"/hello/db-password\" }")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every regular file under `dir`, except the parameter store's own directory.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() && path.file_name().is_some_and(|n| n != "secrets") {
                todo.push(path);
            } else if meta.is_file() {
                found.push(path);
            }
        }
    }
    found
}

/// Panics if any file under `dir` (the parameter store aside) holds one of `values`.
fn assert_nowhere(dir: &Path, values: &[&str]) {
    let files = files_under(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for v in values {
            assert!(
                !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
                "{} holds a secret value",
                path.display()
            );
        }
    }
}

#[test]
fn set_ls_rm_never_show_the_value() {
    let twin = Twin::unbuilt(with_secrets);
    let dir = twin.path();

    // Before anything is stored, ls says what the spec needs.
    let (stdout, stderr) = text(&twin.haven(&["secret", "ls"]));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("/hello/db-password is not set (service.secrets.DB_PASSWORD)"),
        "{stderr}"
    );

    // A bad name is refused before the value is read, and nothing is created.
    let out = haven_with_stdin(dir, &["secret", "set", "hello/db"], DB_PASSWORD);
    assert!(!out.status.success());
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("invalid parameter name `hello/db`"),
        "{stderr}"
    );
    assert!(!stdout.contains(DB_PASSWORD) && !stderr.contains(DB_PASSWORD));
    assert!(!dir.join(".haven/secrets").exists());
    // So is an empty value.
    let out = haven_with_stdin(dir, &["secret", "set", "/hello/db-password"], "\n");
    assert!(!out.status.success());
    assert!(text(&out).1.contains("is empty"), "{}", text(&out).1);

    // The variable's name stands for its parameter; one trailing newline is stripped.
    let out = haven_with_stdin(
        dir,
        &["secret", "set", "DB_PASSWORD"],
        &format!("{DB_PASSWORD}\n"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(
            "Stored /hello/db-password (SecureString, version 1) for service.secrets.DB_PASSWORD"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(DB_PASSWORD), "{stderr}");

    // Overwriting makes version 2; --json says so on stdout.
    let out = haven_with_stdin(
        dir,
        &["secret", "set", "/hello/db-password", "--json"],
        DB_PASSWORD,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["type"], "SecureString");
    assert!(!stdout.contains(DB_PASSWORD));

    // A parameter the spec does not use is stored, with a warning.
    let out = haven_with_stdin(dir, &["secret", "set", "/other/unused"], "x1");
    assert!(out.status.success());
    assert!(
        text(&out).1.contains("the spec does not use /other/unused"),
        "{}",
        text(&out).1
    );

    let out = twin.haven(&["secret", "ls"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("NAME"), "{stdout}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row[..3],
        ["/hello/db-password", "SecureString", "2"],
        "{stdout}"
    );
    assert!(row[3].ends_with('Z'), "{stdout}");
    assert_eq!(row[4], "service.secrets.DB_PASSWORD", "{stdout}");
    assert!(lines[2].starts_with("/other/unused"), "{stdout}");
    assert!(!stderr.contains("not set"), "{stderr}");
    for t in [&stdout, &stderr] {
        assert!(!t.contains(DB_PASSWORD));
    }

    let out = twin.haven(&["secret", "ls", "--json"]);
    let (stdout, _) = text(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let first = &json["parameters"][0];
    assert_eq!(first["name"], "/hello/db-password");
    assert_eq!(first["version"], 2);
    assert_eq!(first["used_by"][0], "service.secrets.DB_PASSWORD");
    assert!(first.get("value").is_none(), "{first}");
    assert_eq!(json["missing"], serde_json::json!([]));
    assert!(!stdout.contains(DB_PASSWORD));

    // On disk: only ciphertext, and a private key.
    assert_nowhere(dir, &[DB_PASSWORD]);
    let store = std::fs::read(dir.join(".haven/secrets/parameters.json")).unwrap();
    assert!(
        !store
            .windows(DB_PASSWORD.len())
            .any(|w| w == DB_PASSWORD.as_bytes())
    );
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(dir.join(".haven/secrets/key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    // rm, then rm again names the missing parameter.
    let out = twin.haven(&["secret", "rm", "/hello/db-password"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Deleted /hello/db-password"), "{stderr}");
    assert!(
        stderr.contains("/hello/db-password is still used by service.secrets.DB_PASSWORD"),
        "{stderr}"
    );
    let out = twin.haven(&["secret", "rm", "DB_PASSWORD"]);
    assert!(!out.status.success());
    assert!(
        text(&out)
            .1
            .contains("parameter /hello/db-password does not exist"),
        "{}",
        text(&out).1
    );
    let (stdout, stderr) = text(&twin.haven(&["secret", "ls"]));
    assert!(!stdout.contains("/hello/db-password"), "{stdout}");
    assert!(stderr.contains("/hello/db-password is not set"), "{stderr}");

    // A key others can read is refused, naming it.
    std::fs::set_permissions(
        dir.join(".haven/secrets/key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = twin.haven(&["secret", "ls"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains(".haven/secrets/key has mode 644"),
        "{}",
        text(&out).1
    );
}

#[test]
fn builds_get_parameters_masked() {
    let twin = Twin::unbuilt(|s| s);
    let dir = twin.path();
    std::fs::write(
        dir.join("buildspec.yml"),
        "version: 0.2\n\
         env:\n  parameter-store:\n    X: /hello/build-token\n\
         phases:\n  build:\n    commands:\n      - echo \"token is $X\"\n      - printf '%s' \"$X\" > token.txt\n\
         artifacts:\n  files:\n    - token.txt\n",
    )
    .unwrap();

    // Missing: the build fails and says which parameter.
    let out = twin.haven(&["build"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("/hello/build-token"), "{stderr}");

    let out = haven_with_stdin(dir, &["secret", "set", "/hello/build-token"], BUILD_TOKEN);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = twin.haven(&["build", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = json["build"].as_str().unwrap();
    let log = std::fs::read_to_string(dir.join(format!(".haven/builds/{id}.log"))).unwrap();
    assert!(log.contains("token is ***"), "{log}");
    assert!(!log.contains(BUILD_TOKEN), "{log}");
    // The build had the real value: its artifact holds it.
    let artifact = dir
        .join(json["artifacts"].as_str().unwrap())
        .join("token.txt");
    assert_eq!(std::fs::read_to_string(artifact).unwrap(), BUILD_TOKEN);
    assert!(!stdout.contains(BUILD_TOKEN) && !stderr.contains(BUILD_TOKEN));
}

#[test]
fn tasks_and_webhooks_get_secrets_nothing_shows_them() {
    let (hook, hooks) = webhook_sink();
    let mut twin = Twin::project(|s| {
        with_secrets(s)
            .replace("[local]\n", "[local]\nalarm_period = \"2s\"\n")
            .replace("threshold = 10 ", "threshold = 4 ")
            .replace(
                "email = [\"ops@example.com\"]",
                &format!(
                    "webhooks = [\"http://127.0.0.1:{hook}/hook\"]\nwebhook_secret = \"/hello/webhook-key\""
                ),
            )
    });
    let dir = twin.path().to_owned();
    for (name, value) in [
        ("DB_PASSWORD", DB_PASSWORD),
        ("/hello/webhook-key", WEBHOOK_KEY),
    ] {
        let out = haven_with_stdin(&dir, &["secret", "set", name], value);
        assert!(out.status.success(), "{}", text(&out).1);
    }
    twin.up();

    // Every task of every service has the secret in its environment.
    let status = twin.status();
    let mut pids = Vec::new();
    for r in status["regions"].as_array().unwrap() {
        for svc in r["services"].as_array().unwrap() {
            for t in svc["tasks"].as_array().unwrap() {
                pids.push(t["pid"].as_u64().unwrap());
            }
        }
    }
    assert!(pids.len() >= 5, "{status}");
    let wanted = format!("DB_PASSWORD={DB_PASSWORD}");
    for pid in &pids {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(
            environ.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()),
            "task {pid} lacks DB_PASSWORD"
        );
    }

    // An alarm's webhook is signed with the stored key.
    let edge = twin.edge_url();
    assert_eq!(burst(&format!("{edge}/status/503"), 5, 6), [503; 30]);
    let (headers, body) = eventually(60, "the 5xx alarm's webhook", || {
        hooks
            .lock()
            .unwrap()
            .iter()
            .find(|(_, b)| b.contains("hello-production-target-5xx"))
            .cloned()
    });
    assert!(signed_with(WEBHOOK_KEY, &headers, &body), "{headers}");
    assert!(!signed_with("another key", &headers, &body));

    // Nothing the twin shows or writes holds a value: status, events, logs, databases.
    let values = [DB_PASSWORD, WEBHOOK_KEY];
    let out = twin.haven(&["status", "--json"]);
    let (stdout, stderr) = text(&out);
    for v in values {
        assert!(!stdout.contains(v) && !stderr.contains(v));
    }
    assert_nowhere(&dir.join(".haven"), &values);
    assert!(!twin.log().contains(DB_PASSWORD));

    // Deleted: the task that replaces a killed one cannot start, and status says which
    // parameter it lacks.
    let out = twin.haven(&["secret", "rm", "DB_PASSWORD"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = twin.haven(&["chaos", "kill-task", "--region", "us-east-1"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let failed = twin.wait_status(60, "the service to report the missing parameter", |s| {
        production(region(s, "us-east-1"))["failure"]
            .as_str()
            .is_some_and(|f| f.contains("/hello/db-password"))
    });
    let failure = production(region(&failed, "us-east-1"))["failure"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        failure.contains("ResourceInitializationError")
            && failure.contains("does not exist in the parameter store"),
        "{failure}"
    );
    assert_nowhere(&dir.join(".haven"), &values);
    twin.down();
    assert_nowhere(&dir.join(".haven"), &values);
    assert!(!twin.log().contains(DB_PASSWORD));
}
