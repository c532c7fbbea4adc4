//! Counts of masked values by detector, the only trace of masked data that reaches the audit log.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::kind::{Builtin, SENSITIVE_FIELD, nouns};

/// How many values each detector masked. Serializes as a JSON object `{"email": 3, ...}`.
/// An empty `MaskCounts` does not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaskCounts(BTreeMap<String, u64>);

impl MaskCounts {
    pub fn new() -> Self {
        MaskCounts(BTreeMap::new())
    }

    /// Adds `n` masked values of detector `kind`.
    pub fn add(&mut self, kind: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.get_mut(kind) {
            Some(c) => *c += n,
            None => {
                self.0.insert(kind.to_string(), n);
            }
        }
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &MaskCounts) {
        for (k, n) in &other.0 {
            self.add(k, *n);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total number of masked values.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Count for one detector (0 when absent).
    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// Human summary for auditors, personal data first then secrets, largest counts first within
    /// each group: `"12 credit card numbers, 1 e-mail address, 3 AWS secret keys"`.
    /// `"nothing masked"` when empty.
    pub fn summary(&self) -> String {
        if self.0.is_empty() {
            return "nothing masked".to_string();
        }
        let mut items: Vec<(bool, u64, &str)> = self
            .0
            .iter()
            .map(|(k, n)| {
                let secret =
                    k == SENSITIVE_FIELD || Builtin::from_name(k).is_some_and(|b| b.is_secret());
                (secret, *n, k.as_str())
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        items
            .iter()
            .map(|(_, n, k)| {
                let (one, many) = nouns(k);
                format!("{n} {}", if *n == 1 { one } else { many })
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::ops::AddAssign<&MaskCounts> for MaskCounts {
    fn add_assign(&mut self, rhs: &MaskCounts) {
        self.merge(rhs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_readable_and_grouped() {
        let mut c = MaskCounts::new();
        assert_eq!(c.summary(), "nothing masked");
        c.add("credit_card", 12);
        c.add("aws_secret_key", 3);
        c.add("email", 1);
        c.add("employee_id", 2);
        assert_eq!(
            c.summary(),
            "12 credit card numbers, 2 employee_id matches, 1 e-mail address, 3 AWS secret keys"
        );
    }

    #[test]
    fn merge_adds_and_serializes_as_object() {
        let mut a = MaskCounts::new();
        a.add("email", 2);
        let mut b = MaskCounts::new();
        b.add("email", 1);
        b.add("iban", 4);
        b.add("phone", 0);
        a += &b;
        assert_eq!(a.get("email"), 3);
        assert_eq!(a.total(), 7);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"email":3,"iban":4}"#
        );
        assert!(!a.is_empty());
    }
}
