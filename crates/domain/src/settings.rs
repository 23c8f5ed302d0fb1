//! The settings the shared vocabulary reads (the working-time calendar's, the secret hash keys)
//! from any source of `MOTCUA_*` variables, so that the domain knows no platform: a service hands
//! its variables (`|name| vars.raw(name)`) and turns a [`SettingError`] into its own
//! configuration error, which names the variable.

/// A setting that is wrong: the variable, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct SettingError {
    pub var: &'static str,
    pub message: String,
}

impl SettingError {
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

/// Whether MOTCUA_DEVELOPMENT says this is a developer's machine or a test (the platform's
/// settings refuse any value but true or false before a service reads this).
pub fn is_development<'a>(var: &impl Fn(&str) -> Option<&'a str>) -> bool {
    var("MOTCUA_DEVELOPMENT").map(str::trim) == Some("true")
}

/// Variables from pairs, for tests.
pub fn from_pairs<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}
