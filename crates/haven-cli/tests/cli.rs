//! The `haven` command as a user runs it: real processes in temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn haven(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haven"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("HAVEN_SPEC")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replaces the temp dir in output so snapshots are stable.
fn redact(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "[DIR]")
}

#[test]
fn init_scaffolds_a_valid_project() {
    let tmp = tempfile::tempdir().unwrap();
    let out = haven(tmp.path(), &["init", "app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    insta::assert_snapshot!("init_stderr", text(&out.stderr));
    insta::assert_snapshot!("init_stdout", text(&out.stdout));

    let app = tmp.path().join("app");
    let out = haven(&app, &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "       Valid haven.toml\n");

    let out = haven(&app, &["show", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    insta::assert_snapshot!("show_json", json);

    let out = haven(&app, &["show"]);
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(
        shown.contains("[service.health_check]\npath = \"/health\""),
        "{shown}"
    );

    // `haven show > haven.toml` writes a spec that validates and resolves to the same model.
    std::fs::write(app.join("haven.toml"), &shown).unwrap();
    let out = haven(&app, &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}\n{shown}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "       Valid haven.toml\n");
    assert_eq!(text(&haven(&app, &["show", "--json"]).stdout), json);
    assert_eq!(text(&haven(&app, &["show"]).stdout), shown);
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("haven.toml"), "# mine\n").unwrap();
    let out = haven(tmp.path(), &["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists; use `haven init --force`"));
    // Nothing else was written.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("haven.toml")).unwrap(),
        "# mine\n"
    );

    let out = haven(tmp.path(), &["init", "--force"]);
    assert!(out.status.success());
    assert!(
        std::fs::read_to_string(tmp.path().join("haven.toml"))
            .unwrap()
            .contains("[project]")
    );
}

#[test]
fn validate_exit_codes_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(haven(tmp.path(), &["init"]).status.success());
    let spec = tmp.path().join("haven.toml");
    let good = std::fs::read_to_string(&spec).unwrap();
    let bad = good
        .replace("port = 8080 ", "prot = 8080 ")
        .replace("vpc_cidr = \"10.1.0.0/16\"", "vpc_cidr = \"10.0.0.0/16\"")
        .replace(
            "email = [\"ops@example.com\"]",
            "email = [\"ops-at-example.com\"]",
        );
    std::fs::write(&spec, &bad).unwrap();

    let out = haven(tmp.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("validate_invalid", redact(&text(&out.stderr), tmp.path()));

    let out = haven(tmp.path(), &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"], 3);
    let keys: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "regions[1].vpc_cidr",
            "service.prot",
            "notifications.topics.alerts.email[0]"
        ]
    );

    // Usage errors exit 2; a missing file is an error naming it.
    assert_eq!(
        haven(tmp.path(), &["validate", "--bogus"]).status.code(),
        Some(2)
    );
    let out = haven(tmp.path(), &["validate", "--spec", "nope.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read spec `nope.toml`"),
        "{}",
        text(&out.stderr)
    );

    // `show` refuses an invalid spec and prints its problems.
    let out = haven(tmp.path(), &["show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("unknown key `prot`"));
}

#[test]
fn help_and_completions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = haven(tmp.path(), &["--help"]);
    assert!(out.status.success());
    insta::assert_snapshot!("help", text(&out.stdout));
    for shell in ["bash", "zsh", "fish"] {
        let out = haven(tmp.path(), &["completions", shell]);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("validate"), "{shell}");
    }
}

/// Colour is decided per stream: with stderr on a terminal and stdout into a file, the
/// terminal gets colour and the file none.
#[test]
fn piped_stdout_gets_no_colour_while_stderr_on_a_terminal_does() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_haven");
    assert!(!exe.contains('\''), "{exe}");
    // `script` (util-linux) runs the command on a pseudo-terminal and copies what the terminal
    // shows to its stdout; inside, haven's stdout goes to a file.
    let out = Command::new("script")
        .args([
            "-qec",
            &format!("'{exe}' init app > stdout.txt"),
            "/dev/null",
        ])
        .current_dir(tmp.path())
        .env_remove("NO_COLOR")
        .env_remove("HAVEN_SPEC")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let terminal = text(&out.stdout);
    assert!(terminal.contains("Created"), "{terminal:?}");
    assert!(
        terminal.contains('\x1b'),
        "stderr on a terminal is coloured: {terminal:?}"
    );
    let piped = std::fs::read_to_string(tmp.path().join("stdout.txt")).unwrap();
    assert!(!piped.is_empty());
    assert!(
        !piped.contains('\x1b'),
        "stdout into a file is not: {piped:?}"
    );
}

#[test]
fn spec_is_accepted_before_or_after_a_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(haven(tmp.path(), &["init", "app"]).status.success());
    let spec = tmp.path().join("app/haven.toml");
    let spec = spec.to_str().unwrap();
    // From another directory, the spec named on either side of the subcommand is the one read.
    for args in [
        vec!["image", "--spec", spec, "ls"],
        vec!["image", "ls", "--spec", spec],
        vec!["pipeline", "ls", "--spec", spec],
        vec!["secret", "ls", "-s", spec],
    ] {
        let out = haven(tmp.path(), &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    // Without it, the default (haven.toml here) is missing, and the error names it.
    let out = haven(tmp.path(), &["image", "ls"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("haven.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn net_reach_answers_from_the_model_with_what_decides() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(haven(tmp.path(), &["init", "-q"]).status.success());
    // (arguments, exit status, text the output holds)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["alb", "task:8080"],
            0,
            "allowed: alb → task:8080 in us-east-1",
        ),
        (
            &["internet", "task:8080"],
            1,
            "nothing in private-1 has a public address",
        ),
        (&["task", "internet:80"], 1, "no egress rule for port 80"),
        (
            &["private-2", "internet:443", "--region", "us-west-2"],
            0,
            "NAT gateway 1 in route table private-2",
        ),
        (&["alb", "task"], 2, "`task` has no port"),
        (&["alb", "tsk:8080"], 2, "`tsk` is not a place in the VPC"),
        (
            &["alb", "task:8080", "--region", "mars-1"],
            2,
            "no region `mars-1`",
        ),
    ];
    for (args, code, expect) in cases {
        let mut all = vec!["net", "reach"];
        all.extend_from_slice(args);
        let out = haven(tmp.path(), &all);
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {shown}");
        assert!(shown.contains(expect), "{args:?}: {shown}");
    }
    let out = haven(tmp.path(), &["--json", "net", "reach", "alb", "task:8080"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"]["allowed"], true);
    assert_eq!(
        v["verdict"]["steps"].as_array().unwrap().last().unwrap()["check"],
        "security group ingress"
    );
    assert!(v["probe"].is_null());

    // --probe: a real connection on a copy of the VPC agrees, and names the rule that counted.
    let out = haven(tmp.path(), &["net", "reach", "alb", "task:8080", "--probe"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("probe: connected"), "{shown}");
    assert!(
        shown.contains("From the ALB on the container port 8080"),
        "{shown}"
    );
    let out = haven(
        tmp.path(),
        &["net", "reach", "internet", "alb:22", "--probe"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("probe: not connected"), "{shown}");
    assert!(shown.contains("counted by sg_in_reject"), "{shown}");
}
