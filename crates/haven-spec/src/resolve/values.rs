//! Checks of single values that every section shares: integers and percentages in range,
//! durations, words from a fixed set, resource names, environment variable and SSM names.

use crate::aws;
use crate::duration::Dur;
use crate::suggest::did_you_mean;

use super::Ctx;

impl Ctx<'_, '_> {
    /// An integer in `min..=max`, or the default.
    pub(super) fn int(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: u32,
        min: u32,
        max: u32,
        what: &str,
    ) -> u32 {
        let hint = format!("AWS accepts {min}..={max}");
        self.int_hint(key, value, default, (min, max), what, &hint)
    }

    /// An integer in `min..=max`, or the default; `hint` says where the range comes from.
    pub(super) fn int_hint(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: u32,
        (min, max): (u32, u32),
        what: &str,
        hint: &str,
    ) -> u32 {
        let Some(v) = value else { return default };
        if v < i64::from(min) || v > i64::from(max) {
            self.r.error_hint(
                "out-of-range",
                key,
                format!("{what} must be from {min} to {max}, not {v}"),
                hint,
            );
            return default;
        }
        // In range of a u32 by the check above.
        u32::try_from(v).unwrap_or(default)
    }

    pub(super) fn percent(&mut self, key: &str, value: Option<i64>, default: u8) -> u8 {
        let Some(v) = value else { return default };
        if !(1..=100).contains(&v) {
            self.r.error_hint(
                "out-of-range",
                key,
                format!("a percentage must be from 1 to 100, not {v}"),
                "write a whole number of percent, e.g. `80`",
            );
            return default;
        }
        u8::try_from(v).unwrap_or(default)
    }

    /// A duration within `min..=max`.
    pub(super) fn dur(
        &mut self,
        key: &str,
        value: Option<String>,
        default: Dur,
        min: Dur,
        max: Dur,
    ) -> Dur {
        let hint = format!("AWS accepts {min} to {max}");
        self.dur_hint(key, value, default, (min, max), &hint)
    }

    /// A duration within `min..=max`; `hint` says where the range comes from.
    pub(super) fn dur_hint(
        &mut self,
        key: &str,
        value: Option<String>,
        default: Dur,
        (min, max): (Dur, Dur),
        hint: &str,
    ) -> Dur {
        let Some(text) = value else { return default };
        match Dur::parse(&text) {
            Ok(d) if d < min || d > max => {
                self.r.error_hint(
                    "out-of-range",
                    key,
                    format!("`{text}` is outside {min}..={max}"),
                    hint,
                );
                default
            }
            Ok(d) => d,
            Err(why) => {
                self.r.error_hint(
                    "bad-duration",
                    key,
                    why,
                    "write a number and a unit: `500ms`, `30s`, `5m`, `2h` or `7d`",
                );
                default
            }
        }
    }

    /// One of a fixed set of words.
    pub(super) fn choice<T: Copy>(
        &mut self,
        key: &str,
        value: Option<String>,
        default: T,
        options: &[(&str, T)],
    ) -> T {
        let Some(text) = value else { return default };
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == text) {
            return *v;
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = match did_you_mean(&text, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (one of {list})"),
            None => format!("one of {list}"),
        };
        self.r.error_hint(
            "unknown-value",
            key,
            format!("`{text}` is not a valid value"),
            hint,
        );
        default
    }

    pub(super) fn name(
        &mut self,
        key: &str,
        value: Option<String>,
        default: &str,
        max_len: usize,
    ) -> String {
        let name = value.unwrap_or_else(|| default.to_owned());
        let ok = !name.is_empty()
            && name.len() <= max_len
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-');
        if !ok {
            self.r.error_hint(
                "bad-name",
                key,
                format!("`{name}` is not a valid name"),
                format!(
                    "use 1 to {max_len} lowercase letters, digits and `-`, starting with a letter; \
                     it names AWS resources, whose names are short"
                ),
            );
        }
        name
    }

    pub(super) fn env_name(&mut self, key: &str, name: &str) {
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.r.error_hint(
                "bad-env-name",
                key,
                format!("`{name}` is not a valid environment variable name"),
                "use letters, digits and `_`, not starting with a digit",
            );
        }
        if name.starts_with("HAVEN_") || name == "PORT" {
            self.r.error_hint(
                "reserved-env",
                key,
                format!("`{name}` is set by haven for every task"),
                "haven sets PORT and HAVEN_*; choose another name",
            );
        }
    }

    pub(super) fn ssm_name(&mut self, key: &str, name: &str) {
        if let Some(problem) = aws::ssm_name_problem(name) {
            self.r.error_hint(
                "bad-ssm-name",
                key,
                format!("SSM parameter name `{name}` {problem}"),
                "write a path such as `/my-app/db-password`",
            );
        }
    }
}
