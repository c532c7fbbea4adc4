//! Narrows a request to the rules that could match it, cheaply.
//!
//! Rules are bucketed by exact server name, then exact tool name; rules with globs (or no list)
//! sit in catch-all buckets. Every candidate then passes a prefilter held in one contiguous
//! array — a Bloom filter of its principals, the literal prefix and suffix of its tool globs and
//! the byte pairs they require — before the rule itself is read. The prefilters are necessary
//! conditions only: they may let a non-matching rule through, never drop a matching one (the
//! property tests compare against globset).

use crate::decision::Principal;
use crate::pattern::NamePattern;
use crate::rule::Rule;
use std::collections::HashMap;

/// Rules bucketed by exact server name, then by exact tool name. A rule with any glob (or no
/// list) for servers lives in `any_server`; likewise for tools within a bucket.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_server: HashMap<String, Bucket>,
    any_server: Bucket,
    /// Per rule, cheap necessary conditions kept in one contiguous array, checked before the
    /// rule itself is touched: rules for other teams or other tool families cost a few ANDs.
    prefilters: Vec<Prefilter>,
}

#[derive(Debug, Clone, Copy)]
struct Prefilter {
    /// Bloom filter (64 bits) of the users and groups the rule names; all ones without
    /// `principals`.
    principals: u64,
    /// Up to 8 leading bytes every target of the rule must start with (the common literal
    /// prefix of its tool patterns), and which of those bytes count; mask 0 without `tools`.
    tool_prefix: u64,
    tool_mask: u64,
    /// The same for the last 8 bytes (common literal suffix), right-aligned.
    tool_suffix: u64,
    tool_suffix_mask: u64,
    /// Byte pairs (hashed to 64 bits) every target of the rule contains; 0 without `tools`.
    tool_bigrams: u64,
}

/// 64-bit set of the hashed adjacent byte pairs in `text`.
fn bigrams(text: &[u8]) -> u64 {
    text.windows(2).fold(0, |set, w| {
        let h = (u32::from(w[0]) << 8 | u32::from(w[1])).wrapping_mul(0x9e37_79b1);
        set | 1 << (h >> 26)
    })
}

/// Byte pairs every target of the rule must contain: those each of its patterns requires.
fn tool_bigram_prefilter(rule: &Rule) -> u64 {
    let Some(patterns) = &rule.tools else {
        return 0;
    };
    patterns
        .iter()
        .map(|p| {
            p.required_literals()
                .iter()
                .fold(0, |set, lit| set | bigrams(lit.as_bytes()))
        })
        .fold(u64::MAX, |all, set| all & set)
}

/// The first 8 bytes of a name, zero padded, as a number (for masked prefix comparison).
fn first8(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}

/// The last 8 bytes of a name, right-aligned and zero padded on the left.
fn last8(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    u64::from_le_bytes(buf)
}

fn tool_suffix_prefilter(rule: &Rule) -> (u64, u64) {
    let Some(patterns) = &rule.tools else {
        return (0, 0);
    };
    let mut common: Option<&[u8]> = None;
    for p in patterns {
        let literal = p.literal_suffix().as_bytes();
        common = Some(match common {
            None => literal,
            Some(c) => {
                let n = c
                    .iter()
                    .rev()
                    .zip(literal.iter().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                &c[c.len() - n..]
            }
        });
    }
    let bytes = common.unwrap_or_default();
    let bytes = &bytes[bytes.len() - bytes.len().min(8)..];
    (last8(bytes), last8(&[0xff; 8][..bytes.len()]))
}

fn tool_prefilter(rule: &Rule) -> (u64, u64) {
    let Some(patterns) = &rule.tools else {
        return (0, 0);
    };
    let mut common: Option<&[u8]> = None;
    for p in patterns {
        let literal = p.literal_prefix().as_bytes();
        common = Some(match common {
            None => literal,
            Some(c) => {
                let n = c.iter().zip(literal).take_while(|(a, b)| a == b).count();
                &c[..n]
            }
        });
    }
    // Byte-wise: a multi-byte character cut at byte 8 is still a prefix of the UTF-8 bytes,
    // so the comparison stays a necessary condition.
    let bytes = common.unwrap_or_default();
    let bytes = &bytes[..bytes.len().min(8)];
    (first8(bytes), first8(&[0xff; 8][..bytes.len()]))
}

/// One bit per name, chosen by a hash of a kind tag and the name (users and groups with the
/// same text are different principals).
fn filter_bit(kind: u8, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(kind).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's top bits barely move with the last byte (`team1` vs `team2`): finish with
    // MurmurHash3's avalanche step before taking them.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    1 << (h >> 58)
}

fn principal_filter(principal: &Principal) -> u64 {
    principal
        .groups
        .iter()
        .fold(filter_bit(b'u', &principal.user), |f, g| {
            f | filter_bit(b'g', g)
        })
}

#[cfg(test)]
mod filter_tests {
    use super::filter_bit;

    #[test]
    fn similar_names_spread_over_the_filter_bits() {
        let bits: std::collections::HashSet<u64> = (0..16)
            .map(|i| filter_bit(b'g', &format!("team{i}")))
            .collect();
        assert!(
            bits.len() >= 10,
            "only {} distinct bits of 16 names",
            bits.len()
        );
    }
}

fn rule_filter(rule: &Rule) -> u64 {
    if rule.any_principal {
        return u64::MAX;
    }
    let users = rule.users.iter().map(|u| filter_bit(b'u', u));
    let groups = rule.groups.iter().map(|g| filter_bit(b'g', g));
    users.chain(groups).fold(0, |f, bit| f | bit)
}

#[derive(Debug, Default)]
struct Bucket {
    by_tool: HashMap<String, Vec<u32>>,
    any_tool: Vec<u32>,
}

impl Bucket {
    fn add(&mut self, rule: &Rule, i: u32) {
        match exact_names(&rule.tools) {
            Some(tools) => {
                for t in tools {
                    let list = self.by_tool.entry(t.to_owned()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            None => self.any_tool.push(i),
        }
    }

    fn candidates<'a>(&'a self, tool: Option<&str>) -> [&'a [u32]; 2] {
        let exact = tool
            .and_then(|t| self.by_tool.get(t))
            .map_or(&[][..], Vec::as_slice);
        [exact, &self.any_tool]
    }
}

/// The names if every pattern is exact, `None` if any is a glob or the list is absent.
fn exact_names(patterns: &Option<Vec<NamePattern>>) -> Option<Vec<&str>> {
    patterns.as_ref()?.iter().map(NamePattern::exact).collect()
}

impl Index {
    pub(crate) fn build(rules: &[Rule]) -> Index {
        let mut index = Index {
            prefilters: rules
                .iter()
                .map(|r| {
                    let (tool_prefix, tool_mask) = tool_prefilter(r);
                    let (tool_suffix, tool_suffix_mask) = tool_suffix_prefilter(r);
                    Prefilter {
                        principals: rule_filter(r),
                        tool_prefix,
                        tool_mask,
                        tool_suffix,
                        tool_suffix_mask,
                        tool_bigrams: tool_bigram_prefilter(r),
                    }
                })
                .collect(),
            ..Index::default()
        };
        for (i, rule) in rules.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 4 billion rules");
            match exact_names(&rule.servers) {
                Some(servers) => {
                    let mut seen: Vec<&str> = Vec::new();
                    for s in servers {
                        if !seen.contains(&s) {
                            seen.push(s);
                            index
                                .by_server
                                .entry(s.to_owned())
                                .or_default()
                                .add(rule, i);
                        }
                    }
                }
                None => index.any_server.add(rule, i),
            }
        }
        index
    }

    /// Rule indexes that may match; each rule appears at most once.
    pub(crate) fn candidates<'a>(
        &'a self,
        principal: &Principal,
        server: &str,
        tool: Option<&str>,
    ) -> impl Iterator<Item = u32> + 'a {
        let caller = principal_filter(principal);
        let target = first8(tool.unwrap_or_default().as_bytes());
        let target_end = last8(tool.unwrap_or_default().as_bytes());
        let target_bigrams = bigrams(tool.unwrap_or_default().as_bytes());
        let [a, b] = self.any_server.candidates(tool);
        let [c, d] = match self.by_server.get(server) {
            Some(bucket) => bucket.candidates(tool),
            None => [&[][..], &[][..]],
        };
        a.iter()
            .chain(b)
            .chain(c)
            .chain(d)
            .copied()
            .filter(move |&i| {
                let f = self.prefilters[i as usize];
                f.principals & caller != 0
                    && target & f.tool_mask == f.tool_prefix
                    && target_end & f.tool_suffix_mask == f.tool_suffix
                    && f.tool_bigrams & !target_bigrams == 0
            })
    }
}
