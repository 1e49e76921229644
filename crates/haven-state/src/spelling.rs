//! Enums kept and sent as text: one spelling for JSON, SQLite and the terminal (AWS's, where AWS
//! has one), and a spelling nobody defined is an error when it is read back, never a default.
//!
//! [`spelled!`](crate::spelled) declares such an enum; [`text_impls!`](crate::text_impls) gives
//! the same serde and SQLite impls to a type that carries data and spells itself with
//! `Display` and `FromStr` (a task's stop reason).

// The macros' expansions name these, so that a crate using them needs neither dependency.
#[doc(hidden)]
pub use rusqlite;
#[doc(hidden)]
pub use serde;

/// Text read back (from SQLite, the wire or a flag) that is none of a type's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownSpelling {
    /// What was being read, e.g. `task status`.
    pub what: &'static str,
    pub value: String,
}

/// An enum without data whose variants have one spelling each.
pub trait Spelled: Copy + Sized + 'static {
    /// What the value is, for errors (`release state`).
    const WHAT: &'static str;
    /// Every variant, in declaration order.
    const ALL: &'static [Self];

    fn spelling(self) -> &'static str;

    fn from_spelling(text: &str) -> Result<Self, UnknownSpelling> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.spelling() == text)
            .ok_or_else(|| UnknownSpelling {
                what: Self::WHAT,
                value: text.to_owned(),
            })
    }
}

/// Declares an enum spelled one way everywhere: `Display`, `FromStr`, serde and SQLite
/// (`ToSql`/`FromSql`) all use the spelling given for each variant.
///
/// ```
/// haven_state::spelled! {
///     /// A light.
///     pub enum Light ("light") {
///         Red = "RED",
///         Green = "GREEN",
///     }
/// }
/// assert_eq!("GREEN".parse::<Light>(), Ok(Light::Green));
/// assert!("AMBER".parse::<Light>().is_err());
/// ```
#[macro_export]
macro_rules! spelled {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::spelling::Spelled for $name {
            const WHAT: &'static str = $what;
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn spelling(self) -> &'static str {
                match self {
                    $(Self::$variant => $spelling),+
                }
            }
        }

        impl $name {
            /// The one spelling of this value (JSON, SQLite, the terminal).
            pub fn as_str(self) -> &'static str {
                <Self as $crate::spelling::Spelled>::spelling(self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::spelling::UnknownSpelling;

            fn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {
                <Self as $crate::spelling::Spelled>::from_spelling(text)
            }
        }

        $crate::text_impls!($name);
    };
}

/// Serde and SQLite impls for a type that is its text: `Display` writes it and `FromStr`
/// reads it back, failing on text it does not know (serde then fails, and so does reading the
/// column).
#[macro_export]
macro_rules! text_impls {
    ($name:ty) => {
        impl $crate::spelling::serde::Serialize for $name {
            fn serialize<S: $crate::spelling::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> $crate::spelling::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::spelling::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let text: ::std::string::String =
                    $crate::spelling::serde::Deserialize::deserialize(deserializer)?;
                text.parse()
                    .map_err(<D::Error as $crate::spelling::serde::de::Error>::custom)
            }
        }

        impl $crate::spelling::rusqlite::types::ToSql for $name {
            fn to_sql(
                &self,
            ) -> $crate::spelling::rusqlite::Result<
                $crate::spelling::rusqlite::types::ToSqlOutput<'_>,
            > {
                Ok($crate::spelling::rusqlite::types::ToSqlOutput::from(
                    self.to_string(),
                ))
            }
        }

        impl $crate::spelling::rusqlite::types::FromSql for $name {
            fn column_result(
                value: $crate::spelling::rusqlite::types::ValueRef<'_>,
            ) -> $crate::spelling::rusqlite::types::FromSqlResult<Self> {
                value.as_str()?.parse().map_err(|e| {
                    $crate::spelling::rusqlite::types::FromSqlError::Other(::std::boxed::Box::new(
                        e,
                    ))
                })
            }
        }
    };
}

/// `value` written to JSON and read back.
pub fn through_json<T>(value: &T) -> Result<T, String>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// `value` written to a column of an in-memory SQLite database and read back.
pub fn through_sqlite<T>(value: &T) -> Result<T, String>
where
    T: rusqlite::types::ToSql + rusqlite::types::FromSql,
{
    let conn = column()?;
    conn.execute("INSERT INTO t (v) VALUES (?1)", [value])
        .map_err(|e| e.to_string())?;
    conn.query_row("SELECT v FROM t", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

/// `text` stored in a SQLite column and read back as a `T` (for text no `T` writes).
pub fn from_sqlite_text<T: rusqlite::types::FromSql>(text: &str) -> Result<T, String> {
    let conn = column()?;
    conn.execute("INSERT INTO t (v) VALUES (?1)", [text])
        .map_err(|e| e.to_string())?;
    conn.query_row("SELECT v FROM t", [], |r| r.get(0))
        .map_err(|e| e.to_string())
}

fn column() -> Result<rusqlite::Connection, String> {
    let conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    conn.execute_batch("CREATE TABLE t (v TEXT NOT NULL)")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}
