//! Constraint checks from the models, with AWS's own messages:
//! `1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint:
//! Member must have length greater than or equal to 3`.
//!
//! Paths are built on the stack and rendered only when a check fails, so validating a
//! valid request allocates nothing.

use std::fmt::Write as _;

/// Where a value sits in the input: `keySchema.1.member.attributeName`.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl<'a> Path<'a> {
    pub fn field(&'a self, name: &'static str) -> Path<'a> {
        Path::Field(self, name)
    }
    /// A list element (rendered 1-based, followed by `member`).
    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
    pub fn key(&'a self, k: &'a str) -> Path<'a> {
        Path::Key(self, k)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        let sep = |out: &mut String| {
            if !out.is_empty() {
                out.push('.');
            }
        };
        match self {
            Path::Root => {}
            Path::Field(parent, name) => {
                parent.render_into(out);
                sep(out);
                let mut chars = name.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_lowercase());
                    out.push_str(chars.as_str());
                }
            }
            Path::Index(parent, i) => {
                parent.render_into(out);
                sep(out);
                let _ = write!(out, "{}.member", i + 1);
            }
            Path::Key(parent, k) => {
                parent.render_into(out);
                sep(out);
                out.push_str(k);
            }
        }
    }
}

/// Collected constraint violations of one request.
#[derive(Debug, Default)]
pub struct Violations(pub Vec<String>);

/// Implemented by generated input shapes.
pub trait Validate {
    fn validate(&self, path: &Path<'_>, v: &mut Violations);

    /// All violations, or `None` when the input satisfies the model.
    fn violations(&self) -> Option<String> {
        let mut v = Violations::default();
        self.validate(&Path::Root, &mut v);
        v.message()
    }
}

impl Violations {
    fn push(&mut self, value: Option<&str>, path: &Path<'_>, constraint: std::fmt::Arguments<'_>) {
        let value = match value {
            Some(s) => format!("'{s}'"),
            None => "null".to_string(),
        };
        self.0.push(format!(
            "Value {value} at '{}' failed to satisfy constraint: Member must {constraint}",
            path.render()
        ));
    }

    /// AWS's message for the collected violations, if any.
    pub fn message(&self) -> Option<String> {
        match self.0.len() {
            0 => None,
            1 => Some(format!("1 validation error detected: {}", self.0[0])),
            n => Some(format!("{n} validation errors detected: {}", self.0.join("; "))),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn null(&mut self, path: &Path<'_>) {
        self.push(None, path, format_args!("not be null"));
    }

    /// String length in characters.
    pub fn str_len(&mut self, path: &Path<'_>, value: &str, min: Option<u64>, max: Option<u64>) {
        let len = value.chars().count() as u64;
        if let Some(min) = min.filter(|m| len < *m) {
            self.push(
                Some(value),
                path,
                format_args!("have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|m| len > *m) {
            self.push(
                Some(value),
                path,
                format_args!("have length less than or equal to {max}"),
            );
        }
    }

    /// Collection size (lists, maps) or blob length; `shown` is how the value prints.
    pub fn count(&mut self, path: &Path<'_>, len: usize, shown: &str, min: Option<u64>, max: Option<u64>) {
        let len = len as u64;
        if let Some(min) = min.filter(|m| len < *m) {
            self.push(
                Some(shown),
                path,
                format_args!("have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|m| len > *m) {
            self.push(
                Some(shown),
                path,
                format_args!("have length less than or equal to {max}"),
            );
        }
    }

    pub fn range(&mut self, path: &Path<'_>, value: f64, min: Option<f64>, max: Option<f64>) {
        let shown = if value.fract() == 0.0 && value.abs() < 1e18 {
            format!("{}", value as i64)
        } else {
            value.to_string()
        };
        if let Some(min) = min.filter(|m| value < *m) {
            self.push(
                Some(&shown),
                path,
                format_args!("have value greater than or equal to {}", min as i64),
            );
        }
        if let Some(max) = max.filter(|m| value > *m) {
            self.push(
                Some(&shown),
                path,
                format_args!("have value less than or equal to {}", max as i64),
            );
        }
    }

    pub fn one_of(&mut self, path: &Path<'_>, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.push(
                Some(value),
                path,
                format_args!("satisfy enum value set: [{}]", allowed.join(", ")),
            );
        }
    }

    pub fn pattern(&mut self, path: &Path<'_>, value: &str, re: &regex::Regex, source: &str) {
        if !re.is_match(value) {
            self.push(
                Some(value),
                path,
                format_args!("satisfy regular expression pattern: {source}"),
            );
        }
    }
}

/// Compiles a model pattern so that it must match the whole value.
pub fn anchored(pattern: &str) -> regex::Regex {
    regex::Regex::new(&format!("^(?:{pattern})$")).expect("model patterns are checked at generation time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_aws() {
        let mut v = Violations::default();
        let root = Path::Root;
        v.str_len(&root.field("TableName"), "ab", Some(3), Some(255));
        assert_eq!(
            v.message().unwrap(),
            "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3"
        );
        let ks = root.field("KeySchema");
        let el = ks.index(0);
        v.one_of(&el.field("KeyType"), "X", &["HASH", "RANGE"]);
        assert_eq!(
            v.0[1],
            "Value 'X' at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]"
        );
        assert!(
            v.message()
                .unwrap()
                .starts_with("2 validation errors detected: Value 'ab'")
        );
        let mut v = Violations::default();
        v.range(&root.field("Limit"), 0.0, Some(1.0), Some(100.0));
        v.null(&root.field("RoleArn"));
        assert_eq!(
            v.0[0],
            "Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            v.0[1],
            "Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        );
    }
}
