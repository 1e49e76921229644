//! The one way this crate runs `ip` and `nft`: a command line, optional stdin, and an error that
//! names the command and carries its stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::Error;

/// Runs `program args…` with `input` on stdin; returns its stdout.
pub(crate) fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<String, Error> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| Error::Spawn {
                command: command.clone(),
                source,
            })?;
        // Dropping stdin closes it, so the command sees the end of its input.
    }
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        command: command.clone(),
        source,
    })?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if let Some(text) = input {
            // The input is what the error's line numbers point into.
            stderr.push_str("\ninput:\n");
            stderr.push_str(text);
        }
        return Err(Error::Command {
            command,
            status: out.status.code(),
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip -n NS -batch -`: many `ip` commands in one namespace, one process.
pub(crate) fn ip_batch(namespace: &str, lines: &[String]) -> Result<(), Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    run("ip", &["-n", namespace, "-batch", "-"], Some(&text)).map(drop)
}

/// `nft -f -` inside a namespace: one atomic transaction.
pub(crate) fn nft(namespace: &str, ruleset: &str) -> Result<(), Error> {
    run(
        "ip",
        &["netns", "exec", namespace, "nft", "-f", "-"],
        Some(ruleset),
    )
    .map(drop)
}

/// `sysctl -w` inside a namespace (its `/proc/sys/net` is the namespace's).
pub(crate) fn sysctl(namespace: &str, settings: &[&str]) -> Result<(), Error> {
    let mut args = vec!["netns", "exec", namespace, "sysctl", "-qw"];
    args.extend_from_slice(settings);
    run("ip", &args, None).map(drop)
}
