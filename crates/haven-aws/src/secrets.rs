//! `haven aws secret set NAME`: the value of a `service.secrets` entry, stored as an SSM
//! SecureString in every region the manifest lists for it, encrypted with the project's key.
//!
//! The value never appears in a template, an argument, an error or a log: it is read from stdin
//! (with the terminal's echo off), sent once per region in the request body (the SDK redacts
//! it in its debug output), and dropped.

use std::io::{BufRead, IsTerminal, Read};

use serde::Serialize;
use serde_json::json;

use crate::bundle::SecretSpec;
use crate::{Aws, Bundle, Error};

/// Where a secret was stored.
#[derive(Debug, Serialize)]
pub struct Stored {
    pub env: String,
    pub parameter: String,
    pub regions: Vec<String>,
    pub kms_key: String,
}

/// The manifest's secret named `name`: its environment variable or its parameter name.
pub fn find<'a>(bundle: &'a Bundle, name: &str) -> Result<&'a SecretSpec, Error> {
    bundle
        .secrets
        .iter()
        .find(|s| s.env == name || s.parameter == name)
        .ok_or_else(|| Error::Secret {
            name: name.to_owned(),
            problem: if bundle.secrets.is_empty() {
                "the spec has no `service.secrets`".into()
            } else {
                format!(
                    "not in `service.secrets` (known: {})",
                    bundle
                        .secrets
                        .iter()
                        .map(|s| format!("{} = {}", s.env, s.parameter))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        })
}

/// Stores `value` as the secret `name` in each of its regions (those of `regions` only, when
/// not empty), overwriting an older value.
pub async fn set(
    aws: &Aws,
    bundle: &Bundle,
    name: &str,
    value: &str,
    regions: &[String],
) -> Result<Stored, Error> {
    let secret = find(bundle, name)?;
    if value.is_empty() {
        return Err(Error::Secret {
            name: name.to_owned(),
            problem: "the value read from stdin is empty".into(),
        });
    }
    bundle.select(regions)?;
    let mut stored = Vec::new();
    for region in secret
        .regions
        .iter()
        .filter(|r| regions.is_empty() || regions.contains(r))
    {
        let body = json!({
            "Name": secret.parameter,
            "Value": value,
            "Type": "SecureString",
            "KeyId": secret.kms_key,
            "Overwrite": true,
            "Description": format!("haven: {} of the {} service", secret.env, bundle.project),
        });
        ssm(aws, region, "PutParameter", &body).await?;
        stored.push(region.clone());
    }
    Ok(Stored {
        env: secret.env.clone(),
        parameter: secret.parameter.clone(),
        regions: stored,
        kms_key: secret.kms_key.clone(),
    })
}

/// Whether the parameter exists (its value is not read).
pub async fn exists(aws: &Aws, region: &str, parameter: &str) -> Result<bool, Error> {
    let body = json!({"Name": parameter, "WithDecryption": false});
    match ssm(aws, region, "GetParameter", &body).await {
        Ok(_) => Ok(true),
        Err(Error::Call { code: Some(c), .. }) if c == "ParameterNotFound" => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn delete(aws: &Aws, region: &str, parameter: &str) -> Result<(), Error> {
    match ssm(aws, region, "DeleteParameter", &json!({"Name": parameter})).await {
        Ok(_) => Ok(()),
        Err(Error::Call { code: Some(c), .. }) if c == "ParameterNotFound" => Ok(()),
        Err(e) => Err(e),
    }
}

/// One SSM call (JSON 1.1 protocol).
async fn ssm(
    aws: &Aws,
    region: &str,
    action: &'static str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, Error> {
    crate::api::json(aws, region, crate::api::SSM, action, body).await
}

/// Reads a secret value from stdin: one line with the echo off when stdin is a terminal, else
/// everything up to EOF. One trailing newline is removed.
pub fn read_value() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let mut value = String::new();
    if stdin.is_terminal() {
        let _echo_off = EchoOff::new()?;
        stdin.lock().read_line(&mut value)?;
    } else {
        stdin.lock().read_to_string(&mut value)?;
    }
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

/// Turns the terminal's echo off on stdin until dropped.
struct EchoOff {
    saved: libc::termios,
}

impl EchoOff {
    fn new() -> std::io::Result<Self> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is stdin, `saved` is a valid termios.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above, with a copy of the current settings.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`. Nothing useful can be done if this
        // fails: the process is about to print an error or exit anyway.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}
