//! Reads a YAML policy document into a [`Policy`], reporting every problem with its line and
//! column. The YAML tree comes from saphyr, which keeps a span on every node; the typed reading
//! is done here by hand so that semantic errors (bad glob, bad regex, unknown effect, duplicate
//! rule name) point at the exact value, not just at the document.

use crate::access::RequestOffer;
use crate::decision::{ApprovalMode, Effect};
use crate::error::{PolicyError, PolicyErrors};
use crate::index::Index;
use crate::matcher::{ArgCondition, Matcher};
use crate::pattern::NamePattern;
use crate::policy::{DefaultEffect, Policy, ServerSettings};
use crate::rule::Rule;
use crate::ttl::parse_ttl;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// Largest accepted approval quorum. Approvers are groups of any size, so the quorum is not
/// bounded by the number of groups; above this no approval would realistically ever complete.
pub const MAX_QUORUM: u32 = 20;
/// Compiled-size ceiling for one argument regex (bounds memory for admin-written patterns).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Approval TTL when the document gives none.
const DEFAULT_TTL: Duration = Duration::from_secs(30 * 60);

const TOP_KEYS: &[&str] = &["version", "default", "masking_profile", "servers", "rules"];
const SERVER_KEYS: &[&str] = &["default", "masking_profile", "standing_access", "owners"];
const RULE_KEYS: &[&str] = &[
    "name",
    "description",
    "principals",
    "servers",
    "methods",
    "tools",
    "arguments",
    "effect",
    "message",
    "approval",
    "masking_profile",
];
const PRINCIPAL_KEYS: &[&str] = &["users", "groups", "request"];
const REQUEST_KEYS: &[&str] = &["role", "max", "approval"];
const REQUEST_APPROVAL_KEYS: &[&str] = &["approvers", "quorum", "ttl"];
const ARGUMENT_KEYS: &[&str] = &["pointer", "matches", "sql", "command"];
const APPROVAL_KEYS: &[&str] = &["approvers", "quorum", "ttl", "mode"];

pub(crate) type Node<'i> = MarkedYaml<'i>;

impl Policy {
    /// Reads and validates a policy document. On failure every problem found is returned, each
    /// with its line and column.
    pub fn from_yaml(source: &str) -> Result<Policy, PolicyErrors> {
        let docs = match Node::load_from_str(source) {
            Ok(docs) => docs,
            Err(e) => {
                return Err(PolicyErrors::new(vec![PolicyError {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: format!("invalid YAML: {}", e.info()),
                }]));
            }
        };
        let mut reader = Reader { errors: Vec::new() };
        let policy = match docs.as_slice() {
            [] => {
                reader.errors.push(PolicyError {
                    line: 1,
                    column: 1,
                    message: "the policy document is empty; start it with `version: 1`".into(),
                });
                None
            }
            [doc] => reader.document(doc, source),
            [_, second, ..] => {
                reader.error(
                    second,
                    "a policy file holds one YAML document; remove the second `---`",
                );
                None
            }
        };
        match policy {
            Some(policy) if reader.errors.is_empty() => Ok(policy),
            _ => Err(PolicyErrors::new(reader.errors)),
        }
    }
}

pub(crate) struct Reader {
    pub(crate) errors: Vec<PolicyError>,
}

pub(crate) fn describe(node: &Node<'_>) -> &'static str {
    match &node.data {
        YamlData::Value(Scalar::Null) => "an empty value",
        YamlData::Value(Scalar::Boolean(_)) => "true/false",
        YamlData::Value(Scalar::Integer(_)) => "a number",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) | YamlData::Representation(..) => "text",
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a mapping",
        YamlData::Tagged(..) => "a tagged value",
        YamlData::Alias(_) => "an alias",
        YamlData::BadValue => "an invalid value",
    }
}

/// Closest allowed key, for "did you mean" hints.
pub(crate) fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != *cb);
                cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    allowed
        .iter()
        .map(|a| (distance(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min()
        .map(|(_, a)| a)
}

pub(crate) struct Entry<'a, 'i> {
    pub(crate) key: &'a str,
    pub(crate) key_node: &'a Node<'i>,
    pub(crate) value: &'a Node<'i>,
}

impl Reader {
    pub(crate) fn error(&mut self, node: &Node<'_>, message: impl Into<String>) {
        self.errors.push(PolicyError {
            line: node.span.start.line(),
            column: node.span.start.col() + 1,
            message: message.into(),
        });
    }

    /// The entries of a mapping, reporting unknown keys (with a suggestion) and non-text keys.
    pub(crate) fn mapping<'a, 'i>(
        &mut self,
        node: &'a Node<'i>,
        what: &str,
        allowed: &[&str],
    ) -> Option<Vec<Entry<'a, 'i>>> {
        let YamlData::Mapping(map) = &node.data else {
            self.error(
                node,
                format!(
                    "{what} must be a mapping (`key: value` lines), not {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map {
            let YamlData::Value(Scalar::String(key)) = &k.data else {
                self.error(
                    k,
                    format!("keys in {what} must be text, not {}", describe(k)),
                );
                continue;
            };
            if !allowed.contains(&key.as_ref()) {
                let hint = match suggest(key, allowed) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                self.error(k, format!("unknown key `{key}` in {what}; {hint}"));
                continue;
            }
            entries.push(Entry {
                key: key.as_ref(),
                key_node: k,
                value: v,
            });
        }
        Some(entries)
    }

    pub(crate) fn string(&mut self, node: &Node<'_>, what: &str) -> Option<String> {
        match &node.data {
            YamlData::Value(Scalar::String(s)) if s.trim().is_empty() => {
                self.error(
                    node,
                    format!("{what} is empty; write a value or remove the key"),
                );
                None
            }
            YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
            _ => {
                self.error(node, format!("{what} must be text, not {}", describe(node)));
                None
            }
        }
    }

    /// A non-empty list of text items, each with its node (for positions).
    pub(crate) fn string_list<'a, 'i>(
        &mut self,
        node: &'a Node<'i>,
        what: &str,
    ) -> Option<Vec<(String, &'a Node<'i>)>> {
        let YamlData::Sequence(items) = &node.data else {
            self.error(
                node,
                format!(
                    "{what} must be a list (`[a, b]` or `- a` lines), not {}",
                    describe(node)
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                node,
                format!("{what} is an empty list, which matches nothing; list at least one entry or remove the key to match any"),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(s) = self.string(item, &format!("an entry of {what}")) {
                out.push((s, item));
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    pub(crate) fn patterns(&mut self, node: &Node<'_>, what: &str) -> Option<Vec<NamePattern>> {
        let items = self.string_list(node, what)?;
        let mut out = Vec::with_capacity(items.len());
        for (text, item) in items {
            match NamePattern::parse(&text) {
                Ok(p) => out.push(p),
                Err(e) => self.error(item, format!("{what}: {e}")),
            }
        }
        Some(out)
    }

    fn default_effect(&mut self, node: &Node<'_>, what: &str) -> Option<DefaultEffect> {
        match self.string(node, what)?.as_str() {
            "allow" => Some(DefaultEffect::Allow),
            "deny" => Some(DefaultEffect::Deny),
            "require_approval" => {
                self.error(node, format!("{what} can be `allow` or `deny`; to require approval for everything, add a rule with `effect: require_approval` and no conditions"));
                None
            }
            other => {
                self.error(
                    node,
                    format!("unknown {what} `{other}`; use `allow` or `deny`"),
                );
                None
            }
        }
    }

    fn document(&mut self, root: &Node<'_>, source: &str) -> Option<Policy> {
        let entries = self.mapping(root, "the policy document", TOP_KEYS)?;
        let mut version_seen = false;
        let mut default = None;
        let mut masking_profile = None;
        let mut servers = HashMap::new();
        let mut rules = Vec::new();
        for e in entries {
            match e.key {
                "version" => {
                    version_seen = true;
                    match &e.value.data {
                        YamlData::Value(Scalar::Integer(1)) => {}
                        YamlData::Value(Scalar::Integer(n)) => self.error(
                            e.value,
                            format!(
                                "unsupported policy version {n}; this Gatehouse reads `version: 1`"
                            ),
                        ),
                        _ => self.error(
                            e.value,
                            format!("version must be the number 1, not {}", describe(e.value)),
                        ),
                    }
                }
                "default" => default = self.default_effect(e.value, "default effect"),
                "masking_profile" => masking_profile = self.string(e.value, "masking_profile"),
                "servers" => servers = self.servers(e.value),
                "rules" => rules = self.rules(e.value),
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        if !version_seen {
            self.error(
                root,
                "missing `version: 1` at the top of the policy document",
            );
        }
        let index = Index::build(&rules);
        Some(Policy {
            default,
            masking_profile,
            servers,
            rules,
            index,
            source_digest: hex::encode(Sha256::digest(source.as_bytes())),
        })
    }

    fn servers(&mut self, node: &Node<'_>) -> HashMap<String, ServerSettings> {
        let mut out = HashMap::new();
        let Some(entries) = self.mapping_any_keys(node, "servers") else {
            return out;
        };
        for (name, key_node, value) in entries {
            let what = format!("server `{name}`");
            let mut settings = ServerSettings::default();
            if let Some(fields) = self.mapping(value, &what, SERVER_KEYS) {
                for f in fields {
                    match f.key {
                        "default" => {
                            settings.default =
                                self.default_effect(f.value, &format!("default effect of {what}"))
                        }
                        "masking_profile" => {
                            settings.masking_profile =
                                self.string(f.value, &format!("masking_profile of {what}"))
                        }
                        "standing_access" => match &f.value.data {
                            YamlData::Value(Scalar::Boolean(b)) => settings.standing_access = *b,
                            _ => self.error(
                                f.value,
                                format!(
                                    "standing_access of {what} must be true or false, not {}",
                                    describe(f.value)
                                ),
                            ),
                        },
                        "owners" => {
                            settings.owners = self
                                .string_list(f.value, &format!("owners of {what}"))
                                .map(|v| v.into_iter().map(|(o, _)| o).collect())
                                .unwrap_or_default()
                        }
                        _ => unreachable!("mapping() only returns allowed keys"),
                    }
                }
            }
            if name.contains(['*', '?', '[', '{']) {
                self.error(
                    key_node,
                    format!("server names under `servers` are exact names, not globs: `{name}`"),
                );
            }
            out.insert(name, settings);
        }
        out
    }

    /// A mapping whose keys are names chosen by the admin (server names).
    fn mapping_any_keys<'a, 'i>(
        &mut self,
        node: &'a Node<'i>,
        what: &str,
    ) -> Option<Vec<(String, &'a Node<'i>, &'a Node<'i>)>> {
        let YamlData::Mapping(map) = &node.data else {
            self.error(
                node,
                format!(
                    "{what} must be a mapping of server name to settings, not {}",
                    describe(node)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in map {
            match &k.data {
                YamlData::Value(Scalar::String(s)) if !s.trim().is_empty() => {
                    out.push((s.to_string(), k, v))
                }
                _ => self.error(k, format!("server names in {what} must be non-empty text")),
            }
        }
        Some(out)
    }

    fn rules(&mut self, node: &Node<'_>) -> Vec<Rule> {
        let YamlData::Sequence(items) = &node.data else {
            self.error(
                node,
                format!(
                    "rules must be a list of rules (`- name: ...`), not {}",
                    describe(node)
                ),
            );
            return Vec::new();
        };
        let mut rules = Vec::with_capacity(items.len());
        let mut names: HashMap<String, (usize, usize)> = HashMap::new();
        let mut same_conditions: HashMap<String, (String, usize, usize)> = HashMap::new();
        for (n, item) in items.iter().enumerate() {
            if let Some((rule, name_node)) = self.rule(item, n + 1) {
                let here = (name_node.span.start.line(), name_node.span.start.col() + 1);
                if let Some((line, col)) = names.get(&rule.name) {
                    self.error(
                        name_node,
                        format!("duplicate rule name `{}` (first defined at {line}:{col}); rule names must be unique because decisions record them", rule.name),
                    );
                } else {
                    names.insert(rule.name.clone(), here);
                }
                match same_conditions.get(&rule.conditions_key()) {
                    Some((other, line, col)) => self.error(
                        name_node,
                        format!("rule `{}` has exactly the same conditions as rule `{other}` (at {line}:{col}), so one of them can never decide; merge them or make one more specific", rule.name),
                    ),
                    None => {
                        same_conditions.insert(rule.conditions_key(), (rule.name.clone(), here.0, here.1));
                    }
                }
                rules.push(rule);
            }
        }
        rules
    }

    /// One rule; `position` is its 1-based place in the list, used until its name is known.
    fn rule<'a, 'i>(
        &mut self,
        node: &'a Node<'i>,
        position: usize,
    ) -> Option<(Rule, &'a Node<'i>)> {
        let entries = self.mapping(node, &format!("rule #{position}"), RULE_KEYS)?;
        if entries.is_empty() {
            self.error(
                node,
                format!("rule #{position} is empty; a rule needs at least `name` and `effect`"),
            );
            return None;
        }
        let name_entry = entries.iter().find(|e| e.key == "name");
        let name = match name_entry {
            Some(e) => self.string(e.value, &format!("name of rule #{position}")),
            None => {
                self.error(node, format!("rule #{position} has no `name`; give every rule a unique name (decisions record it)"));
                None
            }
        };
        let label = match &name {
            Some(n) => format!("rule `{n}`"),
            None => format!("rule #{position}"),
        };
        let mut ok = name.is_some();
        let mut rule = Rule {
            name: name.clone().unwrap_or_default(),
            users: Vec::new(),
            groups: Vec::new(),
            any_principal: true,
            servers: None,
            methods: None,
            tools: None,
            arguments: Vec::new(),
            effect: Effect::Allow,
            masking_profile: None,
            specificity: 0,
            request: None,
        };
        let mut effect_node = None;
        let mut effect_name = None;
        let mut message = None;
        let mut approval_node = None;
        for e in &entries {
            let before = self.errors.len();
            match e.key {
                "name" => {}
                "description" => {
                    self.string(e.value, &format!("description of {label}"));
                }
                "principals" => self.principals(e.value, &label, &mut rule),
                "servers" => rule.servers = self.patterns(e.value, &format!("servers of {label}")),
                "methods" => rule.methods = self.methods(e.value, &label),
                "tools" => rule.tools = self.patterns(e.value, &format!("tools of {label}")),
                "arguments" => rule.arguments = self.arguments(e.value, &label),
                "effect" => {
                    effect_node = Some(e.value);
                    effect_name = self.string(e.value, &format!("effect of {label}"));
                }
                "message" => {
                    message = Some((
                        self.string(e.value, &format!("message of {label}")),
                        e.key_node,
                    ))
                }
                "approval" => approval_node = Some((e.value, e.key_node)),
                "masking_profile" => {
                    rule.masking_profile =
                        self.string(e.value, &format!("masking_profile of {label}"))
                }
                _ => unreachable!("mapping() only returns allowed keys"),
            }
            ok &= self.errors.len() == before;
        }
        let Some(effect_node) = effect_node else {
            self.error(
                node,
                format!(
                    "{label} has no `effect`; write `effect: allow`, `deny` or `require_approval`"
                ),
            );
            return None;
        };
        let effect_name = effect_name?;
        if effect_name == "deny" && rule.request.is_some() {
            self.error(effect_node, format!("{label}: a rule that offers a role on request (`principals.request`) grants access; it cannot have `effect: deny`"));
            return None;
        }
        rule.effect = match effect_name.as_str() {
            "allow" | "require_approval" if message.is_some() => {
                let (_, key) = message.expect("checked");
                self.error(key, format!("{label}: `message` is shown only for `effect: deny`; remove it or change the effect"));
                return None;
            }
            "allow" | "deny" if approval_node.is_some() => {
                let (_, key) = approval_node.expect("checked");
                self.error(key, format!("{label}: `approval` applies only to `effect: require_approval`; remove it or change the effect"));
                return None;
            }
            "allow" => Effect::Allow,
            "deny" => Effect::Deny {
                message: match message {
                    Some((Some(m), _)) => m,
                    Some((None, _)) => return None,
                    None => format!("denied by policy rule `{}`", rule.name),
                },
            },
            "require_approval" => match approval_node {
                Some((value, _)) => self.approval(value, &label)?,
                None => {
                    self.error(effect_node, format!("{label}: `effect: require_approval` needs an `approval:` block with `approvers` (groups)"));
                    return None;
                }
            },
            other => {
                let hint = suggest(other, &["allow", "deny", "require_approval"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.error(effect_node, format!("unknown effect `{other}` in {label}{hint}; use `allow`, `deny` or `require_approval`"));
                return None;
            }
        };
        if !ok {
            return None;
        }
        rule.specificity = specificity(&rule);
        let name_node = name_entry.expect("name checked above").value;
        Some((rule, name_node))
    }

    fn principals(&mut self, node: &Node<'_>, label: &str, rule: &mut Rule) {
        let what = format!("principals of {label}");
        let Some(entries) = self.mapping(node, &what, PRINCIPAL_KEYS) else {
            return;
        };
        if entries.is_empty() {
            self.error(node, format!("{what} lists nobody; list `users` or `groups`, or remove `principals` to match everyone"));
            return;
        }
        // `request` alone: anyone may ask; `users`/`groups` narrow who.
        rule.any_principal = entries.iter().all(|e| e.key == "request");
        for e in entries {
            if e.key == "request" {
                rule.request = self.request(e.value, label);
                continue;
            }
            let list = self.string_list(e.value, &format!("{} of {label}", e.key));
            let names = list.into_iter().flatten().map(|(s, _)| s).collect();
            match e.key {
                "users" => rule.users = names,
                "groups" => rule.groups = names,
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
    }

    /// `principals.request`: `{role, max, approval: {approvers, quorum, ttl}}`.
    fn request(&mut self, node: &Node<'_>, label: &str) -> Option<RequestOffer> {
        let what = format!("request of {label}");
        let entries = self.mapping(node, &what, REQUEST_KEYS)?;
        let before = self.errors.len();
        let (mut role, mut max, mut approval) = (None, None, None);
        for e in &entries {
            match e.key {
                "role" => {
                    role = self.string(e.value, &format!("role of {what}"));
                    if let Some(r) = &role
                        && !r
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    {
                        self.error(e.value, format!("{label}: role `{r}` may hold only letters, digits, `-`, `_` and `.` (people type it in `gatehouse access request --role`)"));
                    }
                }
                "max" => {
                    if let Some(text) = self.string(e.value, &format!("max of {what}")) {
                        match parse_ttl(&text) {
                            Ok(d) => max = Some(d),
                            Err(msg) => self.error(
                                e.value,
                                format!("{label}: max {}", msg.trim_start_matches("ttl ")),
                            ),
                        }
                    }
                }
                "approval" => approval = self.request_approval(e.value, label),
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        for (key, example) in [
            ("role", "role: dba-write"),
            ("max", "max: 4h"),
            (
                "approval",
                "approval: {approvers: [dba], quorum: 1, ttl: 30m}",
            ),
        ] {
            if !entries.iter().any(|e| e.key == key) {
                self.error(node, format!("{what} has no `{key}`; write `{example}`"));
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let (approvers, quorum, ttl) = approval?;
        Some(RequestOffer {
            role: role?,
            max: max?,
            approvers,
            quorum,
            ttl,
        })
    }

    /// The approval of a request: who decides, how many, how long a request waits.
    fn request_approval(
        &mut self,
        node: &Node<'_>,
        label: &str,
    ) -> Option<(Vec<String>, u32, Duration)> {
        let what = format!("approval of the request of {label}");
        let entries = self.mapping(node, &what, REQUEST_APPROVAL_KEYS)?;
        let before = self.errors.len();
        let (mut approvers, mut quorum, mut ttl) = (None, 1, DEFAULT_TTL);
        for e in &entries {
            match e.key {
                "approvers" => {
                    approvers = self
                        .string_list(e.value, &format!("approvers of {what}"))
                        .map(|l| l.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
                }
                "quorum" => match &e.value.data {
                    YamlData::Value(Scalar::Integer(n))
                        if (1..=i64::from(MAX_QUORUM)).contains(n) =>
                    {
                        quorum = u32::try_from(*n).expect("range checked")
                    }
                    _ => self.error(
                        e.value,
                        format!("{label}: quorum must be a whole number from 1 to {MAX_QUORUM}"),
                    ),
                },
                "ttl" => {
                    if let Some(text) = self.string(e.value, &format!("ttl of {what}")) {
                        match parse_ttl(&text) {
                            Ok(d) => ttl = d,
                            Err(msg) => self.error(e.value, format!("{label}: {msg}")),
                        }
                    }
                }
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        if !entries.iter().any(|e| e.key == "approvers") {
            self.error(node, format!("{what} has no `approvers`; list the groups (or people) who may grant it, e.g. `approvers: [dba]`"));
        }
        if self.errors.len() != before {
            return None;
        }
        Some((approvers?, quorum, ttl))
    }

    fn methods(&mut self, node: &Node<'_>, label: &str) -> Option<Vec<String>> {
        let what = format!("methods of {label}");
        let items = self.string_list(node, &what)?;
        let mut out = Vec::with_capacity(items.len());
        for (m, item) in items {
            let well_formed = (m.contains('/') || m == "initialize" || m == "ping")
                && !m.starts_with('/')
                && !m.ends_with('/')
                && m.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_');
            if well_formed {
                out.push(m);
            } else {
                self.error(item, format!("{what}: `{m}` is not an MCP method; write methods such as `tools/call`, `resources/read` or `prompts/get`"));
            }
        }
        Some(out)
    }

    fn arguments(&mut self, node: &Node<'_>, label: &str) -> Vec<ArgCondition> {
        let what = format!("arguments of {label}");
        let YamlData::Sequence(items) = &node.data else {
            self.error(
                node,
                format!(
                    "{what} must be a list of `{{pointer, matches}}` conditions, not {}",
                    describe(node)
                ),
            );
            return Vec::new();
        };
        if items.is_empty() {
            self.error(
                node,
                format!("{what} is an empty list; add a condition or remove the key"),
            );
        }
        let mut out = Vec::new();
        for item in items {
            let Some(entries) = self.mapping(
                item,
                &format!("an argument condition of {label}"),
                ARGUMENT_KEYS,
            ) else {
                continue;
            };
            let mut pointer = None;
            let mut matchers = Vec::new();
            for e in &entries {
                match e.key {
                    "pointer" => {
                        let Some(p) =
                            self.string_allow_empty(e.value, &format!("pointer in {what}"))
                        else {
                            continue;
                        };
                        match check_pointer(&p) {
                            Ok(()) => pointer = Some(p),
                            Err(msg) => self.error(e.value, format!("{label}: {msg}")),
                        }
                    }
                    "matches" => {
                        let m = self
                            .string(e.value, &format!("matches in {what}"))
                            .and_then(|p| self.regex(e.value, &p, label))
                            .map(Matcher::Regex);
                        matchers.push((e.key_node, m));
                    }
                    "sql" => {
                        let m = self.sql_requirement(e.value, label).map(Matcher::Sql);
                        matchers.push((e.key_node, m));
                    }
                    "command" => {
                        let m = self
                            .command_requirement(e.value, label)
                            .map(Matcher::Command);
                        matchers.push((e.key_node, m));
                    }
                    _ => unreachable!("mapping() only returns allowed keys"),
                }
            }
            if !entries.iter().any(|e| e.key == "pointer") {
                self.error(item, format!("an argument condition of {label} has no `pointer`; write `{{pointer: \"/sql\", matches: \"(?i)\\bdrop\\b\"}}`"));
            }
            match matchers.as_mut_slice() {
                [] => self.error(item, format!("an argument condition of {label} says nothing about the value; add `matches: REGEX`, `sql: {{dialect: postgres, read_only: true}}` or `command: {{programs: [git]}}`")),
                [(_, matcher)] => {
                    if let (Some(pointer), Some(matcher)) = (pointer, matcher.take()) {
                        out.push(ArgCondition { pointer, matcher });
                    }
                }
                [_, (second, _), ..] => self.error(second, format!("an argument condition of {label} has more than one of `matches`, `sql` and `command`; write each as its own condition (all conditions must hold)")),
            }
        }
        out
    }

    fn regex(&mut self, node: &Node<'_>, pattern: &str, label: &str) -> Option<regex::Regex> {
        match regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(r) => Some(r),
            Err(err) => {
                self.error(node, format!("{label}: pattern `{pattern}` does not compile: {}; fix the regular expression (Rust regex syntax, no look-around)", regex_reason(&err)));
                None
            }
        }
    }

    /// Text that may be empty (a JSON pointer `""` means the whole arguments object).
    fn string_allow_empty(&mut self, node: &Node<'_>, what: &str) -> Option<String> {
        match &node.data {
            YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
            _ => {
                self.error(node, format!("{what} must be text, not {}", describe(node)));
                None
            }
        }
    }

    fn approval(&mut self, node: &Node<'_>, label: &str) -> Option<Effect> {
        let what = format!("approval of {label}");
        let entries = self.mapping(node, &what, APPROVAL_KEYS)?;
        let before = self.errors.len();
        let mut approvers = None;
        let mut quorum = 1;
        let mut ttl = DEFAULT_TTL;
        let mut mode = ApprovalMode::Hold;
        for e in &entries {
            match e.key {
                "approvers" => {
                    approvers = self
                        .string_list(e.value, &format!("approvers of {label}"))
                        .map(|l| l.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
                }
                "quorum" => match &e.value.data {
                    YamlData::Value(Scalar::Integer(n)) if (1..=i64::from(MAX_QUORUM)).contains(n) => {
                        quorum = u32::try_from(*n).expect("range checked")
                    }
                    YamlData::Value(Scalar::Integer(n)) => self.error(
                        e.value,
                        format!("{label}: quorum {n} is out of range; use a number of approvals from 1 to {MAX_QUORUM}"),
                    ),
                    _ => self.error(e.value, format!("{label}: quorum must be a whole number, not {}", describe(e.value))),
                },
                "ttl" => {
                    if let Some(text) = self.string(e.value, &format!("ttl of {label}")) {
                        match parse_ttl(&text) {
                            Ok(d) => ttl = d,
                            Err(msg) => self.error(e.value, format!("{label}: {msg}")),
                        }
                    }
                }
                "mode" => match self.string(e.value, &format!("mode of {label}")).as_deref() {
                    Some("hold") => mode = ApprovalMode::Hold,
                    Some("retry") => mode = ApprovalMode::Retry,
                    Some(other) => self.error(
                        e.value,
                        format!("{label}: unknown approval mode `{other}`; use `hold` (keep the call open) or `retry` (answer at once, pass the identical call once approved)"),
                    ),
                    None => {}
                },
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        if !entries.iter().any(|e| e.key == "approvers") {
            self.error(node, format!("{what} has no `approvers`; list the groups whose members may approve, e.g. `approvers: [dba]`"));
        }
        if self.errors.len() != before {
            return None;
        }
        Some(Effect::RequireApproval {
            approvers: approvers?,
            quorum,
            ttl,
            mode,
        })
    }
}

fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "pointer `{p}` must be a JSON pointer starting with `/` (e.g. `/sql`), or `\"\"` for all arguments"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "pointer `{p}` has a `~` not followed by 0 or 1; write `~0` for `~` and `~1` for `/`"
            ));
        }
    }
    Ok(())
}

/// The one-line reason from a regex error (its Display spans several lines with a caret).
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map_or_else(
            || text.lines().last().unwrap_or_default().trim().to_owned(),
            str::to_owned,
        )
}

/// Packs the specificity tuple (tools, arguments, principals, servers, methods) into one
/// number that compares the same way.
fn specificity(rule: &Rule) -> u32 {
    fn level(patterns: &Option<Vec<NamePattern>>) -> u32 {
        match patterns {
            None => 0,
            Some(ps) if ps.iter().all(|p| p.exact().is_some()) => 2,
            Some(_) => 1,
        }
    }
    let principals = match (
        rule.any_principal,
        rule.users.is_empty(),
        rule.groups.is_empty(),
    ) {
        (true, _, _) => 0,
        (false, false, true) => 2,
        _ => 1,
    };
    let arguments = u32::try_from(rule.arguments.len().min(15)).expect("capped");
    (level(&rule.tools) << 12)
        | (arguments << 8)
        | (principals << 4)
        | (level(&rule.servers) << 2)
        | u32::from(rule.methods.is_some())
}
